"""Celery tasks of payouts: the beat fans out one run per merchant with payout work; the run
itself (`services.payouts_run`) is idempotent, so a duplicate or re-delivered task is harmless."""

from __future__ import annotations

from payouts import services
from referral_saas.celery import app
from referral_saas.workers import enqueue_on_commit, merchant_task


@merchant_task(name="payouts.tasks.payouts_run_task")
def payouts_run_task(*, merchant_id: int) -> dict[str, int]:
    return services.payouts_run()


@app.task(name="payouts.tasks.payouts_run_all_task", acks_late=True)
def payouts_run_all_task() -> int:
    """Beat: one run per merchant with something owed or open."""
    merchants = services.merchants_with_payout_work()
    for merchant_id in merchants:
        enqueue_on_commit(payouts_run_task, merchant_id=merchant_id)
    return len(merchants)
