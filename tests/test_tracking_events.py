"""`advocate.created` and `referral.created`, emitted by tracking inside the transaction that
creates the row (issue 13): once per new advocate or referral, never for a repeat, with the
resource as the API shows it, rolled back with the change, and delivered to a merchant's
endpoint by a real Celery worker on a private Redis."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import Client

import events
from events import registry
from programs.models import Program
from referral_saas import tenancy
from tests.conftest import World, make_key
from tests.factories import make_program
from tests.test_api_tracking import call
from tests.test_pipeline_workers import (
    Redis,
    Worker,
    broker,
    free_port,
    wait_until,
)
from tests.webhook_receiver import Receiver, receiver, verifies
from tracking import services
from tracking.models import Advocate, Referral
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookMessage
from webhooks.services import endpoint_create

__all__ = ["receiver"]  # the fixture, imported for pytest


@pytest.fixture
def key(world: World) -> str:
    return make_key(world.acme).plaintext


@pytest.fixture
def program(world: World) -> Program:
    return make_program(world.acme)


def _messages(world: World, event_type: str) -> list[dict[str, Any]]:
    with tenancy.merchant_context(world.acme):
        return [
            message.payload
            for message in WebhookMessage.objects.filter(event_type=event_type).order_by("pk")
        ]


def _listening(world: World, url: str = "https://hooks.shop.example/") -> WebhookEndpoint:
    with tenancy.merchant_context(world.acme):
        return WebhookEndpoint.objects.create(url=url, secret="whsec_x")


def test_enrolling_emits_advocate_created_once_with_the_api_representation(
    client: Client, world: World, key: str, program: Program
) -> None:
    # given an endpoint listening to every event
    _listening(world)
    body = {"program": program.public_id, "email": "maria@example.com", "name": "Maria"}

    # when the same person is enrolled twice
    first = call(client, "post", "/api/v1/advocates", key, body)
    again = call(client, "post", "/api/v1/advocates", key, body)

    # then one event, carrying the advocate as the API answered it (without the magic link)
    assert (first.status_code, again.status_code) == (201, 200)
    [payload] = _messages(world, "advocate.created")
    assert payload["type"] == "advocate.created"
    assert payload["data"] == {**first.json(), "portal_url": None}
    assert first.json()["portal_url"]  # the API's own answer keeps it
    assert _messages(world, "referral.created") == []


def test_recording_a_referral_emits_referral_created_once(
    client: Client, world: World, key: str, program: Program
) -> None:
    _listening(world)
    with tenancy.merchant_context(world.acme):
        maria = services.advocate_enroll(program=program, email="maria@example.com").advocate
    body = {"code": maria.code, "email": "friend@example.com", "name": "Luca"}

    first = call(client, "post", "/api/v1/referrals", key, body)
    again = call(client, "post", "/api/v1/referrals", key, body)

    assert (first.status_code, again.status_code) == (201, 200)
    [payload] = _messages(world, "referral.created")
    # the referral resource; the friend's offer the answer also carries is a reward of its own
    referral = {k: v for k, v in first.json().items() if not k.startswith("friend_reward")}
    assert payload["data"] == referral
    assert payload["data"]["advocate"] == maria.public_id
    assert [p["data"]["id"] for p in _messages(world, "advocate.created")] == [maria.public_id]


def test_nobody_listening_writes_no_message_and_builds_no_payload(
    world: World, program: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the payload was built although nobody listens")

    monkeypatch.setattr(services, "advocate_payload", never)
    monkeypatch.setattr(services, "referral_payload", never)
    with tenancy.merchant_context(world.acme):
        maria = services.advocate_enroll(program=program, email="maria@example.com").advocate
        services.referral_record(code=maria.code, email="friend@example.com")
        assert WebhookMessage.objects.count() == 0
        assert Referral.objects.count() == 1


class ConsumerFailed(Exception):
    pass


def _failing(event: events.Event) -> None:
    raise ConsumerFailed(event.type)


def test_the_events_are_emitted_inside_the_creating_transaction(
    world: World, program: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given consumers that fail: their failure must undo the change they were told about
    monkeypatch.setitem(registry._consumers, "advocate.created", [_failing])
    with tenancy.merchant_context(world.acme):
        with pytest.raises(ConsumerFailed, match=r"advocate\.created"):
            services.advocate_enroll(program=program, email="maria@example.com")
        assert Advocate.objects.count() == 0

        monkeypatch.setitem(registry._consumers, "advocate.created", [])
        maria = services.advocate_enroll(program=program, email="maria@example.com").advocate
        monkeypatch.setitem(registry._consumers, "referral.created", [_failing])
        with pytest.raises(ConsumerFailed, match=r"referral\.created"):
            services.referral_record(code=maria.code, email="friend@example.com")
        assert Referral.objects.count() == 0


# --- Consumers instead of upward imports -------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
ABOVE_TRACKING = ("rewards", "hosted", "analytics", "billing", "webhooks")


def _imported(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize(
    "producer",
    [
        "tracking/services.py",
        "tracking/api/views.py",
        *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "billing").rglob("*.py")),
    ],
)
def test_producers_in_tracking_and_billing_do_not_import_the_apps_that_consume(
    producer: str,
) -> None:
    above = ABOVE_TRACKING if producer.startswith("tracking/") else ("hosted", "analytics")
    upward = sorted(
        module for module in _imported(ROOT / producer) if module.split(".")[0] in above
    )
    assert upward == []


def test_hosted_welcomes_api_enrolments_as_a_consumer_of_advocate_created() -> None:
    from hosted import consumers

    assert consumers.welcome_advocate_enrolled_through_the_api in events.consumers(
        "advocate.created"
    )


def test_only_an_api_enrolment_gets_the_welcome_email_from_the_consumer(
    client: Client,
    world: World,
    key: str,
    program: Program,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given an advocate enrolled by a service call with no origin (as the benchmarks do)
    with django_capture_on_commit_callbacks(execute=True):
        with tenancy.merchant_context(world.acme):
            services.advocate_enroll(program=program, email="quiet@example.com")
        assert mail.outbox == []
        # when the storefront enrols another through the API
        body = {"program": program.public_id, "email": "bea@example.com"}
        assert call(client, "post", "/api/v1/advocates", key, body).status_code == 201

    # then only that one is welcomed
    assert [email.to for email in mail.outbox] == [["bea@example.com"]]


def test_the_pipeline_consumes_recorded_conversions_and_refunds(
    world: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rewards import consumers

    assert consumers.conversion_evaluate_after_commit in events.consumers("conversion.recorded")
    assert consumers.conversion_refunded_after_commit in events.consumers("refund.recorded")
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        consumers, "enqueue_on_commit", lambda task, **kwargs: sent.append((task.name, kwargs))
    )

    settings.PIPELINE_EVALUATE_ON_COMMIT = True
    with tenancy.merchant_context(world.acme):
        conversion = services.conversion_record(
            order_id="o-1", amount=1000, currency="EUR", customer={"email": "b@x.io"}
        ).conversion
        services.refund_record(conversion=conversion, amount=100)
        settings.PIPELINE_EVALUATE_ON_COMMIT = False  # a broker's dispatcher reads the outbox
        services.conversion_record(
            order_id="o-2", amount=1000, currency="EUR", customer={"email": "b@x.io"}
        )

    ids = {"merchant_id": world.acme.pk, "conversion_id": conversion.pk}
    assert sent == [
        ("rewards.tasks.conversion_evaluate_task", ids),
        ("rewards.tasks.conversion_refunded_task", ids),
    ]


# --- Delivered by a real worker ---------------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[Redis]:
    server = Redis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def worker(redis_server: Redis, tmp_path: Path) -> Iterator[Worker]:
    from django.conf import settings

    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "referral_saas.settings.test",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "REDIS_URL": redis_server.url,
        "TEST_CELERY_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
    }
    process = Worker(env, tmp_path / "worker.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the worker process shares the test database: PostgreSQL only",
)
@pytest.mark.django_db(transaction=True)
def test_advocate_and_referral_created_reach_the_merchant_through_a_real_worker(
    client: Client,
    world: World,
    key: str,
    program: Program,
    receiver: Receiver,
    request: pytest.FixtureRequest,
) -> None:
    redis_server: Redis = request.getfixturevalue("redis_server")
    worker: Worker = request.getfixturevalue("worker")
    # given an endpoint on 127.0.0.1 subscribed to the two events only
    with tenancy.merchant_context(world.acme):
        endpoint = endpoint_create(
            url=receiver.url, events=["advocate.created", "referral.created"]
        )

    # when the storefront enrols an advocate and reports a friend, through the API
    with broker(redis_server.url):
        advocate = call(
            client,
            "post",
            "/api/v1/advocates",
            key,
            {"program": program.public_id, "email": "m@x.io"},
        ).json()
        referral = call(
            client, "post", "/api/v1/referrals", key, {"code": advocate["code"], "email": "f@x.io"}
        ).json()

    # then the worker delivers both, signed, and records them as succeeded
    def delivered() -> bool:
        with tenancy.merchant_context(world.acme):
            statuses = list(WebhookDelivery.objects.values_list("status", flat=True))
        return statuses == [DeliveryStatus.SUCCEEDED] * 2

    wait_until(delivered, 60, "both deliveries to succeed")
    bodies = {json.loads(r.body)["type"]: json.loads(r.body) for r in receiver.requests}
    assert len(receiver.requests) == 2
    assert all(verifies(endpoint.secret, r) for r in receiver.requests)
    assert bodies["advocate.created"]["data"] == {**advocate, "portal_url": None}
    assert bodies["referral.created"]["data"] == {
        k: v for k, v in referral.items() if not k.startswith("friend_reward")
    }
    assert "Task rewards.tasks_webhooks.webhook_deliver_task" in worker.log.read_text()
