"""Shared setup of the integrations tests: the fakes served on 127.0.0.1 with the settings
pointing at them, an installed Shopify shop, a connected WooCommerce store, order payloads."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit

from django.test import Client, override_settings

from accounts.models import Merchant
from integrations import shopify_gateway
from integrations.models import Integration
from referral_saas import tenancy
from tests.store_fakes import FakeShopify, FakeWooCommerce, fake_shopify, fake_woocommerce

SHOP = "acme-coffee.myshopify.com"
API_KEY = "shopify-client-id-123"
API_SECRET = "shpss_test_secret_0123456789abcdef"
WOO_KEY = "ck_" + "a" * 40
WOO_SECRET = "cs_" + "b" * 40

# Tests never wait for Shopify's bucket to refill; they count the waits instead.
WAITS: list[float] = []


@contextmanager
def shopify_server() -> Iterator[FakeShopify]:
    original = shopify_gateway.sleep
    shopify_gateway.sleep = WAITS.append
    WAITS.clear()
    with (
        fake_shopify(
            api_key=API_KEY, api_secret=API_SECRET, version=shopify_gateway.API_VERSION, shop=SHOP
        ) as fake,
        override_settings(
            SHOPIFY_API_KEY=API_KEY,
            SHOPIFY_API_SECRET=API_SECRET,
            SHOPIFY_API_BASE_OVERRIDE=fake.url,
        ),
    ):
        try:
            yield fake
        finally:
            shopify_gateway.sleep = original


@contextmanager
def woocommerce_server() -> Iterator[FakeWooCommerce]:
    with fake_woocommerce(key=WOO_KEY, secret=WOO_SECRET) as fake:
        yield fake


def follow_authorize(url: str) -> str:
    """What the browser does at Shopify's consent screen: the fake answers with a redirect to
    our callback, signed; we return that callback URL's path and query."""
    assert url.startswith("http://127.0.0.1:")  # the fake, nothing else
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - checked above

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(request)
    except HTTPError as error:
        status, location = error.code, error.headers["Location"]
    else:
        raise AssertionError("the fake did not redirect")
    assert status == 302, status
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def install_shopify(client: Client, merchant: Merchant, shop: str = SHOP) -> Any:
    """The whole OAuth install through the dashboard; returns the callback's response."""
    response = client.post(f"/m/{merchant.slug}/integrations/shopify/install/", {"shop": shop})
    assert response.status_code == 302, response.content
    return client.get(follow_authorize(response["Location"]))


def connected(merchant: Merchant, provider: str) -> Integration:
    with tenancy.merchant_context(merchant):
        return Integration.objects.get(provider=provider, status="connected")


def shopify_order(
    order_id: int,
    *,
    email: str = "luca@example.com",
    total: str = "45.00",
    codes: tuple[str, ...] = (),
    orders_count: int = 1,
    landing_site: str = "/",
    note_attributes: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """An `orders/paid` payload, shaped like Shopify's (REST webhook format)."""
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "email": email,
        "created_at": "2026-12-01T10:00:00+01:00",
        "processed_at": "2026-12-01T10:00:00+01:00",
        "currency": "EUR",
        "total_price": total,
        "financial_status": "paid",
        "discount_codes": [
            {"code": code, "amount": "5.00", "type": "fixed_amount"} for code in codes
        ],
        "landing_site": landing_site,
        "note_attributes": note_attributes or [],
        "browser_ip": "203.0.113.7",
        "client_details": {"browser_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 Test"},
        "customer": {
            "id": 7001,
            "email": email,
            "first_name": "Luca",
            "last_name": "Bianchi",
            "orders_count": orders_count,
        },
    }


def shopify_refund(refund_id: int, order_id: int, amount: str = "45.00") -> dict[str, Any]:
    return {
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2026-12-02T10:00:00+01:00",
        "transactions": [
            {
                "id": refund_id * 10,
                "kind": "refund",
                "status": "success",
                "amount": amount,
                "currency": "EUR",
            }
        ],
        "refund_line_items": [],
    }


def woo_order(
    order_id: int,
    *,
    status: str = "processing",
    email: str = "luca@example.com",
    total: str = "45.00",
    coupons: tuple[str, ...] = (),
    refunds: list[dict[str, Any]] | None = None,
    paid: bool = True,
) -> dict[str, Any]:
    """An order as WooCommerce's `order.*` webhooks send it (REST v3 order resource)."""
    return {
        "id": order_id,
        "status": status,
        "currency": "EUR",
        "total": total,
        "customer_id": 12,
        "customer_ip_address": "203.0.113.9",
        "customer_user_agent": "Mozilla/5.0 Test",
        "date_created_gmt": "2026-12-01T09:00:00",
        "date_paid_gmt": "2026-12-01T09:01:00" if paid else None,
        "date_paid": "2026-12-01T10:01:00" if paid else None,
        "billing": {"first_name": "Luca", "last_name": "Bianchi", "email": email},
        "coupon_lines": [{"id": 1, "code": code.lower(), "discount": "5.00"} for code in coupons],
        "meta_data": [],
        "refunds": refunds or [],
    }
