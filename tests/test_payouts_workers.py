"""Payouts with real Celery worker processes on a private Redis (as the fulfilment tests in
tests/test_pipeline_workers.py): 50 duplicate deliveries of the payout run make one payout and
one Stripe transfer; a worker killed with SIGKILL while Stripe is answering the transfer
leaves the payout processing, and after a restart it is paid exactly once (one idempotency
key, one transfer at Stripe)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.test import override_settings

from accounts.models import Merchant
from payouts.models import Payout, PayoutDetails, PayoutMethod, PayoutStatus
from payouts.tasks import payouts_run_task
from referral_saas import tenancy
from tests.conftest import World
from tests.stripe_fake import FakeStripe
from tests.test_payouts import cash_program, earn
from tests.test_pipeline import enrol
from tests.test_pipeline_workers import (  # noqa: F401 - fixtures
    Redis,
    Worker,
    broker,
    fake,
    redis_server,
    wait_until,
    worker,
)
from tests.test_pipeline_workers import worker_env as pipeline_worker_env  # noqa: F401
from tracking.models import Advocate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_env(pipeline_worker_env: dict[str, str]) -> dict[str, str]:  # noqa: F811
    return {**pipeline_worker_env, "PAYOUT_LEASE_SECONDS": "3"}


@pytest.fixture
def acme(world: World) -> Iterator[Merchant]:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_account_id="acct_merchant1")
    world.acme.refresh_from_db()
    with tenancy.merchant_context(world.acme):
        yield world.acme


def owed_advocate(merchant: Merchant) -> Advocate:
    advocate = enrol(cash_program(merchant))
    PayoutDetails.objects.create(
        advocate=advocate,
        method=PayoutMethod.STRIPE_TRANSFER,
        stripe_account_id="acct_advocate1",
        stripe_payouts_enabled=True,
    )
    earn(advocate, "w-1")
    return advocate


def payout_status() -> str:
    found = Payout.objects.values_list("status", flat=True).first()
    return str(found or "")


def test_50_duplicate_deliveries_of_the_run_make_one_payout_and_one_transfer(
    acme: Merchant,
    redis_server: Redis,  # noqa: F811
    worker: Worker,  # noqa: F811
    fake: FakeStripe,  # noqa: F811
) -> None:
    owed_advocate(acme)
    with broker(redis_server.url):
        for _ in range(50):
            payouts_run_task.apply_async(kwargs={"merchant_id": acme.pk})

    def all_ran() -> bool:
        return worker.log.read_text().count("succeeded in") >= 50

    wait_until(all_ran, 120, "all 50 deliveries to run")
    assert Payout.objects.count() == 1
    assert payout_status() == PayoutStatus.PAID
    assert len(fake.created("transfer")) == 1
    payout = Payout.objects.get()
    assert fake.keys("/v1/transfers") == {f"{payout.public_id}:transfer"}


def test_worker_killed_mid_transfer_pays_exactly_once_after_restart(
    acme: Merchant,
    redis_server: Redis,  # noqa: F811
    worker: Worker,  # noqa: F811
    fake: FakeStripe,  # noqa: F811
) -> None:
    owed_advocate(acme)
    fake.hold_next("/v1/transfers", 4.0)  # Stripe answers slowly the first time
    with broker(redis_server.url):
        payouts_run_task.apply_async(kwargs={"merchant_id": acme.pk})
        wait_until(lambda: bool(fake.keys("/v1/transfers")), 60, "the Stripe call")
        worker.kill()  # SIGKILL while the transfer request is in flight
        payout = Payout.objects.get()
        assert payout.status == PayoutStatus.PROCESSING  # not paid, not lost
        assert payout.attempts == 1
        time.sleep(4.5)  # Stripe finished the first request; the lease (3 s) ran out
        worker.start()
        with override_settings(PAYOUT_LEASE_SECONDS=3):

            def paid() -> bool:
                payouts_run_task.apply_async(kwargs={"merchant_id": acme.pk})
                time.sleep(0.5)
                return payout_status() == PayoutStatus.PAID

            wait_until(paid, 60, "the re-run to pay the payout")
    payout.refresh_from_db()
    (transfer,) = fake.created("transfer")
    assert payout.external_id == transfer["id"]
    assert fake.keys("/v1/transfers") == {f"{payout.public_id}:transfer"}
    assert payout.attempts == 2
