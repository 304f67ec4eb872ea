"""Commissions (`percent` of the order net of refunds on cash and account_credit, with
`max_amount`), partial refunds adjusting them before and after payment, and a property test
over earnings (paid by payout, or given at once by Stripe transfer), refunds and payouts: what
was paid plus what is owed (negative when a refund came after payment) is exactly what the
advocate earned net of refunds, every cent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Merchant
from payouts import services
from payouts.models import Payout, PayoutItem, PayoutStatus
from programs.specs import SpecError, parse_config
from referral_saas import tenancy
from rewards.commissions import commission_amount
from rewards.models import Reward, RewardStatus
from rewards.pipeline.refunds import conversion_refund_apply
from tests.conftest import World
from tests.test_pipeline import enrol, order, program_with
from tracking.models import Advocate, Conversion
from tracking.services import refund_record


@pytest.fixture
def acme(world: World) -> Iterator[Merchant]:
    with tenancy.merchant_context(world.acme):
        yield world.acme


def parse(reward: dict[str, Any]) -> Any:
    return parse_config(
        {"advocate_reward": reward}, program_type="one_sided", currency="EUR", stripe_connected=True
    )


def test_percent_with_a_cap_on_cash_and_account_credit_parses_and_round_trips() -> None:
    config = parse({"kind": "cash", "percent": 10, "max_amount": 5000, "fulfilment": "payout"})
    spec = config.advocate_reward
    assert (spec.percent, spec.amount, spec.max_amount) == (10, None, 5000)
    assert spec.to_dict()["max_amount"] == 5000
    assert parse(spec.to_dict()).advocate_reward == spec
    credit = parse({"kind": "account_credit", "percent": 20, "fulfilment": "manual"})
    assert credit.advocate_reward.percent == 20


@pytest.mark.parametrize(
    ("reward", "field"),
    [
        ({"kind": "fixed_discount", "percent": 10}, "advocate_reward.percent"),
        (
            {"kind": "cash", "amount": 500, "max_amount": 100, "fulfilment": "manual"},
            "advocate_reward.max_amount",
        ),
        ({"kind": "cash", "percent": 0, "fulfilment": "manual"}, "advocate_reward.percent"),
        (
            {"kind": "cash", "percent": 10, "max_amount": 0, "fulfilment": "manual"},
            "advocate_reward.max_amount",
        ),
        (
            {"kind": "cash", "percent": 10, "amount": 500, "fulfilment": "manual"},
            "advocate_reward.percent",
        ),
    ],
)
def test_bad_commissions_are_refused_naming_the_field(reward: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as error:
        parse(reward)
    assert field in error.value.errors


def commission_program(merchant: Merchant, **reward: Any) -> Any:
    return program_with(
        merchant,
        "one_sided",
        slug="commission",
        advocate_reward={"kind": "cash", "percent": 10, "fulfilment": "payout", **reward},
        rules={"hold_days": 0},
        fraud={"velocity": "off"},
    )


@pytest.mark.django_db(transaction=True)
def test_commission_is_a_share_of_the_order_capped(acme: Merchant) -> None:
    advocate = enrol(commission_program(acme, max_amount=500))
    small = order(advocate, "c-1", email="c1@example.com", amount=3000)
    large = order(advocate, "c-2", email="c2@example.com", amount=8000)
    amounts = {
        r.conversion_id: (r.amount, r.currency, r.percent, r.cost)
        for r in Reward.objects.filter(advocate=advocate)
    }
    assert amounts == {small.pk: (300, "EUR", None, 300), large.pk: (500, "EUR", None, 500)}


@pytest.mark.django_db(transaction=True)
def test_partial_refunds_lower_the_commission_before_and_after_it_is_paid(acme: Merchant) -> None:
    advocate = enrol(commission_program(acme))
    first = order(advocate, "p-1", email="p1@example.com", amount=5000)
    refund_record(conversion=first, amount=2000)  # before any payout: 500 → 300
    reward = Reward.objects.get(conversion=first)
    assert reward.amount == 300
    (payout,) = services.payouts_create_due()
    assert payout.amount == 300
    services.payout_mark_paid(payout=payout)
    refund_record(conversion=first, amount=1000)  # after payment: 300 → 200, 100 owed back
    reward.refresh_from_db()
    assert (reward.status, reward.amount) == (RewardStatus.ISSUED, 200)
    assert services.advocate_balance(advocate).total == -100
    order(advocate, "p-2", email="p2@example.com", amount=4000)  # earns 400
    (second,) = services.payouts_create_due()
    assert second.amount == 300
    deductions = PayoutItem.objects.filter(payout=second, kind="deduction")
    assert list(deductions.values_list("reward_id", "amount")) == [(reward.pk, -100)]


# --- The property ---------------------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(min_value=1, max_value=200_00)),
        # A commission given at once by Stripe transfer, outside payouts.
        st.tuples(st.just("transfer"), st.integers(min_value=1, max_value=200_00)),
        st.tuples(st.just("refund"), st.integers(min_value=0, max_value=20), st.floats(0.05, 1.0)),
        st.tuples(st.just("pay"), st.just(0)),
    ),
    min_size=1,
    max_size=14,
)


def _earn(advocate: Advocate, amount: int, n: int, method: str = "payout") -> None:
    conversion = Conversion.objects.create(
        program_id=advocate.program_id,
        advocate=advocate,
        order_id=f"prop-{n}",
        amount=amount,
        currency="EUR",
        status="qualified",
    )
    Reward.objects.create(
        recipient="advocate",
        advocate=advocate,
        conversion=conversion,
        program_id=advocate.program_id,
        kind="cash",
        amount=commission_amount(percent=10, max_amount=None, net_amount=amount),
        currency="EUR",
        fulfilment_method=method,
        spec={"kind": "cash", "percent": 10, "fulfilment": method},
        status=RewardStatus.APPROVED if method == "payout" else RewardStatus.ISSUED,
    )


def _given_out() -> int:
    """What transfers gave and still hold: all of it while issued; after a claw-back, what the
    reversal (of the amount it was worth then) left with the advocate."""
    total = 0
    for reward in Reward.objects.exclude(fulfilment_method="payout"):
        given = reward.given_amount if reward.given_amount is not None else reward.amount
        total += given if reward.status == RewardStatus.ISSUED else given - reward.amount
    return total


def _refund(index: int, fraction: float) -> None:
    conversions = list(Conversion.objects.order_by("pk"))
    if not conversions:
        return
    conversion = conversions[index % len(conversions)]
    net = conversion.amount - conversion.refunded_amount
    amount = max(1, min(net, round(net * fraction)))
    if net <= 0:
        return
    Conversion.objects.filter(pk=conversion.pk).update(
        refunded_amount=conversion.refunded_amount + amount
    )
    conversion_refund_apply(conversion_id=conversion.pk)


def _pay() -> None:
    services.payouts_create_due()
    for payout in Payout.objects.filter(status=PayoutStatus.DUE):
        services.payout_mark_paid(payout=payout)


def _earned_net() -> int:
    total = 0
    for reward in Reward.objects.select_related("conversion").exclude(
        status__in=(RewardStatus.VOIDED, RewardStatus.CLAWED_BACK)
    ):
        assert reward.conversion is not None
        net = reward.conversion.amount - reward.conversion.refunded_amount
        assert reward.amount == commission_amount(percent=10, max_amount=None, net_amount=net)
        total += net * 10 // 100
    return total


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_paid_plus_owed_is_exactly_what_was_earned_net_of_refunds(
    acme: Merchant, ops: list[Any]
) -> None:
    with transaction.atomic():
        program = commission_program(acme)
        advocate = enrol(program)
        for n, op in enumerate(ops):
            if op[0] in ("earn", "transfer"):
                _earn(advocate, op[1], n, "payout" if op[0] == "earn" else "stripe_transfer")
            elif op[0] == "refund":
                _refund(op[1], op[2])
            else:
                _pay()
            paid = sum(
                Payout.objects.filter(status=PayoutStatus.PAID).values_list("amount", flat=True)
            )
            owed = services.advocate_balance(advocate).total
            due = sum(
                Payout.objects.filter(status=PayoutStatus.DUE).values_list("amount", flat=True)
            )
            given = _given_out()
            assert paid + given + due + owed == _earned_net(), (ops[: n + 1], paid, due, owed)
            # never paid twice: one live earning per reward, deductions within what was paid
            for reward_id in Reward.objects.values_list("pk", flat=True):
                earned = PayoutItem.objects.filter(reward_id=reward_id, kind="earning", active=True)
                assert earned.count() <= 1
                deducted = -sum(
                    PayoutItem.objects.filter(
                        reward_id=reward_id, kind="deduction", active=True
                    ).values_list("amount", flat=True)
                )
                reward = Reward.objects.get(pk=reward_id)
                given = reward.given_amount or 0
                assert deducted <= sum(earned.values_list("amount", flat=True)) + given
        transaction.set_rollback(True)
