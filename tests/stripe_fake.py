"""A fake of the Stripe endpoints reward fulfilment uses (localstripe lacks promotion codes and
transfers), served over real HTTP so that the gateway's real stripe-python client, in this or
another process (a Celery worker), talks to it through `STRIPE_API_BASE`.

It honours `Idempotency-Key` like Stripe: a repeated key returns the first response, without a
second object. Every request is recorded (path, key, account, form) for assertions, and
`hold_next` can make the next request to a path wait, so a test can kill a worker while it waits
for Stripe's answer.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Call:
    method: str
    path: str
    idempotency_key: str
    account: str
    form: dict[str, str]


@dataclass
class FakeStripe:
    calls: list[Call] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    responses: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    holds: dict[str, float] = field(default_factory=dict)
    fail_next: dict[str, int] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    url: str = ""

    def hold_next(self, path_prefix: str, seconds: float) -> None:
        self.holds[path_prefix] = seconds

    def created(self, object_type: str) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o["object"] == object_type]

    def keys(self, path_prefix: str) -> set[str]:
        return {c.idempotency_key for c in self.calls if c.path.startswith(path_prefix)}

    def handle(self, method: str, path: str, headers: Any, body: str) -> tuple[int, dict[str, Any]]:
        form = dict(parse_qsl(body, keep_blank_values=True))
        key = headers.get("Idempotency-Key", "")
        call = Call(method, path, key, headers.get("Stripe-Account", ""), form)
        with self.lock:
            self.calls.append(call)
            if key and key in self.in_flight:  # like Stripe: a concurrent retry is refused
                return 409, {
                    "error": {"type": "idempotency_error", "message": "Key in use by a request"}
                }
            if key:
                self.in_flight.add(key)
            hold = next((p for p in self.holds if path.startswith(p)), None)
            delay = self.holds.pop(hold) if hold else 0.0
            failing = next((p for p in self.fail_next if path.startswith(p)), None)
            if failing:
                self.fail_next[failing] -= 1
                if self.fail_next[failing] <= 0:
                    del self.fail_next[failing]
        try:
            if delay:
                time.sleep(delay)
            if failing:
                return 500, {"error": {"type": "api_error", "message": "Fake outage"}}
            with self.lock:
                if key and key in self.responses:
                    return self.responses[key]
                answer = self._answer(method, path, form)
                if key:
                    self.responses[key] = answer
                return answer
        finally:
            with self.lock:
                self.in_flight.discard(key)

    def _new(self, prefix: str, object_type: str, **fields: Any) -> dict[str, Any]:
        obj = {"id": f"{prefix}_{next(self.ids):06d}", "object": object_type, **fields}
        self.objects[obj["id"]] = obj
        return obj

    def _answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if parts == ["coupons"]:
            return 200, self._new("coupon", "coupon", **form)
        if parts == ["promotion_codes"]:
            coupon = form.get("promotion[coupon]", "")
            if coupon not in self.objects:
                return 400, {"error": {"type": "invalid_request_error", "message": "No coupon"}}
            return 200, self._new(
                "promo", "promotion_code", code=form.get("code", ""), active=True, coupon=coupon
            )
        if len(parts) == 2 and parts[0] == "promotion_codes":
            promo = self.objects.get(parts[1])
            if promo is None:
                return 404, {"error": {"type": "invalid_request_error", "message": "No such"}}
            promo["active"] = form.get("active") != "false"
            return 200, promo
        if len(parts) == 3 and parts[0] == "customers" and parts[2] == "balance_transactions":
            if not parts[1].startswith("cus_"):
                return 404, {"error": {"type": "invalid_request_error", "message": "No such"}}
            return 200, self._new(
                "cbtxn", "customer_balance_transaction", customer=parts[1], **form
            )
        if parts == ["transfers"]:
            return 200, self._new("tr", "transfer", **form)
        if len(parts) == 3 and parts[0] == "transfers" and parts[2] == "reversals":
            return 200, self._new("trr", "transfer_reversal", transfer=parts[1])
        return 404, {"error": {"type": "invalid_request_error", "message": f"No route {path}"}}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            status, payload = fake.handle(self.command, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
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
