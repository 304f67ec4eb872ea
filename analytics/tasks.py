"""Periodic roll-ups (beat: `rollups_refresh_all_task` every ANALYTICS_ROLLUP_SECONDS,
one task per merchant)."""

from __future__ import annotations

from accounts.models import Merchant
from analytics import services
from referral_saas.celery import app
from referral_saas.workers import merchant_task


@app.task(name="analytics.tasks.rollups_refresh_all_task", acks_late=True)
def rollups_refresh_all_task() -> int:
    """Fan out: one roll-up task per merchant (each may run twice: the refresh is idempotent)."""
    merchant_ids = list(Merchant.objects.values_list("pk", flat=True))
    for merchant_id in merchant_ids:
        rollups_refresh_task.delay(merchant_id=merchant_id)
    return len(merchant_ids)


@merchant_task(name="analytics.tasks.rollups_refresh_task")
def rollups_refresh_task(*, merchant_id: int) -> str:
    state = services.rollups_refresh()
    return f"through {state.through_day}"
