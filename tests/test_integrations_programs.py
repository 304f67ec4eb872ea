"""A program may name a store fulfilment method only once that store is connected (the parser
asks integrations through the `referral_saas.stores` port): a clear 400 naming the field before,
201 after, and the other store's method still refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.services import IssuedKey
from integrations.models import Integration
from programs.models import Program
from referral_saas import tenancy
from tests.conftest import World
from tests.test_api_programs import PROGRAMS, call, two_sided

pytestmark = pytest.mark.django_db


def shopify_friend(**changes: Any) -> dict[str, Any]:
    reward = {"kind": "percent_discount", "percent": 10, "fulfilment": "shopify_discount_code"}
    return two_sided(friend_reward={**reward, **changes})


def test_store_methods_need_their_store_connected(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    key = acme_secret.plaintext
    response = call(client, "post", PROGRAMS, key, shopify_friend())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "friend_reward.fulfilment"
    assert "Connect your Shopify shop on the Integrations page" in error["message"]
    with tenancy.merchant_context(world.acme):
        assert not Program.objects.exists()
        Integration.objects.create(provider="shopify", shop="acme.myshopify.com")
    response = call(client, "post", PROGRAMS, key, shopify_friend())
    assert response.status_code == 201, response.content
    assert response.json()["friend_reward"]["fulfilment"] == "shopify_discount_code"
    response = call(
        client,
        "post",
        PROGRAMS,
        key,
        two_sided(
            friend_reward={
                "kind": "percent_discount",
                "percent": 10,
                "fulfilment": "woocommerce_coupon",
            }
        ),
    )
    assert response.status_code == 400
    assert "Connect your WooCommerce store" in response.json()["error"]["message"]


def test_another_merchants_store_does_not_count(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    with tenancy.merchant_context(world.globex):
        Integration.objects.create(provider="shopify", shop="globex.myshopify.com")
    response = call(client, "post", PROGRAMS, acme_secret.plaintext, shopify_friend())
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "friend_reward.fulfilment"
