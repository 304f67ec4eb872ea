"""The reward pipeline: from a received conversion to rewards, exactly once.

    dispatch ──► evaluate (attribution → qualification → fraud → rewards) ──► release ──► fulfil
                                 ▲ refunds void or claw back at any point ▲

- `conversions_dispatch` is the outbox reader: the API stores a conversion as `received` (one
  INSERT, no broker round trip) and this claims batches of them with
  `SELECT … FOR UPDATE SKIP LOCKED`, gives each a lease and enqueues one evaluation task per
  merchant batch. A lost task, a dead worker or a broker outage only lets the lease run out; the
  next dispatch hands the conversion out again. Nothing is lost, only delayed.
- `conversion_evaluate` locks the conversion row and acts only on `received`, so any number of
  duplicate or concurrent deliveries of the same evaluation make one decision; the database's
  unique (conversion, recipient, tier) constraint backs it. It writes the decision with every
  reason (which rule, what evidence) on the conversion.
- `decide` is the decision itself and reads only, so the what-if report (`what_if`) can run a
  program's current rules over past conversions without changing anything.
- Caps and tier milestones are counted under the advocate's row lock; budgets under the
  program's row lock, so concurrent evaluations cannot overspend.

Outbound webhook messages are written in the same transaction as the change they describe
(`rewards.delivery.emit`); emails and fulfilment are enqueued after commit.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Membership, Merchant, Role, User
from accounts.services import audit_record
from programs.models import Program, ProgramStatus, ProgramVersion
from programs.services import program_config
from programs.specs import ProgramConfig, RewardSpec, SpecError
from referral_saas import tenancy
from referral_saas.db import skip_locked
from referral_saas.workers import enqueue_on_commit
from rewards.attribution import Attribution, attribute
from rewards.models import (
    WEBHOOK_EVENTS,
    Reward,
    RewardRecipient,
    RewardStatus,
    WebhookEndpoint,
)
from rewards.review_evidence import money_detail
from tracking.models import Advocate, Conversion, ConversionStatus, Referral

logger = logging.getLogger(__name__)

# Rewards that count against caps and budgets (everything but the ones that will never pay).
NOT_COUNTED = (RewardStatus.REJECTED, RewardStatus.VOIDED)
OPEN_STATUSES = (RewardStatus.PENDING, RewardStatus.HELD, RewardStatus.APPROVED)
EVALUATED = (ConversionStatus.QUALIFIED, ConversionStatus.REJECTED, ConversionStatus.REVIEW)


def _lease_seconds() -> int:
    return int(getattr(settings, "PIPELINE_LEASE_SECONDS", 120))


def _reason(rule: str, outcome: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"rule": rule, "outcome": outcome, "detail": detail, **extra}


# The events the current merchant's enabled endpoints listen to, looked up once per
# evaluation (None: not looked up, ask rewards.delivery every time).
_listening: ContextVar[frozenset[str] | None] = ContextVar("_listening", default=None)


@contextmanager
def _webhook_listeners() -> Iterator[None]:
    subscribed: set[str] = set()
    for events in WebhookEndpoint.objects.filter(enabled=True).values_list("events", flat=True):
        subscribed.update(events or WEBHOOK_EVENTS)
    token = _listening.set(frozenset(subscribed))
    try:
        yield
    finally:
        _listening.reset(token)


def emit(event_type: str, data: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
    """Write an outbound webhook message in the current transaction (see rewards.delivery).
    `data` may be a callable, built only when someone listens to the event."""
    from rewards.delivery import emit as delivery_emit

    listening = _listening.get()
    if listening is not None and event_type not in listening:
        return
    delivery_emit(event_type, data() if callable(data) else data)


# --- Decision (reads only) --------------------------------------------------------------------


@dataclass(frozen=True)
class RewardPlan:
    recipient: str
    tier: int
    spec: RewardSpec
    cost: int


@dataclass
class Decision:
    status: str
    reasons: list[dict[str, Any]] = field(default_factory=list)
    risk_score: int | None = None
    rewards: list[RewardPlan] = field(default_factory=list)
    budget_exhausted: bool = False


def version_in_force(program: Program, moment: datetime) -> ProgramVersion:
    """The configuration the order is judged by: the newest version created at or before the
    order (falling back to the first one for orders older than the program)."""
    versions = ProgramVersion.objects.filter(program=program)
    found = versions.filter(created_at__lte=moment).order_by("-number").first()
    return found or versions.order_by("number").first() or versions.get()


def reward_cost(spec: RewardSpec, *, order_amount: int, currency: str) -> int:
    """What a reward costs the merchant in the program's currency (minor units)."""
    if spec.amount is not None and (spec.currency or currency) == currency:
        return spec.amount
    if spec.percent is not None:
        return order_amount * spec.percent // 100
    return 0


