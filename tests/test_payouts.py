"""Payouts: grouping an advocate's cash into payouts at the program's minimum, the ledger that
never pays a reward twice (refunds before, during and after a payout), Stripe transfers through
the gateway against the Stripe fake (a crash after Stripe answered pays once), marking SEPA and
manual payouts paid, events, and payout details (IBAN validated, encrypted, masked)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

import events
from accounts.models import Merchant
from payouts import services
from payouts.details import payout_details_set
from payouts.models import (
    Payout,
    PayoutDetails,
    PayoutItem,
    PayoutMethod,
    PayoutStatus,
    ProgramPayoutPolicy,
)
from programs.models import Program
from programs.specs import SpecError
from referral_saas import tenancy
from rewards.models import Reward, RewardStatus
from tests.conftest import World
from tests.stripe_fake import FakeStripe, serve_fake_stripe
from tests.test_pipeline import enrol, order, program_with
from tracking.models import Advocate
from tracking.services import refund_record

pytestmark = pytest.mark.django_db(transaction=True)

IBAN_PL = "PL61 1090 1014 0000 0712 1981 2874"


@pytest.fixture
def acme(world: World) -> Iterator[Merchant]:
    with tenancy.merchant_context(world.acme):
        yield world.acme


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every payout.* event emitted: (type, payout id)."""
    seen: list[tuple[str, str]] = []
    for event_type in ("payout.created", "payout.paid", "payout.failed"):

        def consumer(event: events.Event) -> None:
            seen.append((event.type, event.data["id"]))

        monkeypatch.setitem(
            events.registry._consumers, event_type, [*events.consumers(event_type), consumer]
        )
    return seen


def cash_program(
    merchant: Merchant, *, amount: int = 1000, minimum: int = 0, slug: str = "cash"
) -> Program:
    program = program_with(
        merchant,
        "one_sided",
        slug=slug,
        advocate_reward={"kind": "cash", "amount": amount, "fulfilment": "payout"},
        rules={"hold_days": 0},
        fraud={"velocity": "off"},
    )
    if minimum:
        services.program_minimum_set(program_id=program.pk, minimum_amount=minimum)
    return program


def earn(advocate: Advocate, order_id: str, amount: int = 5000) -> Reward:
    conversion = order(advocate, order_id, email=f"{order_id}@example.com", amount=amount)
    return Reward.objects.get(conversion=conversion, recipient="advocate")


def test_approved_cash_is_grouped_into_one_manual_payout_once(
    acme: Merchant, told: list[Any]
) -> None:
    advocate = enrol(cash_program(acme))
    reward = earn(advocate, "o-1")
    assert reward.status == RewardStatus.APPROVED  # no hold; no fulfilment worker for `payout`
    (payout,) = services.payouts_create_due()
    assert (payout.amount, payout.currency, payout.method, payout.status) == (
        1000,
        "EUR",
        PayoutMethod.MANUAL,
        PayoutStatus.DUE,
    )
    assert list(PayoutItem.objects.filter(payout=payout).values_list("reward_id", "amount")) == [
        (reward.pk, 1000)
    ]
    assert told == [("payout.created", payout.public_id)]
    # a second run, and another, find nothing new
    assert services.payouts_create_due() == []
    assert Payout.objects.count() == 1


def test_balance_waits_for_the_programs_minimum(acme: Merchant) -> None:
    advocate = enrol(cash_program(acme, minimum=1500))
    first = earn(advocate, "m-1")
    assert services.payouts_create_due() == []
    assert services.advocate_balance(advocate).total == 1000
    second = earn(advocate, "m-2")
    (payout,) = services.payouts_create_due()
    assert payout.amount == 2000
    assert set(PayoutItem.objects.filter(payout=payout).values_list("reward_id", flat=True)) == {
        first.pk,
        second.pk,
    }


def test_minimum_is_validated_naming_the_field(acme: Merchant) -> None:
    program = cash_program(acme)
    with pytest.raises(SpecError) as error:
        services.program_minimum_set(program_id=program.pk, minimum_amount=-1)
    assert list(error.value.errors) == ["minimum_amount"]
    assert not ProgramPayoutPolicy.objects.exists()


