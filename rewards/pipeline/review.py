"""Review: a reviewer approves or rejects a conversion held for fraud review. Audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Membership, Role, User
from accounts.services import audit_record
from programs.models import Program
from programs.services import program_config
from programs.specs import ProgramConfig, SpecError
from referral_saas.workers import enqueue_on_commit
from rewards import recurring, transitions
from rewards.models import Reward, RewardStatus
from rewards.pipeline.common import _reason
from rewards.pipeline.decide import Decision, _plan_rewards
from rewards.pipeline.evaluate import _after_rewards_created, _create_rewards, _reward_status
from rewards.pipeline.payloads import conversion_payload, emit
from tracking.models import Advocate, Conversion, ConversionStatus


def _reviewer_check(actor: User | None) -> None:
    if actor is None:
        return
    membership = Membership.objects.filter(user=actor).first()
    if membership is None or membership.role == Role.VIEWER:
        raise PermissionError("Only reviewers, admins and owners may review conversions.")


def conversion_review_approve(
    *,
    conversion: Conversion,
    note: str = "",
    actor: User | None = None,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Conversion:
    """review → qualified: held rewards start their hold (or are approved), tier milestones
    are counted now. Audited."""
    _reviewer_check(actor)
    note = _note(note)
    now = now or timezone.now()
    with transaction.atomic():
        locked = Conversion.objects.select_for_update().get(pk=conversion.pk)
        if locked.status != ConversionStatus.REVIEW:
            raise SpecError({"status": f"A {locked.status} conversion is not in review."})
        program = Program.objects.get(pk=locked.program_id)
        config = program_config(program, locked.program_version)
        advocate = Advocate.objects.select_for_update().get(pk=locked.advocate_id)
        locked.status = ConversionStatus.QUALIFIED
        locked.reviewed_at = now
        locked.review_note = note
        locked.reasons = [
            *locked.reasons,
            _reason("review", "approved", note or "Approved in review.", by=_who(actor)),
        ]
        locked.save(update_fields=["status", "reviewed_at", "review_note", "reasons"])
        # A subscription's later invoice is not one more friend: no count, no milestone.
        new_friend = locked.attributed_by != recurring.RENEWAL
        if new_friend:
            Advocate.objects.filter(pk=advocate.pk).update(
                qualified_conversions=F("qualified_conversions") + 1
            )
        status, available = _reward_status(locked.status, locked, config.rules.hold_days, now)
        # Milestones are counted on qualification: plan the tier rewards this one reached.
        tier_decision = Decision(ConversionStatus.QUALIFIED)
        if config.tiers and new_friend:
            advocate_only = ProgramConfig(
                advocate_reward=None,
                friend_reward=None,
                tiers=config.tiers,
                rules=config.rules,
                fraud=config.fraud,
                variants=(),
            )
            _plan_rewards(tier_decision, locked, program, advocate_only, advocate, tiers=True)
        created = _create_rewards(
            locked,
            tier_decision.rewards,
            program=program,
            advocate=advocate,
            status=status,
            available_at=available,
            now=now,
        )
        if created:
            Reward.objects.bulk_create(created)
        audit_record(
            action="conversion.review_approved",
            actor=actor,
            target=locked,
            data={"note": note},
            request=request,
        )
        emit("conversion.qualified", conversion_payload(locked))
        # Its held rewards after the conversion's event (receivers see conversion.qualified
        # before reward.approved), then the new tier rewards.
        _release_held(locked, status=status, available_at=available, now=now)
        _after_rewards_created(created)
    return locked


def _release_held(
    conversion: Conversion, *, status: str, available_at: datetime, now: datetime
) -> None:
    """The conversion's held rewards start their hold (`pending`) or, when it is already over,
    are approved and their fulfilment enqueued."""
    from rewards.tasks import reward_fulfil_task  # deferred: rewards.tasks imports the pipeline

    approved = status == RewardStatus.APPROVED
    for reward in Reward.objects.select_for_update().filter(
        conversion=conversion, status=RewardStatus.HELD
    ):
        if (
            transitions.reward_transition(
                reward,
                "review_approve" if approved else "review_hold",
                reason=_reason("review", status, "Released by review."),
                now=now,
                available_at=available_at,
                next_attempt_at=now if approved else None,
            )
            and approved
        ):
            enqueue_on_commit(
                reward_fulfil_task, merchant_id=reward.merchant_id, reward_id=reward.pk
            )


def conversion_review_reject(
    *,
    conversion: Conversion,
    note: str = "",
    actor: User | None = None,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Conversion:
    """review → rejected: its held rewards are rejected. Audited."""
    _reviewer_check(actor)
    note = _note(note)
    now = now or timezone.now()
    with transaction.atomic():
        locked = Conversion.objects.select_for_update().get(pk=conversion.pk)
        if locked.status != ConversionStatus.REVIEW:
            raise SpecError({"status": f"A {locked.status} conversion is not in review."})
        locked.status = ConversionStatus.REJECTED
        locked.reviewed_at = now
        locked.review_note = note
        locked.reasons = [
            *locked.reasons,
            _reason("review", "rejected", note or "Rejected in review.", by=_who(actor)),
        ]
        locked.save(update_fields=["status", "reviewed_at", "review_note", "reasons"])
        for reward in Reward.objects.select_for_update().filter(
            conversion=locked, status=RewardStatus.HELD
        ):
            transitions.reward_transition(
                reward,
                "review_reject",
                reason=_reason("review", "rejected", note or "Rejected in review."),
                now=now,
                refresh=False,
            )
        audit_record(
            action="conversion.review_rejected",
            actor=actor,
            target=locked,
            data={"note": note},
            request=request,
        )
        emit("conversion.rejected", conversion_payload(locked))
    return locked


def _note(note: Any) -> str:
    if note is None:
        return ""
    if not isinstance(note, str) or "\x00" in note:
        raise SpecError({"note": "Must be text."})
    note = note.strip()
    if len(note) > 500:
        raise SpecError({"note": "At most 500 characters."})
    return note


def _who(actor: User | None) -> str:
    return actor.email if actor is not None else "system"
