"""A hypothesis state machine drives random sequences of conversions, refunds, reviews,
releases and fulfilment attempts through the pipeline and checks its invariants after every
step:

- never two rewards for one (conversion, recipient, tier);
- never an issued (or still payable) reward for a fully refunded order: it is voided or clawed
  back;
- the program's budget is never exceeded;
- every decided conversion carries its reasons.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from accounts.models import Merchant
from programs.models import Program
from referral_saas import tenancy
from rewards import fulfilment, pipeline
from rewards.models import Reward, RewardStatus
from tests.factories import MerchantFactory
from tests.test_pipeline import enrol, program_with
from tracking.models import Advocate, Conversion, ConversionStatus
from tracking.services import conversion_record, refund_record

BUDGET = 3000
EMAILS = [
    "luca@example.com",
    "anna@libero.it",
    "bot@mailinator.com",
    "piotr@wp.pl",
    "ion@yahoo.ro",
    "eva@outlook.com",
    "marek@o2.pl",
]
counter = itertools.count()


class PipelineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        number = next(counter)
        self.merchant: Merchant = MerchantFactory(slug=f"prop-{number}")
        self.token = tenancy.activate(self.merchant)
        self.program: Program = program_with(
            self.merchant,
            slug=f"p{number}",
            rules={"budget_amount": BUDGET, "budget_action": "stop_rewards", "hold_days": 1},
            fraud={"disposable_email": "review", "velocity": "off"},
        )
        self.advocates: list[Advocate] = [
            enrol(self.program, f"adv{i}-{number}@example.com") for i in range(2)
        ]
        self.now = timezone.now()
        self.orders = 0

    def teardown(self) -> None:
        tenancy.deactivate(self.token)

    @rule(
        advocate=st.integers(0, 1),
        email=st.sampled_from(EMAILS),
        amount=st.integers(0, 9000),
        with_code=st.booleans(),
    )
    def convert(self, advocate: int, email: str, amount: int, with_code: bool) -> None:
        self.orders += 1
        conversion_record(
            order_id=f"order-{self.orders}",
            amount=amount,
            currency="EUR",
            customer={"email": email},
            code=self.advocates[advocate].code if with_code else None,
        )

    @rule(index=st.integers(0, 50), full=st.booleans(), part=st.integers(1, 9000))
    def refund(self, index: int, full: bool, part: int) -> None:
        conversions = list(Conversion.objects.order_by("pk"))
        if not conversions:
            return
        conversion = conversions[index % len(conversions)]
        remaining = conversion.amount - conversion.refunded_amount
        if remaining == 0:
            return
        refund_record(conversion=conversion, amount=None if full else min(part, remaining))

    @rule(index=st.integers(0, 50), approve=st.booleans())
    def review(self, index: int, approve: bool) -> None:
        flagged = list(Conversion.objects.filter(status=ConversionStatus.REVIEW).order_by("pk"))
        if not flagged:
            return
        conversion = flagged[index % len(flagged)]
        if approve:
            pipeline.conversion_review_approve(conversion=conversion, note="ok")
        else:
            pipeline.conversion_review_reject(conversion=conversion, note="no")

    @rule(days=st.integers(0, 3))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days, minutes=1)
        pipeline.rewards_release_due(now=self.now)
        for reward_id in Reward.objects.filter(status=RewardStatus.APPROVED).values_list(
            "pk", flat=True
        ):
            fulfilment.reward_fulfil_attempt(reward_id=reward_id, now=self.now)

    @invariant()
    def one_reward_per_conversion_recipient_tier(self) -> None:
        keys = Counter(Reward.objects.values_list("conversion_id", "recipient", "tier"))
        assert all(count == 1 for count in keys.values()), keys

    @invariant()
    def refunded_orders_pay_nothing(self) -> None:
        payable = (
            RewardStatus.PENDING,
            RewardStatus.HELD,
            RewardStatus.APPROVED,
            RewardStatus.ISSUED,
        )
        refunded = Conversion.objects.filter(status=ConversionStatus.REFUNDED)
        assert not Reward.objects.filter(conversion__in=refunded, status__in=payable).exists()

    @invariant()
    def budget_is_never_exceeded(self) -> None:
        spent = sum(
            Reward.objects.filter(program=self.program)
            .exclude(status__in=pipeline.NOT_COUNTED)
            .values_list("cost", flat=True)
        )
        assert spent <= BUDGET

    @invariant()
    def decisions_carry_reasons(self) -> None:
        decided = Conversion.objects.exclude(status=ConversionStatus.RECEIVED)
        assert all(c.reasons for c in decided if c.evaluated_at)


@pytest.mark.django_db(transaction=True)
def test_pipeline_invariants_hold_for_random_sequences(world: Any) -> None:
    run_state_machine_as_test(
        PipelineMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