def test_mark_paid_issues_the_rewards_once(acme: Merchant, told: list[Any], world: World) -> None:
    advocate = enrol(cash_program(acme))
    reward = earn(advocate, "p-1")
    (payout,) = services.payouts_create_due()
    services.payout_mark_paid(payout=payout, actor=world.alice, reference="bank-ref-1")
    payout.refresh_from_db()
    reward.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert payout.paid_at is not None
    assert reward.status == RewardStatus.ISSUED
    assert reward.fulfilment_external_id == payout.public_id
    # again: nothing changes, nothing is told twice
    services.payout_mark_paid(payout=payout, actor=world.alice)
    assert told == [("payout.created", payout.public_id), ("payout.paid", payout.public_id)]
    assert services.payouts_create_due() == []


def test_stripe_and_paypal_payouts_cannot_be_marked_paid_by_hand(acme: Merchant) -> None:
    advocate = enrol(cash_program(acme))
    earn(advocate, "s-1")
    (payout,) = services.payouts_create_due()
    Payout.objects.filter(pk=payout.pk).update(method=PayoutMethod.PAYPAL)
    payout.refresh_from_db()
    with pytest.raises(SpecError) as error:
        services.payout_mark_paid(payout=payout)
    assert list(error.value.errors) == ["method"]
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.DUE


def test_refund_while_due_drops_the_reward_and_a_payout_left_empty_fails(
    acme: Merchant, told: list[Any]
) -> None:
    advocate = enrol(cash_program(acme))
    reward = earn(advocate, "r-1")
    (payout,) = services.payouts_create_due()
    assert reward.conversion is not None
    refund_record(conversion=reward.conversion, amount=None)
    reward.refresh_from_db()
    assert reward.status == RewardStatus.VOIDED
    with pytest.raises(SpecError):
        services.payout_mark_paid(payout=payout)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert "refunded" in payout.failure_reason
    assert told[-1] == ("payout.failed", payout.public_id)
    assert not PayoutItem.objects.filter(active=True).exists()


def test_refund_after_payment_is_deducted_from_the_next_payout_never_lost(acme: Merchant) -> None:
    advocate = enrol(cash_program(acme, amount=1000))
    paid_reward = earn(advocate, "d-1")
    (first,) = services.payouts_create_due()
    services.payout_mark_paid(payout=first)
    assert paid_reward.conversion is not None
    refund_record(conversion=paid_reward.conversion, amount=None)
    paid_reward.refresh_from_db()
    assert paid_reward.status == RewardStatus.CLAWED_BACK
    # the next earning (600) does not cover the 1000 owed back: nothing is paid, it is carried
    reward_2 = earn(advocate, "d-2", amount=5000)
    Reward.objects.filter(pk=reward_2.pk).update(amount=600)
    assert services.payouts_create_due() == []
    assert services.advocate_balance(advocate).total == -400
    reward_3 = earn(advocate, "d-3")
    (second,) = services.payouts_create_due()
    assert second.amount == 600 + 1000 - 1000
    lines = sorted(
        PayoutItem.objects.filter(payout=second).values_list("reward_id", "kind", "amount")
    )
    assert lines == sorted(
        [
            (paid_reward.pk, "deduction", -1000),
            (reward_2.pk, "earning", 600),
            (reward_3.pk, "earning", 1000),
        ]
    )
    # deducted once only
    services.payout_mark_paid(payout=second)
    assert services.advocate_balance(advocate).total == 0


