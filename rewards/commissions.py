"""Commissions: a `cash` or `account_credit` reward given as `percent` of the order. What it
earns is that share of the order's amount net of refunds (rounded down to the minor unit), at
most the spec's `max_amount`. The amount is fixed on the reward when it is created and lowered
when a partial refund arrives (`commission_adjust`), also after it was paid: the difference is
then owed back: deducted from the advocate's next payout (payouts.services) or netted against
their next Stripe transfer (rewards.fulfilment)."""

from __future__ import annotations

import functools
from datetime import datetime

from programs.specs import COMMISSION_KINDS, RewardSpec
from referral_saas.money import format_money
from rewards.models import Reward, RewardStatus

ADJUSTABLE = (RewardStatus.PENDING, RewardStatus.HELD, RewardStatus.APPROVED, RewardStatus.FAILED)


def is_commission(spec: RewardSpec) -> bool:
    return spec.kind in COMMISSION_KINDS and spec.percent is not None and spec.amount is None


def commission_amount(*, percent: int, max_amount: int | None, net_amount: int) -> int:
    earned = max(net_amount, 0) * percent // 100
    return min(earned, max_amount) if max_amount is not None else earned


def commission_adjust(*, reward: Reward, net_amount: int, now: datetime) -> bool:
    """A partial refund: the commission follows the order's new net amount (the caller holds
    the reward's row lock). Not yet issued, it is simply lowered. Already issued, what was
    given is owed back: by `payout`, the payouts ledger deducts the difference from the
    advocate's next payout; by any other method (a Stripe transfer or balance credit, by
    hand), `given_amount` keeps what was given and the ledger deducts the difference the same
    way. Never a silent loss; the reason says how much and where it goes."""
    spec = reward.spec or {}
    issued = reward.status == RewardStatus.ISSUED
    if not (reward.status in ADJUSTABLE or issued):
        return False
    # Only commissions follow the order: a percent *discount* (the friend's 15 % off) was a
    # share of the price, not an amount owed, and has no amount to lower.
    if reward.kind not in COMMISSION_KINDS or spec.get("percent") is None or "amount" in spec:
        return False
    amount = commission_amount(
        percent=int(spec["percent"]), max_amount=spec.get("max_amount"), net_amount=net_amount
    )
    if amount == reward.amount:
        return False
    money = functools.partial(format_money, currency=reward.currency or "EUR")
    detail = f"Commission recalculated on the order's amount net of refunds: {money(amount)}."
    changes: dict[str, object] = {}
    if issued:
        given = reward.given_amount if reward.given_amount is not None else reward.amount or 0
        if reward.fulfilment_method != "payout":
            changes["given_amount"] = given
        detail += (
            f" {money(given - amount)} of the {money(given)} already given "
            f"({reward.fulfilment_method}) is owed back: deducted from the advocate's next "
            "payout, or netted against their next Stripe transfer."
        )
    Reward.objects.filter(pk=reward.pk, status=reward.status).update(
        amount=amount,
        cost=amount,
        updated_at=now,
        reasons=[*reward.reasons, {"rule": "commission", "outcome": "adjusted", "detail": detail}],
        **changes,
    )
    return True
