"""Tasks run inside a merchant given by a required `merchant_id`, and are sent after commit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction

from programs.models import Program
from referral_saas.celery import app
from referral_saas.workers import MissingMerchantId, enqueue_on_commit, merchant_task
from tests.conftest import World
from tests.factories import make_program

calls: list[dict[str, Any]] = []


@merchant_task(name="tests.count_programs")
def count_programs(*, merchant_id: int) -> int:
    count = Program.objects.count()
    calls.append({"merchant_id": merchant_id, "programs": count})
    return count


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    calls.clear()
    yield
    calls.clear()


def test_task_without_merchant_id_fails_closed_before_its_body_runs(world: World) -> None:
    with pytest.raises(MissingMerchantId):
        count_programs.apply(kwargs={}, throw=True)
    assert calls == []


def test_task_for_an_unknown_merchant_fails_before_its_body_runs(world: World) -> None:
    with pytest.raises(Exception, match="does not exist"):
        count_programs.apply(kwargs={"merchant_id": 10**9}, throw=True)
    assert calls == []


def test_task_sees_only_its_merchants_rows(world: World) -> None:
    make_program(world.acme, slug="a1")
    make_program(world.acme, slug="a2")
    make_program(world.globex, slug="g1")

    result = count_programs.apply(kwargs={"merchant_id": world.acme.pk}, throw=True)

    assert result.get() == 2
    assert calls == [{"merchant_id": world.acme.pk, "programs": 2}]


def test_enqueue_waits_for_commit(world: World, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enqueue_on_commit(count_programs, merchant_id=world.acme.pk)
        assert calls == []  # nothing sent inside the transaction
    assert len(callbacks) == 1
    callbacks[0]()
    assert calls == [{"merchant_id": world.acme.pk, "programs": 0}]


@pytest.mark.django_db(transaction=True)
def test_enqueue_in_a_rolled_back_transaction_sends_nothing() -> None:
    class Boom(Exception):
        pass

    def enqueue_then_fail() -> None:
        with transaction.atomic():
            enqueue_on_commit(count_programs, merchant_id=1)
            raise Boom

    with pytest.raises(Boom):
        enqueue_then_fail()
    assert calls == []


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_runs_the_task_inside_the_merchant(settings: Any) -> None:
    # given the tenants, and a Celery worker consuming from the real Redis broker
    from tests.factories import MerchantFactory

    acme = MerchantFactory(slug="acme-worker")
    make_program(acme, slug="w1")
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            # when the task is sent through the broker
            count_programs.apply_async(kwargs={"merchant_id": acme.pk})
            deadline = time.monotonic() + 20
            while not calls and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        app.conf.task_always_eager = True
    # then the worker ran it once, inside that merchant
    assert calls == [{"merchant_id": acme.pk, "programs": 1}]
