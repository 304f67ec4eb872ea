"""Celery tasks of outbound webhook delivery: thin wrappers around `webhooks.delivery`.

Found by Celery's autodiscovery (`webhooks.tasks`). The task names are pinned to the ones they
had in `rewards.tasks_webhooks`, so messages queued before the move (and beat's schedule) still
find them.
"""

from __future__ import annotations

from referral_saas.celery import app
from referral_saas.workers import merchant_task
from webhooks import delivery

# One sweep dispatches at most this many batches, so a huge backlog cannot keep one beat task
# running for long; the next sweep continues.
MAX_BATCHES_PER_SWEEP = 20


# Pinned: the name these tasks had before the move to `webhooks` (queued messages carry it).
_OLD_MODULE = "rewards.tasks_webhooks"


@merchant_task(name=f"{_OLD_MODULE}.webhook_deliver_task")
def webhook_deliver_task(*, merchant_id: int, delivery_id: int, attempt: int) -> bool:
    """Make attempt `attempt + 1` of a delivery. Safe to run twice, even concurrently: the claim
    is a conditional UPDATE on the attempt counter, so a duplicate sends nothing. Returns
    whether this run sent."""
    sent = delivery.delivery_attempt(delivery_id=delivery_id, expected_attempts=attempt)
    return sent is not None


@merchant_task(name=f"{_OLD_MODULE}.webhook_replay_task")
def webhook_replay_task(*, merchant_id: int, delivery_id: int, attempt: int) -> bool:
    """A manual attempt queued by `delivery.endpoint_recover` (replaying what an endpoint
    missed). Claimed on the attempt counter like a scheduled one: a duplicate sends nothing."""
    sent = delivery.delivery_attempt(
        delivery_id=delivery_id, expected_attempts=attempt, manual=True
    )
    return sent is not None


@app.task(name=f"{_OLD_MODULE}.webhook_deliveries_sweep_task")
def webhook_deliveries_sweep_task() -> int:
    """Dispatch the pending deliveries whose next attempt is due, across merchants (beat)."""
    dispatched = 0
    for _ in range(MAX_BATCHES_PER_SWEEP):
        batch = delivery.deliveries_sweep()
        dispatched += batch
        if batch < delivery.SWEEP_BATCH:
            break
    return dispatched
