"""Release and sweeps: pending rewards whose hold ended are approved, and the periodic
safety net re-enqueues whatever a lost task or a broker outage left behind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Merchant
from referral_saas import tenancy
from referral_saas.workers import enqueue_on_commit
from rewards import transitions
from rewards.models import Reward, RewardStatus
from rewards.pipeline.common import OPEN_STATUSES, _reason
from rewards.pipeline.dispatch import conversions_dispatch


def _per_merchant(queryset_rows: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = defaultdict(list)
    for pk, merchant_id in queryset_rows:
        grouped[merchant_id].append(pk)
    return grouped


def rewards_release_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Approve pending rewards whose hold ended (all merchants) and enqueue their fulfilment."""
    from rewards.tasks import reward_fulfil_task  # deferred: rewards.tasks imports the pipeline

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
                if transitions.reward_transition(
                    Reward(pk=reward_id, merchant_id=merchant_id),
                    "release",
                    reason=_reason("release", "approved", "The hold period ended."),
                    now=now,
                    next_attempt_at=now,
                ):
                    released += 1
                    enqueue_on_commit(
                        reward_fulfil_task, merchant_id=merchant_id, reward_id=reward_id
                    )
    return released


def rewards_fulfil_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Re-enqueue approved rewards whose attempt is due: retries after backoff, and attempts
    whose worker died (their lease in `next_attempt_at` ran out)."""
    # Deferred: fulfilment and rewards.tasks import this package.
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
    """The periodic safety net: nothing stuck stays stuck (lost tasks, broker outages).
    (Webhook deliveries have their own sweeper in `webhooks`, on beat every 30 s.)"""
    # Deferred: the offer module imports the pipeline's stages.
    from rewards.friend_offer import friend_offers_expire_due

    now = now or timezone.now()
    return {
        "conversions": conversions_dispatch(now=now),
        "refunds": refunds_sweep(now=now),
        "released": rewards_release_due(now=now),
        "fulfilments": rewards_fulfil_sweep(now=now),
        "expired_offers": friend_offers_expire_due(now=now),
    }


def refunds_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Apply refunds whose task was lost: fully refunded orders that still have rewards which
    are open or issued. (Partial refunds below a minimum are applied by their task only.)"""
    # Deferred: rewards.tasks imports the pipeline.
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
