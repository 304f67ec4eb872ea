"""The one module that talks to Shopify: OAuth (authorize URL, callback HMAC, token exchange),
the Admin GraphQL API at one pinned version, and the access-token revocation.

- Shop domains are `<name>.myshopify.com` and nothing else (`validate_shop_domain`); the
  network address can be overridden for tests (`SHOPIFY_API_BASE_OVERRIDE`, a local fake),
  the domain rule cannot.
- GraphQL calls are cost-throttled by Shopify (a leaky bucket of query cost points): a
  `THROTTLED` answer (or an HTTP 429) is retried after the time the bucket needs to refill
  (`throttleStatus`), at most `THROTTLE_RETRIES` times, then reported as retriable.
- Every error comes out as `ShopifyError` with a message fit for the merchant and whether a
  retry could help; the access token never appears in one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from integrations import http

API_VERSION = "2024-10"  # pinned: every GraphQL call and webhook subscription uses it
SCOPES = "read_orders,read_customers,write_discounts"
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}\.myshopify\.com$")
THROTTLE_RETRIES = 4
MAX_THROTTLE_WAIT_SECONDS = 10.0

# Tests replace this to count the waits without sleeping.
sleep: Callable[[float], None] = time.sleep


class ShopifyError(Exception):
    def __init__(self, message: str, *, retriable: bool = True, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.retriable = retriable
        self.status = status


class ShopUninstalled(ShopifyError):
    """401/403 or a revoked token: the shop removed the app. No further calls."""

    def __init__(self, message: str = "The shop has uninstalled the app.") -> None:
        super().__init__(message, retriable=False, status=401)


def api_key() -> str:
    return str(getattr(settings, "SHOPIFY_API_KEY", "") or "")


def api_secret() -> str:
    return str(getattr(settings, "SHOPIFY_API_SECRET", "") or "")


def configured() -> bool:
    return bool(api_key() and api_secret())


def validate_shop_domain(value: Any) -> str:
    """The shop's `*.myshopify.com` domain, lower-cased, or ValueError with the reason. A
    scheme or a trailing slash is tolerated (people paste URLs); anything else is refused."""
    if not isinstance(value, str):
        raise ValueError("Enter your shop's myshopify.com domain, e.g. acme.myshopify.com.")
    shop = value.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not SHOP_DOMAIN.match(shop):
        raise ValueError(
            "Enter your shop's myshopify.com domain, e.g. acme.myshopify.com (not a custom domain)."
        )
    return shop


def base_url(shop: str) -> str:
    """Where the shop's endpoints are: `https://<shop>`, or the override in tests."""
    override = str(getattr(settings, "SHOPIFY_API_BASE_OVERRIDE", "") or "").rstrip("/")
    return override or f"https://{shop}"


def consent_origin() -> str:
    """Where the install form's redirect goes (for the page's Content-Security-Policy)."""
    override = str(getattr(settings, "SHOPIFY_API_BASE_OVERRIDE", "") or "").rstrip("/")
    return override or "https://*.myshopify.com"


# --- OAuth -----------------------------------------------------------------------------------


