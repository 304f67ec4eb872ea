"""The decision itself (reads only): qualification, fraud, then the rewards an order earns
within caps and budget. The what-if report runs it over past conversions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, Sum

from programs import currencies
from programs.models import Program, ProgramStatus, ProgramVersion
from programs.specs import ProgramConfig, RewardSpec
from rewards import fraud, recurring
from rewards.attribution import Attribution
from rewards.commissions import commission_amount, is_commission
from rewards.lookups import Lookups
from rewards.models import (
    Reward,
    RewardRecipient,
)
from rewards.pipeline.common import NOT_COUNTED, _reason
from rewards.review_evidence import money_detail
from tracking.models import Advocate, Conversion, ConversionStatus


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
    # False for a later invoice of a subscription (rewards.recurring): the same friend paying
    # again, which must not count as one more qualified friend (tiers, stats).
    new_friend: bool = True


def version_in_force(program: Program, moment: datetime) -> ProgramVersion:
    """The configuration the order is judged by: the newest version created at or before the
    order (falling back to the first one for orders older than the program)."""
    versions = ProgramVersion.objects.filter(program=program)
    found = versions.filter(created_at__lte=moment).order_by("-number").first()
    return found or versions.order_by("number").first() or versions.get()


def reward_cost(spec: RewardSpec, *, order_amount: int, currency: str) -> int:
    """What a reward costs the merchant in the order's currency (minor units)."""
    if spec.amount is not None and (spec.currency or currency) == currency:
        return spec.amount
    if spec.percent is not None:
        return order_amount * spec.percent // 100
    return 0


def _cost_currency(currency: str, default: str) -> Q:
    """Rewards whose cost is in `currency`: that of their order, or the program's default for
    friend offers issued before any order."""
    if currency == default:
        return Q(conversion__currency=currency) | Q(conversion__isnull=True)
    return Q(conversion__currency=currency)


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


def _qualification(
    conversion: Conversion,
    program: Program,
    config: ProgramConfig,
    advocate: Advocate,
    *,
    check_status: bool = True,
    renewal: bool = False,
    lookups: Lookups | None = None,
) -> list[dict[str, Any]]:
    """Every rule the order fails (empty: it qualifies). A renewal (a subscription's later
    invoice) is by nature not the buyer's first purchase: those two rules do not apply."""
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
    accepted = currencies.accepted(config, program.currency)
    if conversion.currency not in accepted:
        failed.append(
            _reason(
                "currency",
                "reject",
                f"The order is in {conversion.currency}; this program accepts "
                f"{', '.join(accepted)}.",
                evidence={"order_currency": conversion.currency, "accepted": accepted},
            )
        )
    elif conversion.amount - conversion.refunded_amount < rules.min_order_amount:
        net = conversion.amount - conversion.refunded_amount
        evidence = {
            "amount": net,
            "minimum": rules.min_order_amount,
            "currency": conversion.currency,
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
    if rules.new_customers_only and conversion.new_customer is False and not renewal:
        failed.append(
            _reason("new_customers_only", "reject", "The storefront says the buyer is not new.")
        )
    if rules.first_purchase_only and not renewal:
        earlier = (lookups or Lookups()).earlier_order_of_customer(conversion)
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
    lookups: Lookups | None = None,
) -> tuple[str, int, list[dict[str, Any]]]:
    inp = fraud.FraudInput(
        conversion=conversion,
        advocate=advocate,
        referral=attribution.referral,
        click=attribution.click,
        fraud=config.fraud,
        program_id=program.pk,
    )
    result = fraud.evaluate(inp, facts=lookups.fraud_facts(inp) if lookups else None)
    return result.outcome, result.risk_score, result.reasons()


