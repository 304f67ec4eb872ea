"""The reward pipeline end to end in one process (tasks eager): attribution, qualification,
rewards, caps, tiers, budget, review, release, fulfilment, refunds, dispatch and what-if.

Real-worker, crash and outage tests are in test_pipeline_workers.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from programs.models import CodePool, PoolCode, Program, ProgramStatus, ProgramVersion
from programs.specs import parse_config
from referral_saas import tenancy
from rewards import fulfilment, pipeline
from rewards.models import Reward, RewardStatus
from tests.conftest import World
from tests.factories import make_program
from tracking.models import Advocate, Conversion, ConversionStatus, Referral
from tracking.services import advocate_enroll, conversion_record, refund_record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(world: World) -> Iterator[Any]:
    with tenancy.merchant_context(world.acme):
        yield world.acme


def program_with(
    merchant: Any, type_: str = "two_sided", slug: str = "give-10", **config: Any
) -> Program:
    base: dict[str, Any] = {
        "one_sided": {"advocate_reward": {"kind": "account_credit", "amount": 1000}},
        "two_sided": {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "fixed_discount", "amount": 1000},
        },
        "tiered": {},
    }[type_]
    base.update(config)
    parsed = parse_config(base, program_type=type_, currency="EUR", stripe_connected=True)
    program = make_program(merchant, type=type_, slug=slug, config=parsed.to_dict())
    return program


def enrol(program: Program, email: str = "maria@example.com") -> Advocate:
    return advocate_enroll(program=program, email=email, name="Maria Rossi").advocate


def order(
    advocate: Advocate | None,
    order_id: str,
    *,
    email: str = "luca@example.com",
    amount: int = 5000,
    **extra: Any,
) -> Conversion:
    return conversion_record(
        order_id=order_id,
        amount=amount,
        currency="EUR",
        customer={"email": email},
        code=advocate.code if advocate else None,
        **extra,
    ).conversion


def fresh(conversion: Conversion) -> Conversion:
    return Conversion.objects.get(pk=conversion.pk)


def rewards_of(conversion: Conversion) -> list[Reward]:
    return list(Reward.objects.filter(conversion=conversion).order_by("recipient", "tier"))


def rules_of(conversion: Conversion) -> list[str]:
    return [reason["rule"] for reason in fresh(conversion).reasons]


# --- Attribution and qualification -----------------------------------------------------------


def test_two_sided_order_with_code_earns_two_pending_rewards(acme: Any) -> None:
    program = program_with(acme)
    advocate = enrol(program)
    conversion = fresh(order(advocate, "o-1"))
    assert conversion.status == ConversionStatus.QUALIFIED
    assert conversion.advocate_id == advocate.pk
    assert conversion.attributed_by == "code"
    assert conversion.program_version_id is not None
    assert conversion.evaluated_at is not None
    advocate_reward, friend_reward = rewards_of(conversion)
    assert (advocate_reward.recipient, friend_reward.recipient) == ("advocate", "friend")
    assert advocate_reward.status == friend_reward.status == RewardStatus.PENDING
    assert advocate_reward.available_at == conversion.occurred_at + timedelta(days=30)
    assert advocate_reward.amount == 1000
    assert advocate_reward.cost == 1000
    # The friend became a referral of the advocate.
    referral = Referral.objects.get(pk=conversion.referral_id)
    assert (referral.email, referral.advocate_id) == ("luca@example.com", advocate.pk)
    assert Advocate.objects.get(pk=advocate.pk).qualified_conversions == 1


def test_order_without_any_referral_is_unattributed_and_earns_nothing(acme: Any) -> None:
    program_with(acme)
    conversion = fresh(order(None, "o-organic"))
    assert conversion.status == ConversionStatus.UNATTRIBUTED
    assert rewards_of(conversion) == []
    assert conversion.reasons[-1]["outcome"] == "unattributed"


def test_friend_email_matching_a_referral_attributes_the_order(acme: Any) -> None:
    program = program_with(acme)
    advocate = enrol(program)
    Referral.objects.create(program=program, advocate=advocate, email="luca@example.com")
    conversion = fresh(order(None, "o-email", email="LUCA@example.com"))
    assert (conversion.status, conversion.attributed_by) == ("qualified", "email")


def test_first_referrer_keeps_the_friend(acme: Any) -> None:
    program = program_with(acme)
    first = enrol(program, "first@example.com")
    second = enrol(program, "second@example.com")
    Referral.objects.create(program=program, advocate=first, email="luca@example.com")
    conversion = fresh(order(second, "o-2"))
    assert conversion.advocate_id == first.pk
    assert "one_referrer_per_friend" in rules_of(conversion)


def test_evaluating_twice_makes_one_decision(acme: Any) -> None:
    program = program_with(acme)
    advocate = enrol(program)
    conversion = order(advocate, "o-3")
    assert pipeline.conversion_evaluate(conversion_id=conversion.pk) == "skipped"
    assert len(rewards_of(conversion)) == 2


def test_below_minimum_and_repeat_purchases_are_rejected_with_reasons(acme: Any) -> None:
    program = program_with(acme, rules={"min_order_amount": 3000, "first_purchase_only": True})
    advocate = enrol(program)
    small = fresh(order(advocate, "o-small", amount=2999, email="a@example.com"))
    assert small.status == ConversionStatus.REJECTED
    assert "min_order_amount" in rules_of(small)
    exact = fresh(order(advocate, "o-exact", amount=3000, email="b@example.com"))
    assert exact.status == ConversionStatus.QUALIFIED
    again = fresh(order(advocate, "o-again", amount=9000, email="b@example.com"))
    assert again.status == ConversionStatus.REJECTED
    assert "first_purchase_only" in rules_of(again)
    assert rewards_of(small) == []
    assert rewards_of(again) == []


def test_paused_program_and_blocked_advocate_are_rejected(acme: Any) -> None:
    program = program_with(acme)
    advocate = enrol(program)
    Advocate.objects.filter(pk=advocate.pk).update(blocked_at=timezone.now(), blocked_reason="x")
    blocked = fresh(order(advocate, "o-b", email="x1@example.com"))
    assert "advocate_blocked" in rules_of(blocked)
    Advocate.objects.filter(pk=advocate.pk).update(blocked_at=None)
    Program.objects.filter(pk=program.pk).update(status=ProgramStatus.PAUSED)
    paused = fresh(order(advocate, "o-p", email="x2@example.com"))
    assert paused.status == ConversionStatus.REJECTED
    assert "program_active" in rules_of(paused)


# --- Tiers, caps, budget ---------------------------------------------------------------------


def test_tier_milestones_are_rewarded_once_at_their_threshold(acme: Any) -> None:
    program = program_with(
        acme,
        "tiered",
        tiers=[
            {"threshold": 1, "reward": {"kind": "account_credit", "amount": 1000}},
            {"threshold": 3, "reward": {"kind": "account_credit", "amount": 7500}},
        ],
    )
    advocate = enrol(program)
    tiers = []
    for n in range(1, 5):
        conversion = order(advocate, f"t-{n}", email=f"friend{n}@example.com")
        tiers.append([r.tier for r in rewards_of(conversion)])
    assert tiers == [[1], [], [2], []]
    assert Advocate.objects.get(pk=advocate.pk).qualified_conversions == 4


def test_cap_per_advocate_keeps_the_friends_reward(acme: Any) -> None:
    program = program_with(
        acme, rules={"max_rewards_per_advocate": 1, "max_rewards_period": "month"}
    )
    advocate = enrol(program)
    order(advocate, "c-1", email="f1@example.com")
    second = order(advocate, "c-2", email="f2@example.com")
    assert [r.recipient for r in rewards_of(second)] == ["friend"]
    assert "max_rewards_per_advocate" in rules_of(second)


def test_budget_is_never_exceeded_and_the_program_pauses_itself(acme: Any, world: World) -> None:
    program = program_with(acme, rules={"budget_amount": 2500})
    advocate = enrol(program)
    order(advocate, "b-1", email="f1@example.com")  # 2000 spent
    second = order(advocate, "b-2", email="f2@example.com")  # only 500 left: nothing fits
    assert rewards_of(second) == []
    assert "budget" in rules_of(second)
    spent = sum(r.cost for r in Reward.objects.filter(program=program))
    assert spent == 2000 <= 2500
    assert Program.objects.get(pk=program.pk).status == ProgramStatus.PAUSED
    assert any("spent its budget" in m.subject for m in mail.outbox)
    assert world.alice.email in mail.outbox[-1].to


# --- Release, fulfilment, refunds ------------------------------------------------------------


def test_hold_release_then_generated_code_issued_exactly_once(acme: Any) -> None:
    program = program_with(acme, rules={"hold_days": 0})
    advocate = enrol(program)
    conversion = order(advocate, "h-0")
    issued = rewards_of(conversion)
    assert {r.status for r in issued} == {RewardStatus.ISSUED}
    codes = {r.fulfilment_code for r in issued}
    assert len(codes) == 2
    assert all(len(code) == 10 for code in codes)
    for reward in issued:
        assert fulfilment.reward_fulfil_attempt(reward_id=reward.pk) == "skipped"
        assert fulfilment.reward_code(reward) == reward.fulfilment_code  # stable per reward


def test_pending_rewards_are_released_when_their_hold_ends(acme: Any) -> None:
    program = program_with(acme)
    advocate = enrol(program)
    conversion = order(advocate, "r-1")
    assert pipeline.rewards_release_due() == 0  # still on hold
    later = timezone.now() + timedelta(days=31)
    assert pipeline.rewards_release_due(now=later) == 2
    statuses = {r.status for r in rewards_of(conversion)}
    # Released and, with the eager fulfilment task, issued (their attempt was due `later`).
    assert statuses <= {RewardStatus.APPROVED, RewardStatus.ISSUED}
    assert pipeline.rewards_release_due(now=later) == 0


def test_refund_before_issue_voids_and_after_issue_claws_back(acme: Any) -> None:
    program = program_with(acme)
    advocate = enrol(program)
    pending = order(advocate, "v-1", email="f1@example.com")
    refund_record(conversion=pending, amount=None)
    assert {r.status for r in rewards_of(pending)} == {RewardStatus.VOIDED}

    instant = program_with(acme, slug="instant", rules={"hold_days": 0})  # no hold
    other = enrol(instant, "paolo@example.com")
    issued = order(other, "v-2", email="f2@example.com")
    assert {r.status for r in rewards_of(issued)} == {RewardStatus.ISSUED}
    refund_record(conversion=issued, amount=2000)  # partial, no minimum: rewards stand
    assert {r.status for r in rewards_of(issued)} == {RewardStatus.ISSUED}
    refund_record(conversion=issued, amount=None)
    rewards = rewards_of(issued)
    assert {r.status for r in rewards} == {RewardStatus.CLAWED_BACK}
    assert all(r.clawed_back_at is not None for r in rewards)
    # Generated codes cannot be withdrawn by us: recorded, never silently dropped.
    assert all(any(x["rule"] == "reversal" for x in r.reasons) for r in rewards)


def test_partial_refund_below_the_minimum_voids(acme: Any) -> None:
    program = program_with(acme, rules={"min_order_amount": 4000})
    advocate = enrol(program)
    conversion = order(advocate, "m-1", amount=5000)
    refund_record(conversion=conversion, amount=500)  # 4500 left: still qualifies
    assert {r.status for r in rewards_of(conversion)} == {RewardStatus.PENDING}
    refund_record(conversion=conversion, amount=1000)  # 3500 left: below the minimum
    assert {r.status for r in rewards_of(conversion)} == {RewardStatus.VOIDED}


def test_empty_code_pool_retries_with_backoff_then_fails_visibly(acme: Any) -> None:
    program = program_with(acme, type_="one_sided", rules={"hold_days": 0})
    pool = CodePool.objects.create(program=program, name="Spring")
    version = ProgramVersion.objects.get(program=program)
    version.config["advocate_reward"].update(fulfilment="code_pool", code_pool=pool.public_id)
    version.save()
    advocate = enrol(program)
    conversion = order(advocate, "p-1")
    (reward,) = rewards_of(conversion)
    assert reward.status == RewardStatus.APPROVED
    assert reward.attempts == 1
    assert "empty" in reward.last_error
    assert reward.next_attempt_at is not None
    assert reward.next_attempt_at - timezone.now() > timedelta(seconds=50)
    now = timezone.now()
    for _attempt in range(2, fulfilment.max_attempts() + 1):
        now += timedelta(hours=7)
        fulfilment.reward_fulfil_attempt(reward_id=reward.pk, now=now)
    reward.refresh_from_db()
    assert reward.status == RewardStatus.FAILED
    assert reward.attempts == fulfilment.max_attempts()
    # The merchant uploads codes and retries: issued from the pool.
    PoolCode.objects.create(pool=pool, code="SPRING-1")
    fulfilment.reward_retry(reward=reward)
    reward.refresh_from_db()
    assert (reward.status, reward.fulfilment_code) == (RewardStatus.ISSUED, "SPRING-1")


# --- Review ----------------------------------------------------------------------------------


def test_review_holds_rewards_until_a_reviewer_decides(acme: Any, world: World) -> None:
    program = program_with(acme, fraud={"disposable_email": "review"})
    advocate = enrol(program)
    flagged = fresh(order(advocate, "f-1", email="someone@mailinator.com"))
    assert flagged.status == ConversionStatus.REVIEW
    assert {r.status for r in rewards_of(flagged)} == {RewardStatus.HELD}
    assert "disposable_email" in rules_of(flagged)
    approved = pipeline.conversion_review_approve(
        conversion=flagged, note="Known customer", actor=world.alice
    )
    assert approved.status == ConversionStatus.QUALIFIED
    assert {r.status for r in rewards_of(flagged)} == {RewardStatus.PENDING}
    with pytest.raises(Exception, match="not in review"):
        pipeline.conversion_review_reject(conversion=flagged, actor=world.alice)

    second = fresh(order(advocate, "f-2", email="other@mailinator.com"))
    with pytest.raises(PermissionError):
        pipeline.conversion_review_reject(conversion=second, actor=world.bob)  # a viewer
    pipeline.conversion_review_reject(conversion=second, note="Fake", actor=world.alice)
    assert {r.status for r in rewards_of(second)} == {RewardStatus.REJECTED}
    from accounts.models import AuditEvent

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"conversion.review_approved", "conversion.review_rejected"} <= actions


# --- Dispatch, over-limit, what-if -----------------------------------------------------------


@override_settings(PIPELINE_EVALUATE_ON_COMMIT=False)
def test_dispatcher_claims_with_a_lease_and_hands_out_again_after_it(acme: Any) -> None:
    program = program_with(acme)
    advocate = enrol(program)
    conversion = order(advocate, "d-1")
    assert fresh(conversion).status == ConversionStatus.RECEIVED
    # A dispatch whose task is lost (we intercept it): the lease keeps others off the row...
    from unittest import mock

    with mock.patch("rewards.tasks.conversions_evaluate_task.apply_async"):
        assert pipeline.conversions_dispatch() == 1
    assert pipeline.conversions_dispatch() == 0
    assert fresh(conversion).status == ConversionStatus.RECEIVED
    # ...until it runs out; then the next dispatch evaluates it.
    later = timezone.now() + timedelta(seconds=pipeline._lease_seconds() + 1)
    assert pipeline.conversions_dispatch(now=later) == 1
    assert fresh(conversion).status == ConversionStatus.QUALIFIED
    assert fresh(conversion).dispatch_attempts == 2


@override_settings(PIPELINE_EVALUATE_ON_COMMIT=False)
def test_over_limit_conversions_wait_for_the_upgrade(acme: Any) -> None:
    from unittest import mock

    program = program_with(acme)
    advocate = enrol(program)
    conversion = order(advocate, "l-1")
    with mock.patch("rewards.pipeline._over_limit", return_value=True):
        pipeline.conversions_dispatch()
    stored = fresh(conversion)
    assert (stored.status, stored.over_limit) == (ConversionStatus.RECEIVED, True)
    assert pipeline.conversions_dispatch() == 0  # not handed out while over the limit
    assert pipeline.over_limit_release(merchant_id=acme.pk) == 1
    with mock.patch("rewards.pipeline._over_limit", return_value=False):
        pipeline.conversions_dispatch()
    assert fresh(conversion).status == ConversionStatus.QUALIFIED


def test_what_if_reports_changes_without_changing_anything(acme: Any) -> None:
    program = program_with(acme)
    advocate = enrol(program)
    small = order(advocate, "w-1", amount=1500, email="f1@example.com")
    big = order(advocate, "w-2", amount=9000, email="f2@example.com")
    before = {c.pk: (c.status, c.reasons) for c in Conversion.objects.all()}
    reward_rows = list(Reward.objects.values_list("pk", "status"))
    version = ProgramVersion.objects.get(program=program)
    version.config["rules"]["min_order_amount"] = 2000
    version.save()
    report = pipeline.what_if(program=program)
    assert report.examined == 2
    assert [(c.conversion.pk, c.before, c.after) for c in report.changes] == [
        (small.pk, "qualified", "rejected")
    ]
    assert report.summary() == {"qualified→rejected": 1}
    assert big.pk not in {c.conversion.pk for c in report.changes}
    assert {c.pk: (c.status, c.reasons) for c in Conversion.objects.all()} == before
    assert list(Reward.objects.values_list("pk", "status")) == reward_rows


@override_settings(PIPELINE_EVALUATE_ON_COMMIT=False)
def test_refund_before_evaluation_keeps_attribution_and_pays_nothing(acme: Any) -> None:
    program = program_with(acme, rules={"min_order_amount": 3000})
    advocate = enrol(program)
    full = order(advocate, "e-1", email="f1@example.com")
    refund_record(conversion=full, amount=None)  # before any worker saw it
    stored = fresh(full)
    assert (stored.status, stored.advocate_id) == (ConversionStatus.REFUNDED, advocate.pk)
    assert stored.reasons[-1]["rule"] == "refund"
    assert rewards_of(full) == []
    assert pipeline.conversions_dispatch() == 0  # nothing left to evaluate

    partial = order(advocate, "e-2", email="f2@example.com", amount=5000)
    refund_record(conversion=partial, amount=2500)  # 2500 left: below the minimum
    pipeline.conversions_dispatch()
    assert fresh(partial).status == ConversionStatus.REJECTED
    assert "min_order_amount" in rules_of(partial)
