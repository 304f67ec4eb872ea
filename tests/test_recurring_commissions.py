"""Recurring commissions (`recurring_months`) over a subscription's invoices — through the API
with `subscription_id` and through the merchant's Stripe `invoice.paid` — and partial refunds
of commissions already given by Stripe transfer: the difference is a negative balance that the
advocate's next payout deducts, and a later claw-back reverses only what is left."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Merchant
from payouts import services as payouts
from payouts.models import PayoutItem
from programs.specs import SpecError, parse_config
from referral_saas import tenancy
from rewards import fulfilment
from rewards.models import Reward, RewardStatus
from rewards.recurring import RENEWAL, add_months
from tests.conftest import World, make_key
from tests.stripe_fake import FakeStripe, serve_fake_stripe
from tests.test_pipeline import enrol, order, program_with, rewards_of
from tests.test_stripe_hooks import ACME_SECRET, deliver, event
from tracking.models import Advocate, Conversion, ConversionStatus
from tracking.services import refund_record

pytestmark = pytest.mark.django_db(transaction=True)


def parse(reward: dict[str, Any], type_: str = "one_sided", **extra: Any) -> Any:
    return parse_config(
        {"advocate_reward": reward, **extra},
        program_type=type_,
        currency="EUR",
        stripe_connected=True,
    )


COMMISSION = {"kind": "cash", "percent": 10, "fulfilment": "payout"}


# --- The spec ---------------------------------------------------------------------------------


def test_recurring_months_parses_and_round_trips() -> None:
    spec = parse({**COMMISSION, "recurring_months": 12, "max_amount": 900}).advocate_reward
    assert (spec.percent, spec.max_amount, spec.recurring_months) == (10, 900, 12)
    assert spec.to_dict()["recurring_months"] == 12
    assert parse(spec.to_dict()).advocate_reward == spec
    assert "recurring_months" not in parse(COMMISSION).advocate_reward.to_dict()


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        (
            {"advocate_reward": {**COMMISSION, "recurring_months": 0}},
            "advocate_reward.recurring_months",
            "A whole number of months, from 1 to 120.",
        ),
        (
            {"advocate_reward": {**COMMISSION, "recurring_months": "12"}},
            "advocate_reward.recurring_months",
            "A whole number of months, from 1 to 120.",
        ),
        (
            {"advocate_reward": {"kind": "cash", "amount": 500, "recurring_months": 6}},
            "advocate_reward.recurring_months",
            "Only a commission (cash or account credit with percent) recurs.",
        ),
        (
            {"advocate_reward": {"kind": "percent_discount", "percent": 10, "recurring_months": 6}},
            "advocate_reward.recurring_months",
            "Only a commission (cash or account credit with percent) recurs.",
        ),
        (
            {
                "advocate_reward": COMMISSION,
                "friend_reward": {**COMMISSION, "recurring_months": 6},
            },
            "friend_reward.recurring_months",
            "Only the advocate's reward recurs.",
        ),
    ],
)
def test_bad_recurring_months_is_refused_naming_the_field(
    config: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(SpecError) as error:
        parse_config(config, program_type="two_sided", currency="EUR", stripe_connected=True)
    assert error.value.errors[field] == message


def test_the_programs_api_accepts_recurring_months(client: Client, world: World) -> None:
    key = make_key(world.acme).plaintext
    body = {
        "name": "Share of every invoice",
        "type": "one_sided",
        "currency": "EUR",
        "destination_url": "https://shop.example.com/",
        "allowed_domains": ["shop.example.com"],
        "advocate_reward": {**COMMISSION, "recurring_months": 6},
    }
    created = post(client, "/api/v1/programs", key, body)
    assert created.status_code == 201, created.json()
    assert created.json()["advocate_reward"]["recurring_months"] == 6
    bad = {**body, "advocate_reward": {**COMMISSION, "recurring_months": -1}}
    refused = post(client, "/api/v1/programs", key, bad)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "advocate_reward.recurring_months"


# --- Invoices of a subscription through the API ---------------------------------------------


def post(client: Client, path: str, key: str, body: dict[str, Any]) -> Any:
    return client.post(
        path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


@pytest.fixture
def acme(world: World) -> Iterator[Merchant]:
    with tenancy.merchant_context(world.acme):
        yield world.acme


def subscription_program(merchant: Merchant, **reward: Any) -> Any:
    # One reward per advocate and month: renewals must not be stopped (nor counted) by it.
    return program_with(
        merchant,
        "one_sided",
        slug="saas",
        advocate_reward={**COMMISSION, **reward},
        rules={"hold_days": 0, "max_rewards_per_advocate": 1, "max_rewards_period": "lifetime"},
        fraud={"velocity": "off"},
    )


def invoice(
    client: Client, key: str, order_id: str, at: datetime, code: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "amount": 4900,
        "currency": "EUR",
        "customer": {"email": "luca@example.com", "id": "cus_luca"},
        "subscription_id": "sub_luca",
        "occurred_at": at.isoformat(),
    }
    if code is not None:
        body["code"] = code
    response = post(client, "/api/v1/conversions", key, body)
    assert response.status_code == 202, response.json()
    read = client.get(
        f"/api/v1/conversions/{response.json()['id']}", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    return dict(read.json())


def test_later_invoices_earn_again_within_the_window_only(
    client: Client, world: World, acme: Merchant
) -> None:
    key = make_key(acme).plaintext
    advocate = enrol(subscription_program(acme, recurring_months=3))
    start = timezone.now() - timedelta(days=150)

    first = invoice(client, key, "in_1", start, code=advocate.code)
    second = invoice(client, key, "in_2", add_months(start, 1))  # no code
    third = invoice(client, key, "in_3", add_months(start, 2) + timedelta(days=27))
    late = invoice(client, key, "in_4", add_months(start, 3))  # the window has ended

    for conversion in (first, second, third, late):
        assert conversion["subscription_id"] == "sub_luca"
        assert (conversion["status"], conversion["advocate"]) == ("qualified", advocate.public_id)
        assert conversion["referral"] == first["referral"] is not None
    earned = [[(r["amount"], r["recipient"]) for r in c["rewards"]] for c in (first, second, third)]
    assert earned == [[(490, "advocate")]] * 3
    assert late["rewards"] == []
    (why,) = [r for r in late["reasons"] if r["rule"] == "recurring" and r["outcome"] != "info"]
    assert why["outcome"] == "outside_window"
    assert f"until {add_months(start, 3):%Y-%m-%d}" in why["detail"]
    assert "no commission" in why["detail"]
    # Renewals are the same friend paying again: not counted as friends, never capped.
    with tenancy.merchant_context(world.acme):
        renewals = Conversion.objects.filter(order_id__in=["in_2", "in_3", "in_4"])
        assert set(renewals.values_list("attributed_by", flat=True)) == {RENEWAL}
    assert not any(r["rule"] == "first_purchase_only" for r in second["reasons"])
    assert not any(r["rule"] == "max_rewards_per_advocate" for r in third["reasons"])


def test_a_commission_that_does_not_recur_earns_once_and_says_why(
    client: Client, world: World, acme: Merchant
) -> None:
    key = make_key(acme).plaintext
    advocate = enrol(subscription_program(acme))
    start = timezone.now() - timedelta(days=60)

    first = invoice(client, key, "in_1", start, code=advocate.code)
    second = invoice(client, key, "in_2", add_months(start, 1), code=advocate.code)

    assert [r["amount"] for r in first["rewards"]] == [490]
    assert (second["status"], second["advocate"], second["rewards"]) == (
        "qualified",
        advocate.public_id,
        [],
    )
    (why,) = [r for r in second["reasons"] if r["outcome"] == "not_recurring"]
    assert why["rule"] == "recurring"
    assert "not a recurring commission" in why["detail"]


def test_a_rejected_first_order_rejects_its_later_invoices(
    client: Client, world: World, acme: Merchant
) -> None:
    key = make_key(acme).plaintext
    advocate = enrol(subscription_program(acme, recurring_months=12))
    start = timezone.now() - timedelta(days=60)
    # The advocate's own email: a self-referral, rejected.
    body = {
        "order_id": "in_1",
        "amount": 4900,
        "currency": "EUR",
        "customer": {"email": advocate.email},
        "subscription_id": "sub_self",
        "code": advocate.code,
        "occurred_at": start.isoformat(),
    }
    assert post(client, "/api/v1/conversions", key, body).status_code == 202
    renewal = {**body, "order_id": "in_2", "occurred_at": add_months(start, 1).isoformat()}
    del renewal["code"]
    assert post(client, "/api/v1/conversions", key, renewal).status_code == 202

    with tenancy.merchant_context(world.acme):
        first, second = Conversion.objects.filter(subscription_id="sub_self").order_by(
            "occurred_at"
        )
        assert first.status == second.status == ConversionStatus.REJECTED
        assert second.advocate_id == advocate.pk
        (why,) = [
            r for r in second.reasons if r["rule"] == "recurring" and r["outcome"] == "reject"
        ]
        assert why["detail"] == "The subscription's first order in_1 was rejected."
        assert Reward.objects.filter(conversion__subscription_id="sub_self").count() == 0


# --- Stripe invoice.paid ----------------------------------------------------------------------


def stripe_invoice(event_id: str, invoice_id: str, created: datetime, **extra: Any) -> Any:
    paid = event(
        event_id,
        "invoice.paid",
        {
            "id": invoice_id,
            "object": "invoice",
            "amount_paid": 2900,
            "currency": "eur",
            "customer": "cus_bo",
            "customer_email": "bo@example.com",
            "payment_intent": f"pi_{invoice_id}",
            **extra,
        },
    )
    paid["created"] = int(created.timestamp())
    return paid


def test_stripe_invoice_paid_carries_the_subscription_and_renewals_earn(
    client: Client, world: World
) -> None:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_webhook_secret=ACME_SECRET)
    with tenancy.merchant_context(world.acme):
        advocate = enrol(subscription_program(world.acme, recurring_months=12))
    start = timezone.now() - timedelta(days=40)
    first = stripe_invoice(
        "evt_in_1",
        "in_1",
        start,
        subscription="sub_bo",  # API versions before 2025
        subscription_details={"metadata": {"referral_code": advocate.code}},
    )
    renewal = stripe_invoice(  # the newer shape, and no code anywhere
        "evt_in_2",
        "in_2",
        add_months(start, 1),
        parent={"subscription_details": {"subscription": "sub_bo", "metadata": {}}},
    )

    assert deliver(client, world.acme, first).status_code == 200
    assert deliver(client, world.acme, renewal).status_code == 200

    with tenancy.merchant_context(world.acme):
        rows = list(Conversion.objects.order_by("occurred_at"))
        assert [(c.order_id, c.subscription_id, c.advocate_id) for c in rows] == [
            ("in_1", "sub_bo", advocate.pk),
            ("in_2", "sub_bo", advocate.pk),
        ]
        assert [c.attributed_by for c in rows] == ["code", RENEWAL]
        assert [[r.amount for r in rewards_of(c)] for c in rows] == [[290], [290]]


# --- Refunds of commissions already given ----------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    from django.test import override_settings

    with (
        serve_fake_stripe() as server,
        override_settings(STRIPE_SECRET_KEY="sk_test_fake", STRIPE_API_BASE=server.url),
    ):
        yield server


def test_partial_refund_after_a_stripe_transfer_is_deducted_from_the_next_payout(
    fake: FakeStripe, world: World
) -> None:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_account_id="acct_merchant1")
    with tenancy.merchant_context(world.acme):
        program = program_with(
            world.acme,
            "one_sided",
            slug="transfers",
            advocate_reward={"kind": "cash", "percent": 10, "fulfilment": "stripe_transfer"},
            rules={"hold_days": 0},
            fraud={"velocity": "off"},
        )
        advocate = enrol(program)
        Advocate.objects.filter(pk=advocate.pk).update(stripe_account_id="acct_maria")
        (reward,) = rewards_of(order(advocate, "t-1", amount=5000))
        assert (reward.status, reward.amount) == (RewardStatus.ISSUED, 500)
        (transfer,) = fake.created("transfer")

        refund_record(conversion=reward.conversion, amount=2000)  # 500 → 300: 200 owed back

        reward.refresh_from_db()
        assert (reward.status, reward.amount, reward.given_amount) == (
            RewardStatus.ISSUED,
            300,
            500,
        )
        assert reward.reasons[-1]["rule"] == "commission"
        assert (
            "€2 of the €5 already given (stripe_transfer) is owed back"
            in (reward.reasons[-1]["detail"])
        )
        assert payouts.advocate_balance(advocate).total == -200
        assert fake.created("transfer_reversal") == []  # nothing reversed for a partial refund
        # The next payout (the merchant now pays by payout) deducts it.
        later = Reward.objects.create(
            recipient="advocate",
            advocate=advocate,
            conversion=order(None, "t-2", email="x@example.com", amount=9000),
            program=program,
            kind="cash",
            amount=900,
            currency="EUR",
            fulfilment_method="payout",
            spec=COMMISSION,
            status=RewardStatus.APPROVED,
        )
        (payout,) = payouts.payouts_create_due()
        assert payout.amount == 700
        items = PayoutItem.objects.filter(payout=payout).order_by("kind")
        assert [(i.kind, i.reward_id, i.amount) for i in items] == [
            ("deduction", reward.pk, -200),
            ("earning", later.pk, 900),
        ]
        assert payouts.advocate_balance(advocate).total == 0
        assert payouts.payouts_create_due() == []  # deducted once

        # Refunded in full afterwards: the transfer is reversed for what it is worth now only.
        refund_record(conversion=reward.conversion, amount=None)
        reward.refresh_from_db()
        assert reward.status == RewardStatus.CLAWED_BACK
        (reversal,) = [c for c in fake.calls if c.path.endswith("/reversals")]
        assert (reversal.path, reversal.form) == (
            f"/v1/transfers/{transfer['id']}/reversals",
            {"amount": "300"},
        )
        assert payouts.advocate_balance(advocate).total == 0


def test_a_chargeback_claws_back_a_paid_commission_and_the_next_payout_deducts_it(
    client: Client, world: World
) -> None:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_webhook_secret=ACME_SECRET)
    with tenancy.merchant_context(world.acme):
        advocate = enrol(subscription_program(world.acme))
    paid = stripe_invoice(
        "evt_in_1",
        "in_1",
        timezone.now() - timedelta(days=3),
        subscription_details={"metadata": {"referral_code": advocate.code}},
    )
    deliver(client, world.acme, paid)
    with tenancy.merchant_context(world.acme):
        (payout,) = payouts.payouts_create_due()
        payouts.payout_mark_paid(payout=payout)
    dispute = event(
        "evt_dp_1", "charge.dispute.created", {"id": "dp_1", "payment_intent": "pi_in_1"}
    )

    assert deliver(client, world.acme, dispute).status_code == 200

    with tenancy.merchant_context(world.acme):
        reward = Reward.objects.get(advocate=advocate)
        assert reward.status == RewardStatus.CLAWED_BACK
        assert payouts.advocate_balance(advocate).total == -290


def test_a_negative_balance_is_netted_against_the_next_stripe_transfer_once(
    fake: FakeStripe, world: World
) -> None:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_account_id="acct_merchant1")
    with tenancy.merchant_context(world.acme):
        program = program_with(
            world.acme,
            "one_sided",
            slug="netting",
            advocate_reward={"kind": "cash", "percent": 10, "fulfilment": "stripe_transfer"},
            rules={"hold_days": 0},
            fraud={"velocity": "off"},
        )
        advocate = enrol(program)
        Advocate.objects.filter(pk=advocate.pk).update(stripe_account_id="acct_maria")
        (first,) = rewards_of(order(advocate, "n-1", amount=5000))
        refund_record(conversion=first.conversion, amount=2000)  # 500 → 300: 200 owed back
        assert payouts.advocate_balance(advocate).total == -200

        # given the next transfer's first call fails (Stripe answers 500)
        fake.fail_next["/v1/transfers"] = 1
        (second,) = rewards_of(order(advocate, "n-2", email="ana@example.com", amount=9000))
        assert (second.status, second.amount, second.netted_amount) == (
            RewardStatus.APPROVED,
            900,
            200,
        )

        # when a partial refund lowers it before the retry (900 → 600), then it is retried
        refund_record(conversion=second.conversion, amount=3000)
        later = timezone.now() + timedelta(hours=1)
        assert fulfilment.reward_fulfil_attempt(reward_id=second.pk, now=later) == "issued"

        # then both calls sent 900 - 200 under one key (the amount decided before the first
        # call), and one transfer was made
        sent = [c for c in fake.calls if c.path == "/v1/transfers" and c.form["amount"] != "500"]
        assert [(c.form["amount"], c.idempotency_key) for c in sent] == [
            ("700", f"{second.public_id}:issue"),
            ("700", f"{second.public_id}:issue"),
        ]
        assert sorted(t["amount"] for t in fake.created("transfer")) == ["500", "700"]
        second.refresh_from_db()
        first.refresh_from_db()
        assert (second.status, second.amount, second.given_amount, second.netted_amount) == (
            RewardStatus.ISSUED,
            600,
            900,
            200,
        )
        (netting,) = [r for r in second.reasons if r["rule"] == "netting"]
        assert netting["detail"] == (
            f"€2 of the €9 settles what the advocate owed back after partial refunds "
            f"(€2 for reward {first.public_id}): the transfer is €7."
        )
        assert first.settled_amount == 200
        assert first.reasons[-1]["detail"] == (
            f"€2 of what is owed back was settled: netted against the Stripe transfer of "
            f"reward {second.public_id}."
        )
        # the ledger shows the first debt settled; what remains owed is the second's refund
        assert payouts.advocate_balance(advocate).total == -300
        assert [(r.pk, owed) for r, owed in payouts.owed_back(advocate.pk)] == [(second.pk, 300)]
        assert payouts.payouts_create_due() == []
        assert fulfilment.reward_fulfil_attempt(reward_id=second.pk, now=later) == "skipped"

        # refunded in full: the transfer is reversed for what it is worth (600 of the 700
        # sent); the 300 it gave beyond that (cash and the settled debt) stays owed
        refund_record(conversion=second.conversion, amount=None)
        (reversal,) = [c for c in fake.calls if c.path.endswith("/reversals")]
        assert reversal.form == {"amount": "600"}
        assert payouts.advocate_balance(advocate).total == -300
