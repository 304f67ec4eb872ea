"""The Stripe fake (tests/stripe_fake.py) plus what payouts use, from Stripe's API reference:
Connect OAuth (`POST /oauth/token` with `grant_type=authorization_code` answers
`stripe_user_id`; `POST /oauth/deauthorize`), Express accounts (`POST /v1/accounts`,
`GET /v1/accounts/{id}`) and account links (`POST /v1/account_links` → a one-time `url`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any

from tests.stripe_fake import FakeStripe, _handler

OAUTH_CODE = "ac_fake_code_123"


class FakeStripeConnect(FakeStripe):
    payouts_enabled: bool = True
    deauthorized: list[str]

    def _answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        bare = path.split("?")[0]
        if bare == "/oauth/token":
            if form.get("grant_type") != "authorization_code" or form.get("code") != OAUTH_CODE:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Authorization code does not exist",
                }
            return 200, {
                "access_token": "sk_test_connected",
                "livemode": False,
                "scope": "read_write",
                "stripe_user_id": "acct_1MerchantConnect",
                "token_type": "bearer",
            }
        if bare == "/oauth/deauthorize":
            self.deauthorized.append(form.get("stripe_user_id", ""))
            return 200, {"stripe_user_id": form.get("stripe_user_id", "")}
        parts = bare.strip("/").split("/")[1:]
        if parts == ["accounts"] and method == "POST":
            return 200, self._new(
                "acct",
                "account",
                type=form.get("type"),
                email=form.get("email"),
                payouts_enabled=False,
                details_submitted=False,
            )
        if len(parts) == 2 and parts[0] == "accounts" and method == "GET":
            account = self.objects.get(parts[1])
            if account is None:
                return 404, {
                    "error": {"type": "invalid_request_error", "message": "No such account"}
                }
            return 200, {
                **account,
                "payouts_enabled": self.payouts_enabled,
                "details_submitted": True,
            }
        if parts == ["account_links"]:
            return 200, {
                "object": "account_link",
                "url": f"https://connect.stripe.com/setup/e/{form.get('account')}/fake",
                "expires_at": 1893456000,
                "refresh_url": form.get("refresh_url"),
                "return_url": form.get("return_url"),
            }
        return super()._answer(method, path, form)


@contextmanager
def serve_fake_stripe_connect() -> Iterator[FakeStripeConnect]:
    fake = FakeStripeConnect()
    fake.deauthorized = []
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
