"""A merchant's webhook receiver for tests: a real HTTP server on 127.0.0.1 in a thread, and an
independent Standard Webhooks verifier (hmac + base64 by hand, sharing no code with ours)."""

from __future__ import annotations

import base64
import contextlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Behaviour:
    status: int = 200
    delay_seconds: float = 0.0  # before the status line
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    body_bytes: int = 0  # > 0: stream this many bytes instead of `body` (a huge answer)
    drip_seconds: float = 0.0  # > 0: send the body one byte at a time, this far apart


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.behaviour = Behaviour()
        self.lock = threading.Lock()
        self.bytes_sent = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        Received(
                            path=self.path,
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                        )
                    )
                behaviour = receiver.behaviour
                time.sleep(behaviour.delay_seconds)
                # The client may stop reading: that is the point of some tests.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer(behaviour)

            def _answer(self, behaviour: Behaviour) -> None:
                self.send_response(behaviour.status)
                for name, value in behaviour.headers.items():
                    self.send_header(name, value)
                size = behaviour.body_bytes or len(behaviour.body)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if behaviour.drip_seconds:
                    for _ in range(size):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        receiver.bytes_sent += 1
                        time.sleep(behaviour.drip_seconds)
                elif behaviour.body_bytes:
                    chunk = b"x" * 65536
                    for _ in range(behaviour.body_bytes // len(chunk)):
                        self.wfile.write(chunk)
                        receiver.bytes_sent += len(chunk)
                else:
                    self.wfile.write(behaviour.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/referrals?shop=1"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def expected_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks scheme, written from the specification."""
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, message_id.encode() + b"." + timestamp.encode() + b"." + body, "sha256")
    return base64.b64encode(mac.digest()).decode()


def verifies(secret: str, request: Received) -> bool:
    """What a receiver does: recompute, then accept if any `v1` signature matches."""
    headers = request.headers
    wanted = expected_signature(
        secret, headers["webhook-id"], headers["webhook-timestamp"], request.body
    )
    offered = [
        part.split(",", 1)[1]
        for part in headers["webhook-signature"].split(" ")
        if part.startswith("v1,")
    ]
    return any(hmac.compare_digest(wanted, candidate) for candidate in offered)