def _period_start(period: str, moment: datetime) -> datetime | None:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    return None  # lifetime


def _offer(
    config: ProgramConfig, advocate: Advocate
) -> tuple[RewardSpec | None, RewardSpec | None]:
    """The advocate's and the friend's reward, with the advocate's A/B variant applied."""
    advocate_reward, friend_reward = config.advocate_reward, config.friend_reward
    for variant in config.variants:
        if variant.key == advocate.variant_key:
            advocate_reward = variant.advocate_reward or advocate_reward
            friend_reward = variant.friend_reward or friend_reward
    return advocate_reward, friend_reward


def _customer_conversions(conversion: Conversion) -> Any:
    """The buyer's other orders: same normalised email (so a plus-tag or Gmail dots do not
    make a returning customer "new"), or the same customer id. Both are indexed."""
    from rewards.fraud.emails import NormalisedEmail, normalise_email

    match = Q(email_normalised=normalise_email(conversion.customer_email))
    if conversion.customer_id:
        match |= Q(customer_id=conversion.customer_id)
    return (
        Conversion.objects.alias(email_normalised=NormalisedEmail("customer_email"))
        .filter(match)
        .exclude(pk=conversion.pk)
    )


def _qualification(
    conversion: Conversion,
    program: Program,
    config: ProgramConfig,
    advocate: Advocate,
    *,
    check_status: bool = True,
) -> list[dict[str, Any]]:
    """Every rule the order fails (empty: it qualifies)."""
    failed: list[dict[str, Any]] = []
    rules = config.rules
    occurred = conversion.occurred_at
    if check_status and program.status != ProgramStatus.ACTIVE:
        failed.append(
            _reason("program_active", "reject", f"The program is {program.status}, not active.")
        )
    if program.starts_at and occurred < program.starts_at:
        failed.append(_reason("program_dates", "reject", "The order is before the program start."))
    if program.ends_at and occurred > program.ends_at:
        failed.append(_reason("program_dates", "reject", "The order is after the program ended."))
    if advocate.blocked_at is not None:
        failed.append(
            _reason(
                "advocate_blocked",
                "reject",
                f"The advocate was blocked: {advocate.blocked_reason or 'no reason given'}.",
            )
        )
    if conversion.currency != program.currency and rules.min_order_amount:
        failed.append(
            _reason(
                "currency",
                "reject",
                f"The order is in {conversion.currency}; the program's minimum is in "
                f"{program.currency}.",
            )
        )
    elif conversion.amount - conversion.refunded_amount < rules.min_order_amount:
        net = conversion.amount - conversion.refunded_amount
        evidence = {
            "amount": net,
            "minimum": rules.min_order_amount,
            "currency": program.currency,
            "refunded": bool(conversion.refunded_amount),
        }
        failed.append(
            _reason(
                "min_order_amount",
                "reject",
                str(money_detail("min_order_amount", evidence)),
                evidence=evidence,
            )
        )
    if rules.new_customers_only and conversion.new_customer is False:
        failed.append(
            _reason("new_customers_only", "reject", "The storefront says the buyer is not new.")
        )
    if rules.first_purchase_only:
        earlier = (
            _customer_conversions(conversion)
            .filter(occurred_at__lt=occurred)
            .values_list("order_id", flat=True)
            .first()
        )
        if earlier is not None:
            failed.append(
                _reason(
                    "first_purchase_only",
                    "reject",
                    f"Not the buyer's first purchase (earlier order {earlier}).",
                    evidence={"earlier_order_id": earlier},
                )
            )
    return failed


