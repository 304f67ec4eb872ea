"""The nightly retention job (beat: `retention_run_all_task`, 03:15 UTC), one task per
merchant."""

from __future__ import annotations

import logging

from accounts.models import Merchant
from referral_saas.celery import app
from referral_saas.workers import merchant_task
from retention import services

logger = logging.getLogger(__name__)


@app.task(name="retention.tasks.retention_run_all_task", acks_late=True)
def retention_run_all_task() -> int:
    """Fan out: one retention task per merchant (each may run twice: the run is idempotent),
    then delete the months of clicks every merchant has cleared (idempotent too; with a
    broker it acts on what the previous nights cleared)."""
    merchant_ids = list(Merchant.objects.values_list("pk", flat=True))
    for merchant_id in merchant_ids:
        retention_run_task.delay(merchant_id=merchant_id)
    deleted = services.clicks_expired_drop()
    if deleted:
        logger.info("retention: %s expired clicks deleted", deleted)
    return len(merchant_ids)


@merchant_task(name="retention.tasks.retention_run_task")
def retention_run_task(*, merchant_id: int) -> str:
    run = services.retention_run()
    return (
        f"clicks {run.clicks_cleared}, consents {run.consents_cleared}, "
        f"referrals {run.referrals_cleared}"
    )
