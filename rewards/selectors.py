"""Reads of rewards: the API's list and detail, and the rewards of a page of conversions."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from rewards.models import Reward


def reward_list(
    *,
    status: str | None = None,
    recipient: str | None = None,
    advocate: str | None = None,
    conversion: str | None = None,
) -> QuerySet[Reward]:
    rewards = Reward.objects.select_related("advocate", "conversion")
    if status is not None:
        rewards = rewards.filter(status=status)
    if recipient is not None:
        rewards = rewards.filter(recipient=recipient)
    if advocate is not None:
        rewards = rewards.filter(advocate__public_id=advocate)
    if conversion is not None:
        rewards = rewards.filter(conversion__public_id=conversion)
    return rewards


def reward_get(public_id: str) -> Reward | None:
    if "\x00" in public_id:  # PostgreSQL cannot compare text with a NUL: not found
        return None
    return reward_list().filter(public_id=public_id).first()


def rewards_for_conversions(conversion_ids: Iterable[int]) -> dict[int, list[Reward]]:
    """The rewards of each conversion (by primary key), in one query, oldest first."""
    ids = list(conversion_ids)
    found: dict[int, list[Reward]] = {pk: [] for pk in ids}
    if not ids:
        return found
    rewards = Reward.objects.filter(conversion_id__in=ids).select_related("advocate", "conversion")
    for reward in rewards.order_by("pk"):
        found[reward.conversion_id].append(reward)
    return found
