"""Commissions: a `cash` or `account_credit` reward given as `percent` of the order. What it
earns is that share of the order's amount net of refunds (rounded down to the minor unit), at
most the spec's `max_amount`. The amount is fixed on the reward when it is created and lowered
when a partial refund arrives before it is issued (`commission_adjust`)."""

from __future__ import annotations

from datetime import datetime

from programs.specs import COMMISSION_KINDS, RewardSpec
from rewards.models import Reward, RewardStatus

ADJUSTABLE = (RewardStatus.PENDING, RewardStatus.HELD, RewardStatus.APPROVED, RewardStatus.FAILED)


def is_commission(spec: RewardSpec) -> bool:
    return spec.kind in COMMISSION_KINDS and spec.percent is not None and spec.amount is None


def commission_amount(*, percent: int, max_amount: int | None, net_amount: int) -> int:
    earned = max(net_amount, 0) * percent // 100
    return min(earned, max_amount) if max_amount is not None else earned


def commission_adjust(*, reward: Reward, net_amount: int, now: datetime) -> bool:
    """A partial refund before issue: the commission follows the order's new net amount (the
    caller holds the reward's row lock)."""
    spec = reward.spec or {}
    # Issued commissions paid by payout follow too: the payouts ledger deducts the difference
    # from the advocate's next payout. Other methods' issued amounts are what was given.
    adjustable = reward.status in ADJUSTABLE or (
        reward.status == RewardStatus.ISSUED and reward.fulfilment_method == "payout"
    )
    if not adjustable or spec.get("percent") is None or "amount" in spec:
        return False
    amount = commission_amount(
        percent=int(spec["percent"]), max_amount=spec.get("max_amount"), net_amount=net_amount
    )
    if amount == reward.amount:
        return False
    detail = f"Commission recalculated on the order's amount net of refunds: {amount}."
    Reward.objects.filter(pk=reward.pk, status=reward.status).update(
        amount=amount,
        cost=amount,
        updated_at=now,
        reasons=[*reward.reasons, {"rule": "commission", "outcome": "adjusted", "detail": detail}],
    )
    return True