def decide(
    conversion: Conversion,
    *,
    attribution: Attribution,
    program: Program,
    config: ProgramConfig,
    plan_rewards: bool = True,
    check_status: bool = True,
    lookups: Lookups | None = None,
) -> Decision:
    """Judge an attributed conversion: qualification, fraud, then the rewards it earns.
    `check_status=False` (what-if) ignores whether the program is active today; `lookups`
    are a batch's answers (else one query per question)."""
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
    # The order's currency's amounts (programs.currencies); not accepted: rejected just below.
    config = currencies.in_currency(config, program.currency, conversion.currency) or config
    anchor = attribution.renewal_of
    failed = _qualification(
        conversion,
        program,
        config,
        advocate,
        check_status=check_status,
        renewal=bool(anchor),
        lookups=lookups,
    )
    if anchor is not None:  # judged for fraud at the subscription's first order
        fraud_outcome, risk, fraud_reasons = recurring.anchor_judgement(anchor)
    else:
        fraud_outcome, risk, fraud_reasons = _fraud(
            conversion, attribution, advocate, config, program, lookups
        )
    reasons += failed + fraud_reasons
    if failed or fraud_outcome == "reject":
        return Decision(ConversionStatus.REJECTED, reasons, risk, new_friend=anchor is None)
    status = ConversionStatus.REVIEW if fraud_outcome == "review" else ConversionStatus.QUALIFIED
    decision = Decision(status, reasons, risk, new_friend=anchor is None)
    if plan_rewards and anchor is not None:
        _plan_renewal(decision, conversion, program, config, advocate, anchor)
    elif plan_rewards:
        _plan_rewards(
            decision,
            conversion,
            program,
            config,
            advocate,
            tiers=status == "qualified",
            # A friend who took the offer before purchase has their reward already.
            friend=attribution.friend_offer is None,
        )
    return decision


def _plan(recipient: str, tier: int, spec: RewardSpec, conversion: Conversion) -> RewardPlan:
    cost = reward_cost(spec, order_amount=conversion.amount, currency=conversion.currency)
    if is_commission(spec):  # a share of the order net of refunds, capped
        assert spec.percent is not None
        cost = commission_amount(
            percent=spec.percent,
            max_amount=spec.max_amount,
            net_amount=conversion.amount - conversion.refunded_amount,
        )
    return RewardPlan(recipient, tier, spec, cost)


def _plan_renewal(
    decision: Decision,
    conversion: Conversion,
    program: Program,
    config: ProgramConfig,
    advocate: Advocate,
    anchor: Conversion,
) -> None:
    """A subscription's later invoice: the advocate's recurring commission inside its window
    (rewards.recurring), within the budget; no friend reward, no tier, outside the cap."""
    advocate_reward, _ = _offer(config, advocate)
    spec, reason = recurring.renewal_spec(advocate_reward, anchor=anchor, conversion=conversion)
    decision.reasons.append(reason)
    plans = [_plan(RewardRecipient.ADVOCATE, 0, spec, conversion)] if spec is not None else []
    decision.rewards = _within_budget(decision, plans, conversion, program, config)


def _plan_rewards(
    decision: Decision,
    conversion: Conversion,
    program: Program,
    config: ProgramConfig,
    advocate: Advocate,
    *,
    tiers: bool,
    friend: bool = True,
) -> None:
    """Append the rewards the decision earns, within caps and budget (`friend=False`: no
    friend reward, the friend's offer issued before purchase is theirs)."""
    advocate_reward, friend_reward = _offer(config, advocate)
    plans: list[RewardPlan] = []

    def plan(recipient: str, tier: int, spec: RewardSpec) -> None:
        plans.append(_plan(recipient, tier, spec, conversion))

    if advocate_reward is not None:
        plan(RewardRecipient.ADVOCATE, 0, advocate_reward)
    if friend_reward is not None and friend:
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
        earned = Reward.objects.filter(
            advocate=advocate, recipient=RewardRecipient.ADVOCATE
        ).exclude(conversion__attributed_by=recurring.RENEWAL)  # the cap counts friends
        if config.currencies:  # several currencies: each has its own cap
            earned = earned.filter(conversion__currency=conversion.currency)
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
    decision.rewards = _within_budget(decision, plans, conversion, program, config)


def _within_budget(
    decision: Decision,
    plans: list[RewardPlan],
    conversion: Conversion,
    program: Program,
    config: ProgramConfig,
) -> list[RewardPlan]:
    """The plans the program's budget still pays for (the reasons say which it does not)."""
    rules = config.rules
    if rules.budget_amount is not None:
        spending = Reward.objects.filter(program=program)
        if config.currencies:  # several currencies: each has its own budget
            spending = spending.filter(_cost_currency(conversion.currency, program.currency))
        spent = spending.exclude(status__in=NOT_COUNTED).aggregate(total=Sum("cost"))["total"] or 0
        kept = []
        for item in plans:
            if spent + item.cost > rules.budget_amount:
                decision.budget_exhausted = True
                evidence: dict[str, Any] = {"budget": rules.budget_amount, "spent": spent}
                evidence |= {"currency": conversion.currency, "recipient": item.recipient}
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
    return plans
