"""The pipeline with real Celery worker processes on a real Redis broker (a private
redis-server on a free port, so stopping it harms nobody else):

- 100 concurrent deliveries of the same evaluation make one set of rewards;
- a worker killed with SIGKILL while Stripe is answering: after a restart the reward is issued
  exactly once, and the Stripe fake saw one idempotency key and created one promotion code;
- the broker stopped while conversions arrive: the API accepts them all, and all are rewarded
  after the broker returns.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings

from accounts.models import Merchant
from referral_saas import tenancy
from referral_saas.celery import app
from rewards import pipeline
from rewards.models import Reward, RewardStatus
from rewards.tasks import conversion_evaluate_task
from tests.conftest import World, make_key
from tests.stripe_fake import FakeStripe, serve_fake_stripe
from tests.test_pipeline import enrol, order, program_with
from tracking.models import Conversion, ConversionStatus

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Redis:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False

        wait_until(up, 10, "redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class Worker:
    """`celery worker` in its own process group (so SIGKILL takes the pool children too)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.write_text("")
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "referral_saas",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: "ready." in self.log.read_text(), 60, "the worker to be ready")

    def kill(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


def _forget_connections() -> None:
    # Drop (not close) the app's cached connection and producer pools, so the next send
    # connects to the broker URL now configured. kombu keeps its pools per URL.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker(url: str) -> Iterator[None]:
    """Point this process's Celery app at `url` and send for real (not eagerly)."""
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url = url
    app.conf.task_always_eager = False
    _forget_connections()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager = previous
        _forget_connections()


@pytest.fixture
def redis_server() -> Iterator[Redis]:
    server = Redis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with (
        serve_fake_stripe() as server,
        override_settings(STRIPE_SECRET_KEY="sk_test_fake", STRIPE_API_BASE=server.url),
    ):
        yield server


@pytest.fixture
def worker_env(redis_server: Redis, fake: FakeStripe) -> dict[str, str]:
    database = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "referral_saas.settings.test",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "REDIS_URL": redis_server.url,
        "TEST_CELERY_EAGER": "false",
        "STRIPE_SECRET_KEY": "sk_test_fake",
        "STRIPE_API_BASE": fake.url,
        "REWARD_FULFILMENT_LEASE_SECONDS": "3",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    process = Worker(worker_env, tmp_path / "worker.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def acme(world: World) -> Iterator[Merchant]:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_account_id="acct_merchant1")
    with tenancy.merchant_context(world.acme):
        yield world.acme


def status_of(conversion: Conversion) -> str:
    return str(Conversion.objects.values_list("status", flat=True).get(pk=conversion.pk))


@override_settings(PIPELINE_EVALUATE_ON_COMMIT=False)
def test_100_concurrent_deliveries_of_one_evaluation_make_one_set_of_rewards(
    acme: Merchant, redis_server: Redis, worker: Worker
) -> None:
    program = program_with(acme)
    advocate = enrol(program)
    conversion = order(advocate, "w-100")
    assert status_of(conversion) == ConversionStatus.RECEIVED
    with broker(redis_server.url):
        for _ in range(100):
            conversion_evaluate_task.apply_async(
                kwargs={"merchant_id": acme.pk, "conversion_id": conversion.pk}
            )
    wait_until(lambda: status_of(conversion) == "qualified", 60, "the evaluation")
    done = "Task rewards.tasks.conversion_evaluate_task"

    def all_ran() -> bool:
        return worker.log.read_text().count(f"{done}") >= 200  # received + succeeded lines

    wait_until(all_ran, 120, "all 100 deliveries to run")
    log = worker.log.read_text()
    assert log.count("succeeded in") >= 100
    assert "'qualified'" in log
    assert log.count("'skipped'") == 99
    rewards = Reward.objects.filter(conversion=conversion)
    assert sorted(rewards.values_list("recipient", flat=True)) == ["advocate", "friend"]


@override_settings(PIPELINE_EVALUATE_ON_COMMIT=False)
def test_worker_killed_mid_issuance_issues_exactly_once_after_restart(
    acme: Merchant, redis_server: Redis, worker: Worker, fake: FakeStripe
) -> None:
    program = program_with(
        acme,
        "one_sided",
        advocate_reward={
            "kind": "percent_discount",
            "percent": 20,
            "fulfilment": "stripe_promotion_code",
        },
        rules={"hold_days": 0},
    )
    advocate = enrol(program)
    conversion = order(advocate, "w-kill")
    fake.hold_next("/v1/promotion_codes", 4.0)  # Stripe answers slowly the first time
    with broker(redis_server.url):
        conversion_evaluate_task.apply_async(
            kwargs={"merchant_id": acme.pk, "conversion_id": conversion.pk}
        )
        wait_until(lambda: bool(fake.keys("/v1/promotion_codes")), 60, "the Stripe call")
        worker.kill()  # SIGKILL while the promotion code request is in flight
        reward = Reward.objects.get(conversion=conversion)
        assert reward.status == RewardStatus.APPROVED  # not issued, not lost
        assert reward.attempts == 1
        worker.start()
        time.sleep(3.5)  # the attempt's lease (REWARD_FULFILMENT_LEASE_SECONDS=3) runs out
        with override_settings(REWARD_FULFILMENT_LEASE_SECONDS=3):
            wait_until(
                lambda: (
                    pipeline.rewards_fulfil_sweep() >= 0
                    and Reward.objects.get(pk=reward.pk).status == RewardStatus.ISSUED
                ),
                60,
                "the re-run to issue the reward",
            )
    reward.refresh_from_db()
    (promo,) = fake.created("promotion_code")
    assert reward.fulfilment_external_id == promo["id"]
    assert reward.fulfilment_code == promo["code"]
    assert fake.keys("/v1/promotion_codes") == {f"{reward.public_id}:issue:promo"}
    assert len(fake.created("coupon")) == 1


def test_broker_outage_delays_but_loses_no_conversion(
    acme: Merchant, redis_server: Redis, worker: Worker, client: Client
) -> None:
    program = program_with(acme, fraud={"velocity": "off"})  # 20 orders for one advocate
    key = make_key(acme)
    advocate = enrol(program)
    redis_server.stop()
    with override_settings(PIPELINE_EVALUATE_ON_COMMIT=False, PIPELINE_LEASE_SECONDS=2):
        for n in range(20):
            response = client.post(
                "/api/v1/conversions",
                {
                    "order_id": f"outage-{n}",
                    "amount": 5000,
                    "currency": "EUR",
                    "customer": {"email": f"friend{n}@example.com"},
                    "code": advocate.code,
                },
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key.plaintext}",
            )
            assert response.status_code == 202, response.content
        tenancy.activate(acme)  # the API requests above ended the fixture's merchant context
        with broker(redis_server.url):
            # The dispatcher runs while the broker is down: it claims, cannot send, loses nothing.
            assert pipeline.conversions_dispatch() == 20
            assert set(Conversion.objects.values_list("status", flat=True)) == {"received"}
            redis_server.start()
            time.sleep(2.1)  # the leases of the lost dispatch run out

            def all_rewarded() -> bool:
                pipeline.conversions_dispatch()
                return (
                    Reward.objects.filter(conversion__order_id__startswith="outage-").count() == 40
                )

            wait_until(all_rewarded, 90, "every conversion to be rewarded")
    assert set(Conversion.objects.values_list("status", flat=True)) == {"qualified"}