def _fraud(
    conversion: Conversion,
    attribution: Attribution,
    advocate: Advocate,
    config: ProgramConfig,
    program: Program,
) -> tuple[str, int, list[dict[str, Any]]]:
    from rewards import fraud

    result = fraud.evaluate(
        fraud.FraudInput(
            conversion=conversion,
            advocate=advocate,
            referral=attribution.referral,
            click=attribution.click,
            fraud=config.fraud,
            program_id=program.pk,
        )
    )
    return result.outcome, result.risk_score, result.reasons()


def decide(
    conversion: Conversion,
    *,
    attribution: Attribution,
    program: Program,
    config: ProgramConfig,
    plan_rewards: bool = True,
    check_status: bool = True,
) -> Decision:
    """Judge an attributed conversion: qualification, fraud, then the rewards it earns.
    `check_status=False` (what-if) ignores whether the program is active today."""
    advocate = attribution.advocate
    assert advocate is not None
    reasons = list(attribution.reasons)
    reasons.append(
        _reason(
            "attribution",
            "info",
            f"Attributed to advocate {advocate.code} by {attribution.by}.",
            evidence={"by": attribution.by, "advocate": advocate.public_id},
        )
    )
    failed = _qualification(conversion, program, config, advocate, check_status=check_status)
    fraud_outcome, risk, fraud_reasons = _fraud(conversion, attribution, advocate, config, program)
    reasons += failed + fraud_reasons
    if failed or fraud_outcome == "reject":
        return Decision(ConversionStatus.REJECTED, reasons, risk)
    status = ConversionStatus.REVIEW if fraud_outcome == "review" else ConversionStatus.QUALIFIED
    decision = Decision(status, reasons, risk)
    if plan_rewards:
        _plan_rewards(decision, conversion, program, config, advocate, tiers=status == "qualified")
    return decision


def _plan_rewards(
    decision: Decision,
    conversion: Conversion,
    program: Program,
    config: ProgramConfig,
    advocate: Advocate,
    *,
    tiers: bool,
) -> None:
    """Append the rewards the decision earns, within caps and budget."""
    advocate_reward, friend_reward = _offer(config, advocate)
    plans: list[RewardPlan] = []

    def plan(recipient: str, tier: int, spec: RewardSpec) -> None:
        cost = reward_cost(spec, order_amount=conversion.amount, currency=program.currency)
        plans.append(RewardPlan(recipient, tier, spec, cost))

    if advocate_reward is not None:
        plan(RewardRecipient.ADVOCATE, 0, advocate_reward)
    if friend_reward is not None:
        plan(RewardRecipient.FRIEND, 0, friend_reward)
    if tiers and config.tiers:
        count = advocate.qualified_conversions + 1
        for index, tier in enumerate(config.tiers, start=1):
            reached = count == tier.threshold or (
                tier.repeat and count > 0 and count % tier.threshold == 0
            )
            if not reached:
                continue
            if not tier.repeat and (
                Reward.objects.filter(
                    advocate=advocate, recipient=RewardRecipient.ADVOCATE, tier=index
                )
                .exclude(status__in=NOT_COUNTED)
                .exists()
            ):
                continue
            plan(RewardRecipient.ADVOCATE, index, tier.reward)
            decision.reasons.append(
                _reason(
                    "tier",
                    "info",
                    f"Milestone reached: {count} qualified friends (tier {index}, "
                    f"threshold {tier.threshold}).",
                )
            )
    rules = config.rules
    if rules.max_rewards_per_advocate is not None:
        since = _period_start(rules.max_rewards_period, conversion.occurred_at)
        earned = Reward.objects.filter(advocate=advocate, recipient=RewardRecipient.ADVOCATE)
        if since is not None:
            earned = earned.filter(conversion__occurred_at__gte=since)
        count = earned.exclude(status__in=NOT_COUNTED).count()
        room = max(rules.max_rewards_per_advocate - count, 0)
        kept: list[RewardPlan] = []
        for item in plans:
            if item.recipient == RewardRecipient.ADVOCATE:
                if room == 0:
                    decision.reasons.append(
                        _reason(
                            "max_rewards_per_advocate",
                            "info",
                            f"The advocate already has {count} rewards this "
                            f"{rules.max_rewards_period} (cap {rules.max_rewards_per_advocate}); "
                            "no advocate reward for this order.",
                        )
                    )
                    continue
                room -= 1
            kept.append(item)
        plans = kept
    if rules.budget_amount is not None:
        spent = (
            Reward.objects.filter(program=program)
            .exclude(status__in=NOT_COUNTED)
            .aggregate(total=Sum("cost"))["total"]
            or 0
        )
        kept = []
        for item in plans:
            if spent + item.cost > rules.budget_amount:
                decision.budget_exhausted = True
                evidence: dict[str, Any] = {"budget": rules.budget_amount, "spent": spent}
                evidence |= {"currency": program.currency, "recipient": item.recipient}
                decision.reasons.append(
                    _reason(
                        "budget", "info", str(money_detail("budget", evidence)), evidence=evidence
                    )
                )
                continue
            spent += item.cost
            kept.append(item)
        if spent >= rules.budget_amount:
            decision.budget_exhausted = True
        plans = kept
    decision.rewards = plans