def test_payout_items_constraint_refuses_a_reward_in_two_live_payouts(acme: Merchant) -> None:
    from django.db import IntegrityError, transaction

    advocate = enrol(cash_program(acme))
    reward = earn(advocate, "u-1")
    services.payouts_create_due()
    other = Payout.objects.create(
        advocate=advocate,
        program_id=advocate.program_id,
        amount=1000,
        currency="EUR",
        method="manual",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutItem.objects.create(payout=other, reward=reward, kind="earning", amount=1000)
    assert PayoutItem.objects.filter(reward=reward).count() == 1


# --- Stripe transfers --------------------------------------------------------------------------


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with (
        serve_fake_stripe() as server,
        override_settings(STRIPE_SECRET_KEY="sk_test_fake", STRIPE_API_BASE=server.url),
    ):
        yield server


def stripe_advocate(merchant: Merchant) -> Advocate:
    Merchant.objects.filter(pk=merchant.pk).update(stripe_account_id="acct_merchant1")
    merchant.refresh_from_db()
    advocate = enrol(cash_program(merchant))
    PayoutDetails.objects.create(
        advocate=advocate,
        method=PayoutMethod.STRIPE_TRANSFER,
        stripe_account_id="acct_advocate1",
        stripe_payouts_enabled=True,
    )
    return advocate


def test_stripe_payout_is_one_transfer_keyed_by_the_payout(
    acme: Merchant, stripe: FakeStripe
) -> None:
    advocate = stripe_advocate(acme)
    reward = earn(advocate, "t-1")
    outcome = services.payouts_run()
    assert outcome["created"] == 1
    assert outcome["stripe_paid"] == 1
    payout = Payout.objects.get()
    (transfer,) = stripe.created("transfer")
    assert transfer["amount"] == "1000"
    assert transfer["destination"] == "acct_advocate1"
    assert stripe.keys("/v1/transfers") == {f"{payout.public_id}:transfer"}
    assert {c.account for c in stripe.calls} == {"acct_merchant1"}
    assert (payout.status, payout.external_id) == (PayoutStatus.PAID, transfer["id"])
    reward.refresh_from_db()
    assert reward.status == RewardStatus.ISSUED
    assert services.payouts_run() == {
        "created": 0,
        "paypal_sent": 0,
        "paypal_paid": 0,
        "paypal_failed": 0,
    }
    assert len(stripe.created("transfer")) == 1


def test_crash_after_stripe_answered_pays_once_when_the_lease_ends(
    acme: Merchant, stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    advocate = stripe_advocate(acme)
    earn(advocate, "k-1")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("worker killed after Stripe answered")

    monkeypatch.setattr(services, "payout_paid", crash)
    with pytest.raises(SystemExit):
        services.payouts_run()
    payout = Payout.objects.get()
    assert payout.status == PayoutStatus.PROCESSING
    assert payout.attempts == 1
    monkeypatch.undo()
    # the lease still runs: a duplicate delivery now does nothing
    assert services.payout_pay_stripe(payout_id=payout.pk) == "skipped"
    later = timezone.now() + timedelta(seconds=301)
    assert services.payout_pay_stripe(payout_id=payout.pk, now=later) == "paid"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert payout.attempts == 2
    assert len(stripe.created("transfer")) == 1
    assert [c.idempotency_key for c in stripe.calls] == [f"{payout.public_id}:transfer"] * 2


def test_stripe_refusal_fails_the_payout_with_the_reason_and_frees_the_rewards(
    acme: Merchant, stripe: FakeStripe, told: list[Any]
) -> None:
    advocate = stripe_advocate(acme)
    reward = earn(advocate, "f-1")
    (payout,) = services.payouts_create_due()
    assert payout.method == PayoutMethod.STRIPE_TRANSFER
    Merchant.objects.filter(pk=acme.pk).update(stripe_account_id="")  # disconnected meanwhile
    assert services.payout_pay_stripe(payout_id=payout.pk) == "failed"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert "not connected a Stripe account" in payout.failure_reason
    assert stripe.calls == []
    assert told[-1] == ("payout.failed", payout.public_id)
    reward.refresh_from_db()
    assert reward.status == RewardStatus.APPROVED
    # its reward is owed again: the next run groups it into a new (manual now) payout
    (again,) = services.payouts_create_due()
    assert again.method == PayoutMethod.MANUAL
    assert list(
        PayoutItem.objects.filter(payout=again, active=True).values_list("reward_id", flat=True)
    ) == [reward.pk]


def test_stripe_outage_retries_with_backoff_then_gives_up(
    acme: Merchant, stripe: FakeStripe
) -> None:
    advocate = stripe_advocate(acme)
    earn(advocate, "o-1")
    (payout,) = services.payouts_create_due()
    stripe.fail_next["/v1/transfers"] = 99
    now = timezone.now()
    with override_settings(PAYOUT_MAX_ATTEMPTS=3):
        assert services.payout_pay_stripe(payout_id=payout.pk, now=now) == "retry"
        assert services.payout_pay_stripe(payout_id=payout.pk, now=now) == "skipped"  # backoff
        assert (
            services.payout_pay_stripe(payout_id=payout.pk, now=now + timedelta(minutes=2))
            == "retry"
        )
        assert (
            services.payout_pay_stripe(payout_id=payout.pk, now=now + timedelta(hours=1))
            == "failed"
        )
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert "Stripe failed" in payout.failure_reason
    assert stripe.keys("/v1/transfers") == {f"{payout.public_id}:transfer"}


# --- Payout details ----------------------------------------------------------------------------


def test_iban_is_validated_encrypted_at_rest_and_shown_masked(acme: Merchant) -> None:
    advocate = enrol(cash_program(acme))
    with pytest.raises(SpecError) as error:
        payout_details_set(
            advocate=advocate,
            method="sepa_credit_transfer",
            iban="PL61 1090 1014 0000 0712 1981 2875",
            account_holder="Maria",
        )
    assert list(error.value.errors) == ["iban"]
    assert "checksum" in error.value.errors["iban"].lower()
    assert not PayoutDetails.objects.exists()
    details = payout_details_set(
        advocate=advocate, method="sepa_credit_transfer", iban=IBAN_PL, account_holder="Maria Rossi"
    )
    assert details.iban == "PL61109010140000071219812874"
    assert details.iban_masked == "PL•• •••• •••• 2874"
    with connection.cursor() as cursor:
        cursor.execute("SELECT iban FROM payouts_payoutdetails WHERE id = %s", [details.pk])
        (stored,) = cursor.fetchone()
    assert stored.startswith("enc1:")
    assert "1090" not in stored


def test_non_sepa_iban_and_bad_paypal_email_are_refused(acme: Merchant) -> None:
    advocate = enrol(cash_program(acme))
    with pytest.raises(SpecError) as error:
        payout_details_set(
            advocate=advocate,
            method="sepa_credit_transfer",
            iban="BR15 0000 0000 0000 1093 2840 814P2",
            account_holder="Ana",
        )
    assert list(error.value.errors) == ["iban"]
    with pytest.raises(SpecError) as error:
        payout_details_set(advocate=advocate, method="paypal", paypal_email="not an email")
    assert list(error.value.errors) == ["paypal_email"]
    with pytest.raises(SpecError) as error:
        payout_details_set(advocate=advocate, method="cheque")
    assert list(error.value.errors) == ["method"]
    assert not PayoutDetails.objects.exists()


def test_the_payout_method_follows_the_advocates_choice_when_both_sides_are_set_up(
    acme: Merchant,
) -> None:
    from payouts.models import PayoutAccount

    advocate = enrol(cash_program(acme))
    payout_details_set(advocate=advocate, method="paypal", paypal_email="maria@example.com")
    details = PayoutDetails.objects.get(advocate=advocate)
    assert services.method_for(details, currency="EUR") == PayoutMethod.MANUAL  # no PayPal app
    PayoutAccount.objects.create(paypal_client_id="id", paypal_client_secret="secret")
    assert services.method_for(details, currency="EUR") == PayoutMethod.PAYPAL
    payout_details_set(
        advocate=advocate, method="sepa_credit_transfer", iban=IBAN_PL, account_holder="M"
    )
    details.refresh_from_db()
    assert details.paypal_email == ""  # only what is used is kept
    assert services.method_for(details, currency="EUR") == PayoutMethod.MANUAL  # no debtor
    PayoutAccount.objects.update(
        sepa_debtor_name="Acme", sepa_debtor_iban="IT60X0542811101000000123456"
    )
    assert services.method_for(details, currency="EUR") == PayoutMethod.SEPA_CREDIT_TRANSFER
    assert services.method_for(details, currency="PLN") == PayoutMethod.MANUAL  # SEPA is euros


def test_other_merchants_payouts_are_out_of_reach(acme: Merchant, world: World) -> None:
    advocate = enrol(cash_program(acme))
    earn(advocate, "x-1")
    services.payouts_create_due()
    with tenancy.merchant_context(world.globex):
        assert Payout.objects.count() == 0
        assert services.payouts_create_due() == []
    assert Payout.objects.count() == 1


def test_architecture_shows_the_payout_state_machine_as_written() -> None:
    from pathlib import Path

    from payouts.transitions import transitions_markdown

    doc = (Path(__file__).resolve().parent.parent / "docs" / "ARCHITECTURE.md").read_text()
    assert transitions_markdown() in doc
