"""A fake of PayPal's REST API for Payouts (v1), written from PayPal's public API reference
(Authentication: `POST /v1/oauth2/token`; Payouts: `POST /v1/payments/payouts`,
`GET /v1/payments/payouts/{payout_batch_id}`), served over real HTTP on 127.0.0.1.

What it holds to, as PayPal documents it:
- the token endpoint takes HTTP basic auth (client id, secret) and
  `grant_type=client_credentials`, and answers `{"access_token", "token_type": "Bearer",
  "expires_in", ...}`; other endpoints need `Authorization: Bearer <token>` (401 otherwise);
- `PayPal-Request-Id` makes a create idempotent: the same id answers the first response again;
- a `sender_batch_id` used before is refused (400 `USER_BUSINESS_ERROR`) with a detail on
  `SENDER_BATCH_ID` linking to the batch it made;
- a new batch answers 201 with `batch_header.payout_batch_id` and `batch_status: PENDING`;
  its items start `PENDING` until the test settles them (`settle`).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

CLIENT_ID = "AaBbCcClientId"
CLIENT_SECRET = "EeFfGgSecret"


@dataclass
class FakePayPal:
    url: str = ""
    tokens: set[str] = field(default_factory=set)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_sender_batch: dict[str, str] = field(default_factory=dict)
    responses: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    holds: dict[str, float] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self, path: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [r for r in self.requests if r[0] == "POST" and r[1] == path]

    def settle(self, sender_item_id: str, status: str, error: str = "") -> None:
        with self.lock:
            for batch in self.batches.values():
                for item in batch["items"]:
                    if item["payout_item"]["sender_item_id"] == sender_item_id:
                        item["transaction_status"] = status
                        if error:
                            item["errors"] = {"name": status, "message": error}

    def hold_next(self, path: str, seconds: float) -> None:
        self.holds[path] = seconds

    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        path = urlparse(raw_path).path
        with self.lock:
            self.requests.append((method, path, dict(headers.items()), body))
            delay = self.holds.pop(path, 0.0) if method == "POST" else 0.0
        if delay:
            time.sleep(delay)
        if method == "POST" and path == "/v1/oauth2/token":
            return self._token(headers, body)
        if not self._authorised(headers):
            return 401, {
                "error": "invalid_token",
                "error_description": "Token signature verification failed",
            }
        if method == "POST" and path == "/v1/payments/payouts":
            return self._create(headers, json.loads(body or b"{}"))
        if method == "GET" and path.startswith("/v1/payments/payouts/"):
            batch = self.batches.get(path.rsplit("/", 1)[-1])
            if batch is None:
                return 404, {
                    "name": "RESOURCE_NOT_FOUND",
                    "message": "The requested resource was not found.",
                }
            with self.lock:
                return 200, json.loads(json.dumps(batch))
        return 404, {"name": "NOT_FOUND", "message": f"No route {path}"}

    def _token(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = dict(parse_qsl(body.decode()))
        if headers.get("Authorization") != expected:
            return 401, {
                "error": "invalid_client",
                "error_description": "Client Authentication failed",
            }
        if form.get("grant_type") != "client_credentials":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "Grant Type is NULL",
            }
        token = f"A21AA{next(self.ids):08d}"
        with self.lock:
            self.tokens.add(token)
        return 200, {
            "scope": "https://uri.paypal.com/services/payouts",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": 32400,
            "nonce": "2026-12-03T12:00:00Z",
        }

    def _authorised(self, headers: Any) -> bool:
        auth = headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def _create(self, headers: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request_id = headers.get("PayPal-Request-Id", "")
        with self.lock:
            if request_id and request_id in self.responses:
                return self.responses[request_id]
            sender_batch_id = body["sender_batch_header"]["sender_batch_id"]
            if sender_batch_id in self.by_sender_batch:
                existing = self.by_sender_batch[sender_batch_id]
                return 400, {
                    "name": "USER_BUSINESS_ERROR",
                    "message": "User business error.",
                    "debug_id": "f1c4a1a0d2b3c",
                    "details": [
                        {
                            "field": "SENDER_BATCH_ID",
                            "location": "body",
                            "issue": "Batch with given sender_batch_id already exists",
                            "link": [
                                {
                                    "href": f"{self.url}/v1/payments/payouts/{existing}",
                                    "rel": "self",
                                    "method": "GET",
                                    "encType": "application/json",
                                }
                            ],
                        }
                    ],
                }
            batch_id = f"5UXD2E8A7EBQ{next(self.ids):04d}"
            items = [
                {
                    "payout_item_id": f"8AELMXH8UB2P{next(self.ids):04d}",
                    "transaction_status": "PENDING",
                    "payout_batch_id": batch_id,
                    "payout_item": {
                        "recipient_type": item["recipient_type"],
                        "amount": item["amount"],
                        "receiver": item["receiver"],
                        "sender_item_id": item["sender_item_id"],
                        "note": item.get("note", ""),
                    },
                }
                for item in body["items"]
            ]
            self.batches[batch_id] = {
                "batch_header": {
                    "payout_batch_id": batch_id,
                    "batch_status": "PENDING",
                    "sender_batch_header": body["sender_batch_header"],
                },
                "items": items,
            }
            self.by_sender_batch[sender_batch_id] = batch_id
            answer = (
                201,
                {
                    "batch_header": {
                        "payout_batch_id": batch_id,
                        "batch_status": "PENDING",
                        "sender_batch_header": body["sender_batch_header"],
                    },
                    "links": [
                        {
                            "href": f"{self.url}/v1/payments/payouts/{batch_id}",
                            "rel": "self",
                            "method": "GET",
                        }
                    ],
                },
            )
            if request_id:
                self.responses[request_id] = answer
            return answer


def _handler(fake: FakePayPal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = fake.handle(self.command, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake_paypal() -> Iterator[FakePayPal]:
    fake = FakePayPal()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
