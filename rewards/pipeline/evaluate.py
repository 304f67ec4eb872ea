"""Evaluation (writes): one conversion, decided once, under its row lock."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from programs.models import Program, ProgramStatus, ProgramVersion
from programs.services import program_config, program_pause
from programs.specs import ProgramConfig
from referral_saas import limits
from referral_saas.workers import enqueue_on_commit
from rewards import pipeline as package  # `_over_limit` is looked up there (tests patch it)
from rewards.attribution import Attribution, attribute
from rewards.commissions import is_commission
from rewards.lookups import Lookups
from rewards.models import (
    Reward,
    RewardStatus,
)
from rewards.pipeline.common import _reason
from rewards.pipeline.decide import RewardPlan, decide, version_in_force
from rewards.pipeline.payloads import _webhook_listeners, conversion_payload, emit, reward_payload
from tracking.models import Advocate, Conversion, ConversionStatus, Referral
from tracking.services import advocate_enroll


def _over_limit(conversion: Conversion) -> bool:
    return bool(
        limits.conversion_over_limit(
            merchant_id=conversion.merchant_id,
            conversion_created_at=conversion.created_at,
            conversion_pk=conversion.pk,
        )
    )


def _new_referral_fields(
    conversion: Conversion, attribution: Attribution, advocate: Advocate
) -> dict[str, Any]:
    """The referral of an order's buyer we had not heard of (stored now, or by a batch)."""
    return {
        "program_id": advocate.program_id,
        "advocate": advocate,
        "click": attribution.click,
        "email": conversion.customer_email,
        "customer_id": conversion.customer_id,
        "name": conversion.customer_name,
    }


def _hold_over_limit(conversion: Conversion) -> None:
    """Beyond the plan's monthly limit: kept, and evaluated once the merchant upgrades."""
    conversion.over_limit = True
    conversion.lease_until = None
    conversion.reasons = [
        _reason(
            "plan_limit",
            "info",
            "Over this month's conversion limit of the merchant's plan: stored, and "
            "evaluated once the plan allows it.",
        )
    ]
    conversion.save(update_fields=["over_limit", "lease_until", "reasons"])


def _referral_for(conversion: Conversion, attribution: Attribution, advocate: Advocate) -> Referral:
    """The friend's referral: the attributed one, or a new one for this order's buyer."""
    if attribution.referral is not None:
        return attribution.referral
    try:
        with transaction.atomic():
            return Referral.objects.create(
                **_new_referral_fields(conversion, attribution, advocate)
            )
    except IntegrityError:  # referred meanwhile (one referrer per friend): theirs stands
        return Referral.objects.get(
            program_id=advocate.program_id, email__iexact=conversion.customer_email
        )


def _reward_status(
    decision_status: str, conversion: Conversion, hold_days: int, now: datetime
) -> tuple[str, datetime]:
    available = conversion.occurred_at + timedelta(days=hold_days)
    if decision_status == ConversionStatus.REVIEW:
        return RewardStatus.HELD, available
    if available <= now:
        return RewardStatus.APPROVED, available
    return RewardStatus.PENDING, available


def _create_rewards(
    conversion: Conversion,
    plans: Iterable[RewardPlan],
    *,
    program: Program,
    advocate: Advocate,
    status: str,
    available_at: datetime,
    now: datetime,
) -> list[Reward]:
    """The rewards, built for one INSERT (`Writes.add_rewards`). The caller holds the
    conversion's row lock and saw it undecided, so none exists yet; the unique (conversion,
    recipient, tier) constraint is the backstop that would abort the whole evaluation rather
    than let a duplicate through."""
    rewards = [
        Reward(
            recipient=item.recipient,
            advocate=advocate,
            conversion=conversion,
            program=program,
            tier=item.tier,
            kind=item.spec.kind,
            # A commission's amount is what the plan computed (rewards.commissions).
            amount=item.cost if is_commission(item.spec) else item.spec.amount,
            currency=(item.spec.currency or program.currency)
            if item.spec.amount is not None or is_commission(item.spec)
            else "",
            percent=None if is_commission(item.spec) else item.spec.percent,
            points=item.spec.points,
            label=item.spec.label,
            fulfilment_method=item.spec.fulfilment,
            spec=item.spec.to_dict(),
            cost=item.cost,
            status=status,
            available_at=available_at,
            next_attempt_at=now if status == RewardStatus.APPROVED else None,
            reasons=[_reason("created", status, _created_detail(status, available_at))],
        )
        for item in plans
    ]
    return rewards


