"""Stripe fulfilment methods through the real gateway and stripe-python, against the HTTP fake
(tests/stripe_fake.py): promotion codes, customer balance credits, transfers, their reversals,
idempotency keys from our rows, retries on Stripe outages, permanent errors failing at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import Merchant
from referral_saas import tenancy
from rewards import fulfilment
from rewards.models import Reward, RewardStatus
from tests.conftest import World
from tests.stripe_fake import FakeStripe, serve_fake_stripe
from tests.test_pipeline import enrol, order, program_with, rewards_of
from tracking.models import Advocate
from tracking.services import refund_record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with (
        serve_fake_stripe() as server,
        override_settings(STRIPE_SECRET_KEY="sk_test_fake", STRIPE_API_BASE=server.url),
    ):
        yield server


@pytest.fixture
def acme(world: World) -> Iterator[Merchant]:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_account_id="acct_merchant1")
    with tenancy.merchant_context(world.acme):
        yield world.acme


def stripe_program(merchant: Any, advocate_reward: dict[str, Any], **extra: Any) -> Any:
    return program_with(
        merchant,
        "one_sided",
        advocate_reward=advocate_reward,
        rules={"hold_days": 0},
        **extra,
    )


def test_promotion_code_is_created_once_on_the_merchants_account(
    fake: FakeStripe, acme: Merchant
) -> None:
    program = stripe_program(
        acme, {"kind": "percent_discount", "percent": 15, "fulfilment": "stripe_promotion_code"}
    )
    advocate = enrol(program)
    (reward,) = rewards_of(order(advocate, "s-1"))
    assert reward.status == RewardStatus.ISSUED
    (promo,) = fake.created("promotion_code")
    (coupon,) = fake.created("coupon")
    assert reward.fulfilment_external_id == promo["id"]
    assert reward.fulfilment_code == promo["code"] == fulfilment.reward_code(reward)
    assert coupon["percent_off"] == "15"
    assert coupon["max_redemptions"] == "1"
    assert {c.account for c in fake.calls} == {"acct_merchant1"}
    assert fake.keys("/v1/promotion_codes") == {f"{reward.public_id}:issue:promo"}
    # A refund claws it back: the promotion code is deactivated on Stripe.
    refund_record(conversion=reward.conversion, amount=None)
    reward.refresh_from_db()
    assert reward.status == RewardStatus.CLAWED_BACK
    assert fake.objects[promo["id"]]["active"] is False
    assert reward.reasons[-1]["outcome"] == "reversed"


def test_customer_balance_credit_and_its_reversal(fake: FakeStripe, acme: Merchant) -> None:
    program = stripe_program(
        acme,
        {"kind": "account_credit", "amount": 1500, "fulfilment": "stripe_customer_balance"},
    )
    advocate = enrol(program)
    Advocate.objects.filter(pk=advocate.pk).update(customer_id="cus_maria")
    (reward,) = rewards_of(order(advocate, "s-2"))
    assert reward.status == RewardStatus.ISSUED
    (credit,) = fake.created("customer_balance_transaction")
    assert (credit["customer"], credit["amount"], credit["currency"]) == (
        "cus_maria",
        "-1500",
        "eur",
    )
    refund_record(conversion=reward.conversion, amount=None)
    debits = [t for t in fake.created("customer_balance_transaction") if t["amount"] == "1500"]
    assert len(debits) == 1


def test_unknown_stripe_customer_fails_at_once_with_a_clear_error(
    fake: FakeStripe, acme: Merchant
) -> None:
    program = stripe_program(
        acme,
        {"kind": "account_credit", "amount": 1500, "fulfilment": "stripe_customer_balance"},
    )
    advocate = enrol(program)  # no cus_… customer id
    (reward,) = rewards_of(order(advocate, "s-3"))
    assert reward.status == RewardStatus.FAILED
    assert reward.attempts == 1
    assert "customer id" in reward.last_error
    assert fake.calls == []


def test_transfer_to_the_advocates_account_and_reversal(fake: FakeStripe, acme: Merchant) -> None:
    program = stripe_program(
        acme, {"kind": "cash", "amount": 2000, "fulfilment": "stripe_transfer"}
    )
    advocate = enrol(program)
    Advocate.objects.filter(pk=advocate.pk).update(stripe_account_id="acct_maria")
    (reward,) = rewards_of(order(advocate, "s-4"))
    assert reward.status == RewardStatus.ISSUED
    (transfer,) = fake.created("transfer")
    assert (transfer["destination"], transfer["amount"]) == ("acct_maria", "2000")
    refund_record(conversion=reward.conversion, amount=None)
    (reversal,) = fake.created("transfer_reversal")
    assert reversal["transfer"] == transfer["id"]


def test_stripe_outage_is_retried_with_the_same_idempotency_key(
    fake: FakeStripe, acme: Merchant
) -> None:
    program = stripe_program(
        acme, {"kind": "cash", "amount": 2000, "fulfilment": "stripe_transfer"}
    )
    advocate = enrol(program)
    Advocate.objects.filter(pk=advocate.pk).update(stripe_account_id="acct_maria")
    fake.fail_next["/v1/transfers"] = 1
    (reward,) = rewards_of(order(advocate, "s-5"))
    assert reward.status == RewardStatus.APPROVED
    assert "Stripe" in reward.last_error
    assert reward.attempts == 1
    later = timezone.now() + timedelta(minutes=2)
    assert fulfilment.reward_fulfil_attempt(reward_id=reward.pk, now=later) == "issued"
    assert len(fake.created("transfer")) == 1
    assert fake.keys("/v1/transfers") == {f"{reward.public_id}:issue"}
    assert Reward.objects.get(pk=reward.pk).status == RewardStatus.ISSUED
