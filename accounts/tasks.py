"""Periodic housekeeping for accounts-level rows."""

from __future__ import annotations

from accounts import testmode
from accounts.api.idempotency import idempotency_records_purge_expired
from referral_saas.celery import app
from referral_saas.workers import merchant_task


@app.task(name="accounts.tasks.idempotency_records_purge_expired_task", acks_late=True)
def idempotency_records_purge_expired_task() -> int:
    """Delete expired `IdempotencyRecord`s of every merchant in batches (beat, hourly).

    Safe to run twice or concurrently: it deletes only rows already past `expires_at`, which the
    API treats as absent anyway."""
    return idempotency_records_purge_expired()


@merchant_task(name="accounts.tasks.test_data_erase_task")
def test_data_erase_task(*, merchant_id: int, erasure_id: int) -> str:
    """Erase a test data space (`accounts.testmode.test_data_erase_run`); runs inside it."""
    return testmode.test_data_erase_run(erasure_id=erasure_id)
