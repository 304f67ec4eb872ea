"""Query counts of the inbound store hooks, pinned: a redelivery must stay cheap (Shopify and
WooCommerce retry eagerly), and a refused signature must not touch the database at all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import World, login
from tests.integrations_helpers import install_shopify, shopify_order, shopify_server
from tests.store_fakes import FakeShopify

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    with shopify_server() as fake:
        yield fake


def test_a_redelivery_costs_three_statements_and_a_bad_signature_none(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    install_shopify(login(client, world.alice), world.acme)
    hook = Client()
    body, headers = shopify.webhook("orders/paid", shopify_order(1), webhook_id="once")
    assert (
        hook.post("/hooks/shopify/", body, content_type="application/json", **headers).json()[
            "duplicate"
        ]
        is False
    )
    calls = len(shopify.calls)
    with CaptureQueriesContext(connection) as duplicate:
        response = hook.post("/hooks/shopify/", body, content_type="application/json", **headers)
    assert response.json()["duplicate"] is True
    # The integration (with its merchant), the refused INSERT of the delivery (in a savepoint),
    # the delivery recorded first. Nothing else: no conversion lookup, no call to the shop.
    statements = [q["sql"].split()[0] for q in duplicate.captured_queries]
    assert statements == [
        "SELECT",
        "BEGIN",
        "SAVEPOINT",
        "INSERT",
        "ROLLBACK",
        "RELEASE",
        "SELECT",
        "COMMIT",
    ]
    assert len(shopify.calls) == calls
    headers["HTTP_X_SHOPIFY_HMAC_SHA256"] = "AAAA"
    with CaptureQueriesContext(connection) as refused:
        response = hook.post("/hooks/shopify/", body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert refused.captured_queries == []
