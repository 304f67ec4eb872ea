"""Delivery under concurrency, with real commits (transactional database) and threads: the same
task run twice at once sends once; two sweepers never take the same rows; an event emitted in a
committed transaction is delivered after the commit, and not at all after a rollback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from referral_saas import tenancy
from tests.conftest import World
from tests.webhook_receiver import Receiver, receiver
from webhooks import delivery as delivery_services
from webhooks.delivery import deliveries_sweep
from webhooks.delivery import outbox_record as emit
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import endpoint_create
from webhooks.tasks import webhook_deliver_task

__all__ = ["receiver"]

pytestmark = pytest.mark.django_db(transaction=True)


def _in_threads(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run `work` in `count` threads released together; each thread has its own connection."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(work())
        except BaseException as error:  # reported in the test thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


@pytest.fixture
def held_back(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """Mute the after-commit enqueue (tests run the tasks themselves); records what it got."""
    dispatched: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def record(batch: list[tuple[int, int, int]]) -> None:
        with lock:
            dispatched.extend(batch)

    monkeypatch.setattr(delivery_services, "_enqueue", record)
    return dispatched


def _committed_delivery(world: World) -> WebhookDelivery:
    with tenancy.merchant_context(world.acme):
        with transaction.atomic():
            message = emit("reward.issued", {"id": "rwd_1"})
        return WebhookDelivery.objects.get(message=message)


def test_the_same_delivery_task_run_concurrently_sends_once(
    world: World, receiver: Receiver, held_back: list[tuple[int, int, int]]
) -> None:
    receiver.behaviour.delay_seconds = 0.5  # keep the first sender busy while others try
    with tenancy.merchant_context(world.acme):
        endpoint_create(url=receiver.url)
    for round_number in range(3):
        delivery = _committed_delivery(world)
        before = len(receiver.requests)

        results = _in_threads(
            4,
            lambda delivery=delivery: webhook_deliver_task(
                merchant_id=world.acme.pk, delivery_id=delivery.pk, attempt=0
            ),
        )

        assert sorted(results) == [False, False, False, True], round_number
        assert len(receiver.requests) == before + 1
        with tenancy.merchant_context(world.acme):
            stored = WebhookDelivery.objects.get(pk=delivery.pk)
            assert (stored.status, stored.attempts) == ("succeeded", 1)
            assert WebhookAttempt.objects.filter(delivery=stored).count() == 1


def test_two_sweepers_never_dispatch_the_same_delivery(
    world: World, held_back: list[tuple[int, int, int]]
) -> None:
    with tenancy.merchant_context(world.acme):
        WebhookEndpoint.objects.create(url="https://a.example/", secret="whsec_x")
        for number in range(40):
            with transaction.atomic():
                emit("reward.issued", {"n": number})
    held_back.clear()  # the emits' own dispatches; now only the sweepers'
    later = timezone.now() + timedelta(minutes=3)

    counts = _in_threads(4, lambda: deliveries_sweep(now=later, limit=15))

    assert sum(counts) == 40
    assert len(held_back) == 40
    assert len({delivery_id for delivery_id, _, _ in held_back}) == 40


class Abort(Exception):
    pass


def _emit_then_fail() -> None:
    with transaction.atomic():
        emit("advocate.created", {"id": "adv_2"})
        raise Abort


def test_an_event_is_delivered_after_its_transaction_commits_and_not_after_a_rollback(
    world: World, receiver: Receiver
) -> None:
    seen_during_transaction: list[int] = []
    with tenancy.merchant_context(world.acme):
        endpoint_create(url=receiver.url)
        with transaction.atomic():
            emit("advocate.created", {"id": "adv_1"})
            seen_during_transaction.append(len(receiver.requests))
        assert seen_during_transaction == [0]
        assert len(receiver.requests) == 1  # the eager task ran right after the commit

        with pytest.raises(Abort):
            _emit_then_fail()
        assert len(receiver.requests) == 1
        assert WebhookDelivery.objects.count() == 1