def authorize_url(*, shop: str, state: str, redirect_uri: str) -> str:
    query = urlencode(
        {
            "client_id": api_key(),
            "scope": SCOPES,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{base_url(shop)}/admin/oauth/authorize?{query}"


def query_hmac(params: Mapping[str, str], secret: str) -> str:
    """Shopify's HMAC of an OAuth callback: hex HMAC-SHA256 of the other parameters, sorted,
    as `k=v` joined by `&` (the `hmac` and legacy `signature` parameters left out)."""
    message = "&".join(
        f"{key}={value}"
        for key, value in sorted(params.items())
        if key not in ("hmac", "signature")
    )
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_callback(params: Mapping[str, str]) -> bool:
    given = params.get("hmac", "")
    secret = api_secret()
    if not given or not secret:
        return False
    return hmac.compare_digest(query_hmac(params, secret), given)


def webhook_hmac(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_webhook(body: bytes, given: str) -> bool:
    """`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body with the app's secret,
    compared in constant time."""
    secret = api_secret()
    if not given or not secret:
        return False
    return hmac.compare_digest(webhook_hmac(body, secret).encode(), given.strip().encode())


@dataclass(frozen=True)
class Token:
    access_token: str
    scopes: str


def token_exchange(*, shop: str, code: str) -> Token:
    response = _send(
        "POST",
        f"{base_url(shop)}/admin/oauth/access_token",
        payload={"client_id": api_key(), "client_secret": api_secret(), "code": code},
    )
    data = response.json()
    if response.status != 200 or not isinstance(data, dict) or not data.get("access_token"):
        raise ShopifyError(
            f"Shopify refused the installation code (HTTP {response.status}).",
            retriable=False,
            status=response.status,
        )
    return Token(access_token=str(data["access_token"]), scopes=str(data.get("scope", "")))


def token_revoke(*, shop: str, access_token: str) -> None:
    """Revoke our access (the app is uninstalled from the shop). Already revoked is fine."""
    response = _send(
        "DELETE",
        f"{base_url(shop)}/admin/api_permissions/current.json",
        headers={"X-Shopify-Access-Token": access_token},
    )
    if response.status not in (200, 204, 401, 403, 404):
        raise ShopifyError(f"Shopify answered HTTP {response.status} to the uninstall.")


# --- Admin GraphQL ---------------------------------------------------------------------------


def _send(
    method: str, url: str, *, payload: Any = None, headers: dict[str, str] | None = None
) -> http.Response:
    try:
        return http.request(method, url, payload=payload, headers=headers)
    except http.TransportError as error:
        raise ShopifyError(error.message, retriable=error.retriable) from None


def _throttle_wait(data: Any) -> float | None:
    """Seconds until the bucket holds the query's cost, if Shopify throttled the call."""
    if not isinstance(data, dict):
        return None
    errors = data.get("errors")
    if not isinstance(errors, list) or not any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    ):
        return None
    cost = (data.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        needed = float(cost.get("requestedQueryCost") or 0) - float(
            status.get("currentlyAvailable") or 0
        )
        rate = float(status.get("restoreRate") or 50)
    except (TypeError, ValueError):
        return 1.0
    return min(max(needed / rate, 0.1), MAX_THROTTLE_WAIT_SECONDS)


def graphql(
    *, shop: str, access_token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One Admin GraphQL operation; returns `data`. Throttling is waited out (bounded)."""
    url = f"{base_url(shop)}/admin/api/{API_VERSION}/graphql.json"
    headers = {"X-Shopify-Access-Token": access_token}
    for attempt in range(THROTTLE_RETRIES + 1):
        response = _send(
            "POST", url, payload={"query": query, "variables": variables or {}}, headers=headers
        )
        data = response.json()
        if response.status in (401, 403):
            raise ShopUninstalled()
        wait = _throttle_wait(data)
        if response.status == 429 and wait is None:
            retry_after = response.header("Retry-After")
            wait = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 2.0
        if wait is not None:
            if attempt == THROTTLE_RETRIES:
                raise ShopifyError("Shopify is throttling our calls; we will try again later.")
            sleep(min(wait, MAX_THROTTLE_WAIT_SECONDS))
            continue
        if response.status >= 500:
            raise ShopifyError(f"Shopify answered HTTP {response.status}.", status=response.status)
        if response.status != 200 or not isinstance(data, dict):
            raise ShopifyError(
                f"Shopify refused the call (HTTP {response.status}).",
                retriable=False,
                status=response.status,
            )
        if data.get("errors"):
            messages = "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in data["errors"]
            )
            raise ShopifyError(f"Shopify: {messages}"[:400], retriable=False)
        return dict(data.get("data") or {})
    raise AssertionError("unreachable")  # pragma: no cover


def user_errors(payload: Any) -> str:
    errors = (payload or {}).get("userErrors") or []
    return "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
