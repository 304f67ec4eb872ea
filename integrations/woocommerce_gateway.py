"""The one module that talks to WooCommerce: the REST API v3 (`/wp-json/wc/v3/`) of the
merchant's store with its key pair (HTTP Basic over https, as WooCommerce documents; plain http
only where private targets are allowed, for local tests), and the webhook signature.

The store URL is the merchant's to choose: `validate_store_url` runs the SSRF guard of outbound
webhooks on it when it is saved, and `integrations.http` checks the address again on every call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode, urlsplit

from integrations import http
from webhooks.services import UnsafeTarget, validate_target_url

API_PREFIX = "/wp-json/wc/v3"


class WooCommerceError(Exception):
    def __init__(self, message: str, *, retriable: bool = True, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.retriable = retriable
        self.status = status


def validate_store_url(value: Any) -> str:
    """The store's base URL (scheme and host, optional path for a WordPress in a folder), or
    ValueError with the reason (including the SSRF refusals)."""
    try:
        url = validate_target_url(value)
    except UnsafeTarget as error:
        raise ValueError(str(error)) from None
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError("Enter the store's address only, without ? or #.")
    return url.rstrip("/")


def signature(body: bytes, secret: str) -> str:
    """`X-WC-Webhook-Signature`: base64 HMAC-SHA256 of the raw body with the webhook secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(body: bytes, given: str, secret: str) -> bool:
    if not given or not secret:
        return False
    return hmac.compare_digest(signature(body, secret).encode(), given.strip().encode())


def call(
    *,
    store: str,
    key: str,
    secret: str,
    method: str,
    path: str,
    payload: Any = None,
    query: dict[str, Any] | None = None,
    allow: tuple[int, ...] = (),
) -> Any:
    """One REST call; returns the decoded JSON. Statuses in `allow` come back as
    `{"_status": n}` instead of raising (a 404 on a delete that already happened)."""
    credentials = base64.b64encode(f"{key}:{secret}".encode()).decode()
    url = f"{store}{API_PREFIX}{path}" + (f"?{urlencode(query)}" if query else "")
    try:
        response = http.request(
            method, url, payload=payload, headers={"Authorization": f"Basic {credentials}"}
        )
    except http.TransportError as error:
        raise WooCommerceError(error.message, retriable=error.retriable) from None
    if response.status in allow:
        return {"_status": response.status}
    data = response.json()
    if response.status in (401, 403):
        raise WooCommerceError(
            "The store refused the API key (check it exists and has Read/Write permission).",
            retriable=False,
            status=response.status,
        )
    if response.status == 429 or response.status >= 500:
        raise WooCommerceError(
            f"The store answered HTTP {response.status}.", status=response.status
        )
    if not 200 <= response.status < 300:
        message = data.get("message") if isinstance(data, dict) else None
        raise WooCommerceError(
            f"The store refused the call (HTTP {response.status}): {message or 'no reason'}"[:400],
            retriable=False,
            status=response.status,
        )
    if data is None:
        raise WooCommerceError("The store's answer is not JSON: is this a WooCommerce site?")
    return data
