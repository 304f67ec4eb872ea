"""Dispatch, the outbox reader: claims received conversions with a lease and enqueues their
evaluation; and the release of over-limit conversions after an upgrade."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Merchant
from referral_saas import tenancy
from referral_saas.db import skip_locked
from referral_saas.workers import enqueue_on_commit
from tracking.models import Conversion, ConversionStatus


def _lease_seconds() -> int:
    return int(getattr(settings, "PIPELINE_LEASE_SECONDS", 120))


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
    # Deferred: rewards.tasks imports the pipeline.
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