# --- Evaluation (writes) ----------------------------------------------------------------------


def _over_limit(conversion: Conversion) -> bool:
    from billing.limits import conversion_over_limit

    return bool(
        conversion_over_limit(
            merchant_id=conversion.merchant_id,
            conversion_created_at=conversion.created_at,
            conversion_pk=conversion.pk,
        )
    )


def _referral_for(conversion: Conversion, attribution: Attribution, advocate: Advocate) -> Referral:
    """The friend's referral: the attributed one, or a new one for this order's buyer."""
    if attribution.referral is not None:
        return attribution.referral
    try:
        with transaction.atomic():
            return Referral.objects.create(
                program_id=advocate.program_id,
                advocate=advocate,
                click=attribution.click,
                email=conversion.customer_email,
                customer_id=conversion.customer_id,
                name=conversion.customer_name,
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
    """One INSERT for all of them. The caller holds the conversion's row lock and saw it
    undecided, so none exists yet; the unique (conversion, recipient, tier) constraint is the
    backstop that would abort the whole evaluation rather than let a duplicate through."""
    rewards = [
        Reward(
            recipient=item.recipient,
            advocate=advocate,
            conversion=conversion,
            program=program,
            tier=item.tier,
            kind=item.spec.kind,
            amount=item.spec.amount,
            currency=(item.spec.currency or program.currency)
            if item.spec.amount is not None
            else "",
            percent=item.spec.percent,
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
    if rewards:
        Reward.objects.bulk_create(rewards)
    return rewards


def _created_detail(status: str, available_at: datetime) -> str:
    if status == RewardStatus.HELD:
        return "Held while the conversion is reviewed."
    if status == RewardStatus.PENDING:
        return f"On hold until {available_at:%Y-%m-%d %H:%M} UTC (refunds before then void it)."
    return "Approved: the hold period is over."


def reward_payload(reward: Reward) -> dict[str, Any]:
    """The reward as the API shows it (the webhook payload's `data`)."""
    from rewards.api.reward_serializers import RewardOutputSerializer

    return dict(RewardOutputSerializer(instance=reward).data)


def conversion_payload(conversion: Conversion) -> dict[str, Any]:
    return {
        "id": conversion.public_id,
        "object": "conversion",
        "order_id": conversion.order_id,
        "amount": conversion.amount,
        "currency": conversion.currency,
        "status": conversion.status,
        "risk_score": conversion.risk_score,
        "reasons": [
            {k: r.get(k) for k in ("rule", "outcome", "detail")} for r in conversion.reasons
        ],
    }


def _after_rewards_created(rewards: list[Reward]) -> None:
    from rewards.tasks import reward_fulfil_task

    for reward in rewards:
        emit("reward.created", functools.partial(reward_payload, reward))
        if reward.status == RewardStatus.APPROVED:
            emit("reward.approved", functools.partial(reward_payload, reward))
            enqueue_on_commit(
                reward_fulfil_task, merchant_id=reward.merchant_id, reward_id=reward.pk
            )
        if reward.tier > 0 and reward.status != RewardStatus.HELD:
            from hosted.tasks import email_tier_reached_task

            enqueue_on_commit(
                email_tier_reached_task, merchant_id=reward.merchant_id, reward_id=reward.pk
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
        if _over_limit(conversion):
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
            return "over_limit"
        with _webhook_listeners():
            return _evaluate_locked(conversion, now)


def _evaluate_locked(conversion: Conversion, now: datetime) -> str:
    """The evaluation proper, inside conversion_evaluate's transaction and row lock."""
    attribution = attribute(conversion)
    if attribution.advocate is None:
        conversion.status = ConversionStatus.UNATTRIBUTED
        conversion.reasons = [
            *attribution.reasons,
            _reason("attribution", "unattributed", "No referral code, click or referred email."),
        ]
        conversion.evaluated_at = now
        conversion.lease_until = None
        conversion.save(update_fields=["status", "reasons", "evaluated_at", "lease_until"])
        return "unattributed"
    program = Program.objects.get(pk=attribution.advocate.program_id)
    version = version_in_force(program, conversion.occurred_at)
    config = program_config(program, version)
    if config.rules.budget_amount is not None:  # budgets are checked under this lock
        program = Program.objects.select_for_update().get(pk=program.pk)
    advocate = Advocate.objects.select_for_update().get(pk=attribution.advocate.pk)
    attribution.advocate = advocate
    decision = decide(conversion, attribution=attribution, program=program, config=config)
    referral = _referral_for(conversion, attribution, advocate)
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
    conversion.save()
    if decision.status == ConversionStatus.QUALIFIED:
        Advocate.objects.filter(pk=advocate.pk).update(
            qualified_conversions=F("qualified_conversions") + 1
        )
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
    emit(f"conversion.{decision.status}", functools.partial(conversion_payload, conversion))
    _after_rewards_created(rewards)
    if decision.budget_exhausted:
        _budget_exhausted(program, config)
    return str(decision.status)


def _budget_exhausted(program: Program, config: ProgramConfig) -> None:
    """Pause the program (when so configured), tell the merchant by email and webhook."""
    from programs.services import program_pause
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


# --- Dispatch (the outbox reader) -------------------------------------------------------------


DISPATCH_SQL = """
UPDATE tracking_conversion SET lease_until = %s, dispatch_attempts = dispatch_attempts + 1
WHERE id IN (
    SELECT id FROM tracking_conversion
    WHERE status = 'received' AND over_limit = false
      AND (lease_until IS NULL OR lease_until < %s)
    ORDER BY created_at
    LIMIT %s
    {skip_locked}
)
RETURNING id, merchant_id
"""


def conversions_dispatch(*, limit: int = 1000, batch: int = 50, now: datetime | None = None) -> int:
    """Claim up to `limit` received conversions (all merchants) and enqueue their evaluation in
    per-merchant batches. Returns how many were handed out."""
    from rewards.tasks import conversions_evaluate_task

    now = now or timezone.now()
    lease = now + timedelta(seconds=_lease_seconds())
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(DISPATCH_SQL.format(skip_locked=skip_locked()), [lease, now, limit])
            rows = cursor.fetchall()
        by_merchant: dict[int, list[int]] = defaultdict(list)
        for conversion_id, merchant_id in rows:
            by_merchant[merchant_id].append(conversion_id)
        for merchant_id, ids in by_merchant.items():
            for start in range(0, len(ids), batch):
                enqueue_on_commit(
                    conversions_evaluate_task,
                    merchant_id=merchant_id,
                    conversion_ids=sorted(ids[start : start + batch]),
                )
    return len(rows)


def over_limit_release(*, merchant_id: int) -> int:
    """After an upgrade: let the merchant's over-limit conversions be evaluated."""
    merchant = Merchant.objects.get(pk=merchant_id)
    with tenancy.merchant_context(merchant):
        return Conversion.objects.filter(over_limit=True, status=ConversionStatus.RECEIVED).update(
            over_limit=False, lease_until=None
        )


# --- Release and retries ----------------------------------------------------------------------


def _per_merchant(queryset_rows: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = defaultdict(list)
    for pk, merchant_id in queryset_rows:
        grouped[merchant_id].append(pk)
    return grouped


def rewards_release_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Approve pending rewards whose hold ended (all merchants) and enqueue their fulfilment."""
    from rewards.tasks import reward_fulfil_task

    now = now or timezone.now()
    released = 0
    due = list(
        Reward.unscoped_all_merchants.filter(status=RewardStatus.PENDING, available_at__lte=now)
        .order_by("available_at")
        .values_list("pk", "merchant_id")[:limit]
    )
    for merchant_id, ids in _per_merchant(due).items():
        merchant = Merchant.objects.get(pk=merchant_id)
        with tenancy.merchant_context(merchant), transaction.atomic():
            for reward_id in ids:
                changed = Reward.objects.filter(pk=reward_id, status=RewardStatus.PENDING).update(
                    status=RewardStatus.APPROVED,
                    next_attempt_at=now,
                    updated_at=now,
                )
                if changed:
                    released += 1
                    reward = Reward.objects.get(pk=reward_id)
                    emit("reward.approved", reward_payload(reward))
                    enqueue_on_commit(
                        reward_fulfil_task, merchant_id=merchant_id, reward_id=reward_id
                    )
    return released


def rewards_fulfil_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Re-enqueue approved rewards whose attempt is due: retries after backoff, and attempts
    whose worker died (their lease in `next_attempt_at` ran out)."""
    from rewards.fulfilment import AUTOMATIC_METHODS
    from rewards.tasks import reward_fulfil_task

    now = now or timezone.now()
    due = list(
        Reward.unscoped_all_merchants.filter(
            status=RewardStatus.APPROVED,
            next_attempt_at__lte=now,
            fulfilment_method__in=AUTOMATIC_METHODS,
        )
        .order_by("next_attempt_at")
        .values_list("pk", "merchant_id")[:limit]
    )
    for pk, merchant_id in due:
        reward_fulfil_task.apply_async(kwargs={"merchant_id": merchant_id, "reward_id": pk})
    return len(due)


def pipeline_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic safety net: nothing stuck stays stuck (lost tasks, broker outages)."""
    from rewards.delivery import deliveries_sweep

    now = now or timezone.now()
    return {
        "conversions": conversions_dispatch(now=now),
        "refunds": refunds_sweep(now=now),
        "released": rewards_release_due(now=now),
        "fulfilments": rewards_fulfil_sweep(now=now),
        "deliveries": deliveries_sweep(now=now),
    }


def refunds_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Apply refunds whose task was lost: fully refunded orders that still have rewards which
    are open or issued. (Partial refunds below a minimum are applied by their task only.)"""
    from rewards.tasks import conversion_refunded_task

    rows = list(
        Reward.unscoped_all_merchants.filter(
            conversion__refunded_amount=F("conversion__amount"),
            conversion__refunded_amount__gt=0,
            status__in=(*OPEN_STATUSES, RewardStatus.ISSUED, RewardStatus.FAILED),
        )
        .values_list("conversion_id", "merchant_id")
        .distinct()[:limit]
    )
    for conversion_id, merchant_id in rows:
        conversion_refunded_task.apply_async(
            kwargs={"merchant_id": merchant_id, "conversion_id": conversion_id}
        )
    return len(rows)


# --- Refunds ----------------------------------------------------------------------------------


def conversion_refund_apply(*, conversion_id: int, now: datetime | None = None) -> dict[str, int]:
    """After a refund: when the order is fully refunded (or the rest falls below the program's
    minimum), rewards not yet issued are voided and issued ones clawed back."""
    from rewards.fulfilment import reward_claw_back

    now = now or timezone.now()
    counts = {"voided": 0, "clawed_back": 0}
    with transaction.atomic():
        conversion = Conversion.objects.select_for_update().get(pk=conversion_id)
        if conversion.evaluated_at is None and conversion.status == ConversionStatus.REFUNDED:
            _attribute_refunded(conversion, now)
            return counts
        net = conversion.amount - conversion.refunded_amount
        full = net == 0
        if not full and conversion.program_version_id is not None and conversion.program_id:
            program = Program.objects.get(pk=conversion.program_id)
            config = program_config(program, conversion.program_version)
            full = net < config.rules.min_order_amount
        if not full:
            return counts
        why = (
            "The order was refunded in full."
            if net == 0
            else "After refunds the order is below the program's minimum."
        )
        for reward in Reward.objects.select_for_update().filter(conversion=conversion):
            if reward.status in (*OPEN_STATUSES, RewardStatus.FAILED):
                Reward.objects.filter(pk=reward.pk, status=reward.status).update(
                    status=RewardStatus.VOIDED,
                    updated_at=now,
                    reasons=[*reward.reasons, _reason("refund", "voided", why)],
                )
                reward.refresh_from_db()
                counts["voided"] += 1
                emit("reward.voided", reward_payload(reward))
            elif reward.status == RewardStatus.ISSUED:
                reward_claw_back(reward=reward, why=why, now=now)
                counts["clawed_back"] += 1
    return counts


def _attribute_refunded(conversion: Conversion, now: datetime) -> None:
    """An order refunded in full before it was evaluated earns nothing, but its attribution
    still counts for analytics (referred revenue, refund rates): record it, and why."""
    attribution = attribute(conversion)
    reasons = [
        *attribution.reasons,
        _reason("refund", "info", "Refunded in full before it was evaluated: no rewards."),
    ]
    if attribution.advocate is not None:
        conversion.advocate = attribution.advocate
        conversion.referral = attribution.referral
        conversion.program_id = attribution.advocate.program_id
        conversion.attributed_by = attribution.by
    conversion.reasons = reasons
    conversion.evaluated_at = now
    conversion.lease_until = None
    conversion.save()


# --- Review -----------------------------------------------------------------------------------


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
        Advocate.objects.filter(pk=advocate.pk).update(
            qualified_conversions=F("qualified_conversions") + 1
        )
        status, available = _reward_status(locked.status, locked, config.rules.hold_days, now)
        released = []
        for reward in Reward.objects.select_for_update().filter(
            conversion=locked, status=RewardStatus.HELD
        ):
            Reward.objects.filter(pk=reward.pk).update(
                status=status,
                available_at=available,
                next_attempt_at=now if status == RewardStatus.APPROVED else None,
                updated_at=now,
                reasons=[*reward.reasons, _reason("review", status, "Released by review.")],
            )
            reward.refresh_from_db()
            released.append(reward)
        # Milestones are counted on qualification: plan the tier rewards this one reached.
        tier_decision = Decision(ConversionStatus.QUALIFIED)
        if config.tiers:
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
        audit_record(
            action="conversion.review_approved",
            actor=actor,
            target=locked,
            data={"note": note},
            request=request,
        )
        emit("conversion.qualified", conversion_payload(locked))
        from rewards.tasks import reward_fulfil_task

        for reward in released:
            if reward.status == RewardStatus.APPROVED:
                emit("reward.approved", reward_payload(reward))
                enqueue_on_commit(
                    reward_fulfil_task, merchant_id=reward.merchant_id, reward_id=reward.pk
                )
        _after_rewards_created(created)
    return locked


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
            Reward.objects.filter(pk=reward.pk).update(
                status=RewardStatus.REJECTED,
                updated_at=now,
                reasons=[
                    *reward.reasons,
                    _reason("review", "rejected", note or "Rejected in review."),
                ],
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


# --- What-if ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIfChange:
    conversion: Conversion
    before: str
    after: str
    reasons: list[dict[str, Any]]


@dataclass(frozen=True)
class WhatIfReport:
    examined: int
    changes: list[WhatIfChange]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for change in self.changes:
            counts[f"{change.before}→{change.after}"] += 1
        return dict(counts)


def what_if(*, program: Program, limit: int = 1000) -> WhatIfReport:
    """Run the program's current rules (qualification and fraud) over its last `limit`
    evaluated conversions and report which decisions would change. Changes nothing: every
    read runs in a transaction that is rolled back."""
    config = program_config(program)
    changes = []
    examined = 0
    with transaction.atomic():
        conversions = list(
            Conversion.objects.filter(program=program, status__in=EVALUATED)
            .select_related("advocate", "referral", "referral__click")
            .order_by("-occurred_at")[:limit]
        )
        for conversion in conversions:
            if conversion.advocate is None:
                continue
            examined += 1
            attribution = Attribution(
                advocate=conversion.advocate,
                referral=conversion.referral,
                click=conversion.referral.click if conversion.referral else None,
                by=conversion.attributed_by or "stored",
            )
            decision = decide(
                conversion,
                attribution=attribution,
                program=program,
                config=config,
                plan_rewards=False,
                check_status=False,
            )
            before = conversion.status
            if decision.status != before:
                changes.append(
                    WhatIfChange(conversion, before, str(decision.status), decision.reasons)
                )
        transaction.set_rollback(True)
    return WhatIfReport(examined=examined, changes=changes)
