"""The friend's offer through the other fulfilment methods: a code from the merchant's pool (one
per friend, however often asked), a Stripe promotion code created once on the merchant's
account through the gateway (against the HTTP fake) and deactivated on Stripe when the offer
expires unused; and the webhook events of its life (`reward.redeemed`, `reward.expired`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import Merchant
from programs.models import Program, ProgramVersion
from programs.pools import code_pool_create
from programs.specs import parse_config
from referral_saas import tenancy
from rewards import pipeline
from rewards.friend_offer import friend_offer_issue
from rewards.models import Reward, RewardStatus
from tests.conftest import World
from tests.factories import make_program
from tests.stripe_fake import FakeStripe, serve_fake_stripe
from tracking.models import Advocate
from tracking.services import advocate_enroll, conversion_record, referral_record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(world: World) -> Iterator[Merchant]:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_account_id="acct_merchant1")
    with tenancy.merchant_context(world.acme):
        yield world.acme


def program_with_friend(merchant: Merchant, friend: dict[str, Any], slug: str) -> Program:
    config = parse_config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "percent_discount", "percent": 15, **friend},
        },
        program_type="two_sided",
        currency="EUR",
        stripe_connected=True,
    ).to_dict()
    return make_program(merchant, slug=slug, config=config)


def take_offer(advocate: Advocate, email: str) -> Reward | None:
    referral = referral_record(code=advocate.code, email=email).referral
    return friend_offer_issue(referral=referral, email=email).reward


def test_a_pool_code_is_claimed_once_per_friend(acme: Merchant) -> None:
    program = program_with_friend(acme, {"fulfilment": "generated_code"}, "pool")
    pool = code_pool_create(actor=None, program=program, name="Friends")
    from programs.models import PoolCode as Code

    Code.objects.bulk_create([Code(pool=pool, code=c) for c in ("FRIEND-A1", "FRIEND-B2")])
    version = ProgramVersion.objects.get(program=program)
    config = dict(version.config)
    config["friend_reward"] = {
        **config["friend_reward"],
        "fulfilment": "code_pool",
        "code_pool": pool.public_id,
    }
    ProgramVersion.objects.filter(pk=version.pk).update(config=config)
    advocate = advocate_enroll(program=program, email="maria@example.com").advocate

    first = take_offer(advocate, "luca@example.com")
    again = take_offer(advocate, "LUCA@example.com")
    other = take_offer(advocate, "sara@example.com")

    assert first is not None
    assert again is not None
    assert other is not None
    assert first.pk == again.pk
    assert first.status == RewardStatus.ISSUED
    assert {first.fulfilment_code, other.fulfilment_code} == {"FRIEND-A1", "FRIEND-B2"}
    assert Code.objects.filter(pool=pool, assigned_to="").count() == 0


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with (
        serve_fake_stripe() as server,
        override_settings(STRIPE_SECRET_KEY="sk_test_fake", STRIPE_API_BASE=server.url),
    ):
        yield server


def test_a_stripe_promotion_code_is_created_once_and_deactivated_when_it_expires(
    fake: FakeStripe, acme: Merchant
) -> None:
    program = program_with_friend(
        acme, {"fulfilment": "stripe_promotion_code", "expires_after_days": 14}, "stripe"
    )
    advocate = advocate_enroll(program=program, email="maria@example.com").advocate

    reward = take_offer(advocate, "luca@example.com")
    again = take_offer(advocate, "luca@example.com")

    assert reward is not None
    assert again is not None
    assert again.pk == reward.pk
    (promo,) = fake.created("promotion_code")
    assert reward.status == RewardStatus.ISSUED
    assert reward.fulfilment_code == promo["code"]
    assert reward.fulfilment_external_id == promo["id"]
    assert {c.account for c in fake.calls} == {"acct_merchant1"}
    assert reward.expires_at is not None

    assert (
        pipeline.pipeline_sweep(now=reward.expires_at + timedelta(seconds=1))["expired_offers"] == 1
    )

    reward.refresh_from_db()
    assert reward.status == RewardStatus.EXPIRED
    assert fake.objects[promo["id"]]["active"] is False
    assert [r["outcome"] for r in reward.reasons if r["rule"] == "deactivation"] == ["deactivated"]


def test_redeemed_and_expired_are_webhook_events(acme: Merchant) -> None:
    from webhooks.models import WebhookMessage
    from webhooks.services import endpoint_create

    with override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=True):
        endpoint_create(url="https://127.0.0.1:9/rs", events=["reward.redeemed", "reward.expired"])
    program = program_with_friend(acme, {"expires_after_days": 7}, "hooks")
    advocate = advocate_enroll(program=program, email="maria@example.com").advocate
    spent = take_offer(advocate, "luca@example.com")
    unspent = take_offer(advocate, "sara@example.com")
    assert spent is not None
    assert unspent is not None

    conversion_record(
        order_id="W-1",
        amount=5000,
        currency="EUR",
        customer={"email": "luca@example.com"},
        code=spent.fulfilment_code,
    )
    assert unspent.expires_at is not None
    pipeline.pipeline_sweep(now=unspent.expires_at + timedelta(seconds=1))

    sent = sorted(
        (m.event_type, m.payload["data"]["id"], m.payload["data"]["status"])
        for m in WebhookMessage.objects.all()
    )
    assert sent == sorted(
        [
            ("reward.redeemed", spent.public_id, "redeemed"),
            ("reward.expired", unspent.public_id, "expired"),
        ]
    )
