"""The friend's offer as a real store code: a two-sided program whose friend reward is a
`shopify_discount_code` issues the friend's code in the shop before the first order (through
the same fulfilment registry as every method), the order paid with it is attributed to the
advocate and redeems it, and an unspent offer's code is deactivated in the shop on expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import Integration
from referral_saas import tenancy
from rewards.friend_offer import friend_offer_issue, friend_offers_expire_due
from rewards.models import Reward, RewardStatus
from tests.conftest import World, login
from tests.integrations_helpers import connected, install_shopify, shopify_order, shopify_server
from tests.store_fakes import FakeShopify
from tests.test_pipeline import enrol, program_with
from tracking.models import Advocate, Conversion
from tracking.services import referral_record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    with shopify_server() as fake:
        yield fake


def setup(client: Client, world: World) -> tuple[Integration, Advocate]:
    install_shopify(login(client, world.alice), world.acme)
    integration = connected(world.acme, "shopify")
    with tenancy.merchant_context(world.acme):
        program = program_with(
            world.acme,
            "two_sided",
            advocate_reward={"kind": "account_credit", "amount": 1000},
            friend_reward={
                "kind": "percent_discount",
                "percent": 10,
                "fulfilment": "shopify_discount_code",
                "expires_after_days": 14,
            },
            rules={"hold_days": 0},
        )
        advocate = enrol(program)
    return integration, advocate


def test_friend_code_is_made_in_the_shop_and_the_order_paid_with_it_redeems_it(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    integration, advocate = setup(client, world)
    with tenancy.merchant_context(world.acme):
        referral = referral_record(code=advocate.code, email="luca@example.com").referral
        outcome = friend_offer_issue(referral=referral, email="luca@example.com")
        again = friend_offer_issue(referral=referral, email="luca@example.com")
    reward = outcome.reward
    assert reward is not None
    assert reward.status == RewardStatus.ISSUED
    assert again.reward is not None
    assert again.reward.pk == reward.pk
    ((gid, discount),) = shopify.discounts.items()  # one code for the friend, asked twice
    assert reward.fulfilment_code == discount["code"]
    assert reward.fulfilment_external_id == gid
    assert discount["customerGets"]["value"] == {"percentage": 0.1}
    # The friend pays with their code in the shop.
    body, headers = shopify.webhook("orders/paid", shopify_order(3001, codes=(discount["code"],)))
    response = client.post("/hooks/shopify/", body, content_type="application/json", **headers)
    assert response.json()["outcome"] == "recorded shopify-3001"
    with tenancy.merchant_context(world.acme):
        conversion = Conversion.objects.get(order_id="shopify-3001")
        reward.refresh_from_db()
    assert conversion.referral_code == discount["code"]
    assert conversion.advocate_id == advocate.pk
    assert reward.status == RewardStatus.REDEEMED
    assert shopify.discounts[gid]["status"] == "ACTIVE"  # spent, not withdrawn
    assert integration.connected


def test_an_unspent_friend_code_is_deactivated_in_the_shop_when_it_expires(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    _, advocate = setup(client, world)
    with tenancy.merchant_context(world.acme):
        referral = referral_record(code=advocate.code, email="mia@example.com").referral
        reward = friend_offer_issue(referral=referral, email="mia@example.com").reward
    assert reward is not None
    (gid,) = shopify.discounts
    expired = friend_offers_expire_due(now=timezone.now() + timedelta(days=15))
    assert expired == 1
    with tenancy.merchant_context(world.acme):
        reward = Reward.objects.get(pk=reward.pk)
    assert reward.status == RewardStatus.EXPIRED
    assert shopify.discounts[gid]["status"] == "EXPIRED"
