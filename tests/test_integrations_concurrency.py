"""Concurrent deliveries of one Shopify order (Shopify retries while we are still answering, and
sends the same order under new delivery ids): one delivery record per id, one conversion, one
reward, one discount code in the shop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from integrations.models import StoreEvent
from referral_saas import tenancy
from rewards.models import Reward, RewardStatus
from tests.conftest import World, login
from tests.integrations_helpers import install_shopify, shopify_order, shopify_server
from tests.store_fakes import FakeShopify
from tests.test_pipeline import enrol, program_with
from tracking.models import Conversion

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    with shopify_server() as fake:
        yield fake


def test_concurrent_deliveries_of_one_order_make_one_conversion_and_one_code(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    install_shopify(login(client, world.alice), world.acme)
    with tenancy.merchant_context(world.acme):
        program = program_with(
            world.acme,
            "one_sided",
            advocate_reward={
                "kind": "percent_discount",
                "percent": 15,
                "fulfilment": "shopify_discount_code",
            },
            rules={"hold_days": 0},
        )
        advocate = enrol(program)
    payload = shopify_order(9001, codes=(advocate.code,))
    # Half the posts repeat one delivery id, the others carry ids of their own.
    deliveries = [
        shopify.webhook("orders/paid", payload, webhook_id="same" if i % 2 else f"own-{i}")
        for i in range(THREADS)
    ]
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []

    def post(body: bytes, headers: dict[str, Any]) -> None:
        try:
            barrier.wait()
            response = Client().post(
                "/hooks/shopify/", body, content_type="application/json", **headers
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=delivery) for delivery in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * THREADS
    with tenancy.merchant_context(world.acme):
        assert Conversion.objects.filter(order_id="shopify-9001").count() == 1
        assert StoreEvent.objects.count() == THREADS // 2 + 1
        (reward,) = Reward.objects.all()
    assert reward.status == RewardStatus.ISSUED
    assert len(shopify.discounts) == 1