def _created_detail(status: str, available_at: datetime) -> str:
    if status == RewardStatus.HELD:
        return "Held while the conversion is reviewed."
    if status == RewardStatus.PENDING:
        return f"On hold until {available_at:%Y-%m-%d %H:%M} UTC (refunds before then void it)."
    return "Approved: the hold period is over."


def _after_rewards_created(rewards: list[Reward]) -> None:
    from rewards.tasks import reward_fulfil_task  # deferred: rewards.tasks imports the pipeline

    for reward in rewards:
        # hosted consumes reward.created (the "tier reached" email), webhooks the outbox
        emit("reward.created", functools.partial(reward_payload, reward), subject=reward)
        if reward.status == RewardStatus.APPROVED:
            emit("reward.approved", functools.partial(reward_payload, reward), subject=reward)
            enqueue_on_commit(
                reward_fulfil_task, merchant_id=reward.merchant_id, reward_id=reward.pk
            )


def conversion_evaluate(*, conversion_id: int, now: datetime | None = None) -> str:
    """Decide one conversion, once. Returns what happened (for logs and tests)."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = (
            Conversion.objects.select_for_update(of=("self",)).filter(pk=conversion_id).first()
        )
        if conversion is None or conversion.status != ConversionStatus.RECEIVED:
            return "skipped"
        if conversion.over_limit:
            return "over_limit"
        if package._over_limit(conversion):
            _hold_over_limit(conversion)
            return "over_limit"
        with _webhook_listeners():
            return _evaluate_locked(conversion, now)


class Writes:
    """Where one evaluation reads its program and writes its outcome. This one, for a single
    conversion, queries and writes at once; `rewards.pipeline.batch.BatchWrites` answers from
    what the batch fetched and writes the whole batch with a few statements."""

    def __init__(self) -> None:
        self.lookups = Lookups()

    def program(self, program_id: int) -> Program:
        return Program.objects.get(pk=program_id)

    def version_and_config(
        self, program: Program, moment: datetime
    ) -> tuple[ProgramVersion, ProgramConfig]:
        version = version_in_force(program, moment)
        return version, program_config(program, version)

    def lock_program(self, program: Program) -> Program:
        """The program under its row lock (budgets are decided under it)."""
        return Program.objects.select_for_update().get(pk=program.pk)

    def lock_advocate(self, advocate: Advocate) -> Advocate:
        """The advocate under its row lock (caps and tier milestones are counted under it)."""
        return Advocate.objects.select_for_update().get(pk=advocate.pk)

    def referral_for(
        self, conversion: Conversion, attribution: Attribution, advocate: Advocate
    ) -> Referral:
        return _referral_for(conversion, attribution, advocate)

    def save(self, conversion: Conversion, fields: list[str] | None = None) -> None:
        conversion.save(update_fields=fields)

    def count_qualified(self, advocate: Advocate) -> None:
        Advocate.objects.filter(pk=advocate.pk).update(
            qualified_conversions=F("qualified_conversions") + 1
        )
        advocate.qualified_conversions += 1

    def add_rewards(self, rewards: list[Reward]) -> None:
        if rewards:
            Reward.objects.bulk_create(rewards)

    def after(self, action: Callable[[], object]) -> None:
        """Run once this evaluation's writes are stored (events need the rewards' ids)."""
        action()

    def flush(self) -> None:
        """Store what is buffered, before a read that must see it (nothing is, here)."""


UNATTRIBUTED_FIELDS = ["status", "reasons", "evaluated_at", "lease_until"]
DECIDED_FIELDS = [
    *UNATTRIBUTED_FIELDS,
    "advocate",
    "referral",
    "program",
    "program_version",
    "risk_score",
    "attributed_by",
]


def _reads_stored_rewards(config: ProgramConfig) -> bool:
    """Tiers, caps and budgets count the rewards already stored."""
    rules = config.rules
    caps = rules.max_rewards_per_advocate is not None or rules.budget_amount is not None
    return bool(config.tiers) or caps


def _evaluate_locked(conversion: Conversion, now: datetime, writes: Writes | None = None) -> str:
    """The evaluation proper, inside the caller's transaction and the conversion's row lock."""
    writes = writes or Writes()
    if conversion.subscription_id:  # its anchor may be an invoice decided earlier in the batch
        writes.flush()
    attribution = attribute(conversion, writes.lookups)
    if attribution.advocate is None:
        conversion.status = ConversionStatus.UNATTRIBUTED
        conversion.reasons = [
            *attribution.reasons,
            _reason("attribution", "unattributed", "No referral code, click or referred email."),
        ]
        conversion.evaluated_at = now
        conversion.lease_until = None
        writes.save(conversion, UNATTRIBUTED_FIELDS)
        return "unattributed"
    program = writes.program(attribution.advocate.program_id)
    version, config = writes.version_and_config(program, conversion.occurred_at)
    if config.rules.budget_amount is not None:  # budgets are checked under this lock
        program = writes.lock_program(program)
    advocate = writes.lock_advocate(attribution.advocate)
    attribution.advocate = advocate
    if _reads_stored_rewards(config):
        writes.flush()
    decision = decide(
        conversion, attribution=attribution, program=program, config=config, lookups=writes.lookups
    )
    referral = writes.referral_for(conversion, attribution, advocate)
    conversion.advocate = advocate
    conversion.referral = referral
    conversion.program = program
    conversion.program_version = version
    conversion.status = decision.status
    conversion.reasons = decision.reasons
    conversion.risk_score = decision.risk_score
    conversion.evaluated_at = now
    conversion.attributed_by = attribution.by
    conversion.lease_until = None
    if attribution.friend_offer is not None and attribution.offer_spent:
        # Deferred: the offer module imports the pipeline's stages.
        from rewards.friend_offer import friend_offer_redeem

        writes.flush()
        not_redeemed = friend_offer_redeem(
            reward=attribution.friend_offer, conversion=conversion, now=now
        )
        if not_redeemed is not None:
            conversion.reasons = [*conversion.reasons, not_redeemed]
    writes.save(conversion, DECIDED_FIELDS)
    # A subscription's later invoice is the same friend paying again (rewards.recurring).
    if decision.status == ConversionStatus.QUALIFIED and decision.new_friend:
        writes.count_qualified(advocate)
        if config.rules.enrol_buyers:
            writes.flush()
            _enrol_buyer(conversion, program)
    rewards: list[Reward] = []
    if decision.rewards:
        status, available = _reward_status(decision.status, conversion, config.rules.hold_days, now)
        rewards = _create_rewards(
            conversion,
            decision.rewards,
            program=program,
            advocate=advocate,
            status=status,
            available_at=available,
            now=now,
        )
        writes.add_rewards(rewards)
    payload = functools.partial(conversion_payload, conversion)
    writes.after(functools.partial(emit, f"conversion.{decision.status}", payload))
    if rewards:
        writes.after(functools.partial(_after_rewards_created, rewards))
    if decision.budget_exhausted:
        writes.flush()
        _budget_exhausted(program, config)
    return str(decision.status)


def _enrol_buyer(conversion: Conversion, program: Program) -> None:
    """`enrol_buyers`: the buyer of a qualified order becomes an advocate of the program, once
    (enrolment is idempotent per program and email); hosted consumes `advocate.created` with
    origin "buyer" and sends the welcome email with their link."""
    if not conversion.customer_email:
        return
    advocate_enroll(
        program=program,
        email=conversion.customer_email,
        name=conversion.customer_name,
        customer_id=conversion.customer_id,
        origin="buyer",
    )


def _budget_exhausted(program: Program, config: ProgramConfig) -> None:
    """Pause the program (when so configured), tell the merchant by email and webhook."""
    # Deferred: rewards.tasks imports the pipeline.
    from rewards.tasks import budget_exhausted_email_task

    if config.rules.budget_action == "pause_program" and program.status == ProgramStatus.ACTIVE:
        program_pause(actor=None, program=program)
        program.status = ProgramStatus.PAUSED
    else:
        return  # already told when it paused (or the merchant chose to only stop rewards)
    emit(
        "program.budget_exhausted",
        {
            "id": program.public_id,
            "object": "program",
            "status": program.status,
            "budget_amount": config.rules.budget_amount,
        },
    )
    enqueue_on_commit(
        budget_exhausted_email_task, merchant_id=program.merchant_id, program_id=program.pk
    )
