"""Reads of payouts: the API shape, lists for the dashboard and the advocate's portal."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from payouts.models import Payout, PayoutItem
from rewards.models import Reward


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.isoformat().replace("+00:00", "Z"))


def payout_rewards(payout: Payout) -> list[str]:
    """The public ids of the rewards the payout carries (earnings and deductions, live or
    released: a failed payout still says what it was for)."""
    reward_ids = (
        PayoutItem.objects.filter(payout=payout).order_by("pk").values_list("reward_id", flat=True)
    )
    public = dict(Reward.objects.filter(pk__in=list(reward_ids)).values_list("pk", "public_id"))
    return [public[rid] for rid in reward_ids if rid in public]


def payout_data(payout: Payout, *, rewards: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": payout.public_id,
        "object": "payout",
        "advocate": payout.advocate.public_id,
        "amount": payout.amount,
        "currency": payout.currency,
        "method": payout.method,
        "status": payout.status,
        "failure_reason": payout.failure_reason or None,
        "rewards": payout_rewards(payout) if rewards is None else rewards,
        "created_at": _iso(payout.created_at),
        "paid_at": _iso(payout.paid_at),
    }


def payout_list(*, status: str | None = None, advocate: str | None = None) -> QuerySet[Payout]:
    payouts = Payout.objects.select_related("advocate").order_by("-created_at", "-pk")
    if status:
        payouts = payouts.filter(status=status)
    if advocate:
        payouts = payouts.filter(advocate__public_id=advocate)
    return payouts


def payout_get(public_id: str) -> Payout | None:
    return Payout.objects.select_related("advocate").filter(public_id=public_id).first()


def payouts_data(payouts: list[Payout]) -> list[dict[str, Any]]:
    """Many payouts in two queries (payouts, then every item with its reward id)."""
    items: dict[int, list[str]] = {}
    for payout_id, reward_public_id in (
        PayoutItem.objects.filter(payout__in=[p.pk for p in payouts])
        .order_by("pk")
        .values_list("payout_id", "reward__public_id")
    ):
        items.setdefault(payout_id, []).append(reward_public_id)
    return [payout_data(p, rewards=items.get(p.pk, [])) for p in payouts]
