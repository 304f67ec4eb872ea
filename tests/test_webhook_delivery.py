"""Outbound webhook delivery on PostgreSQL, to a real HTTP server on 127.0.0.1: the outbox
(`emit`), Standard Webhooks signatures checked by an independent verifier, outcomes (2xx, 500,
timeout, redirect, huge answers), the retry schedule, disabling after about three days with the
merchant emailed, the sweeper, replay, and the task's tenant boundary."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditEvent, Role
from referral_saas import tenancy
from tests.conftest import World
from tests.factories import UserFactory, add_member
from tests.webhook_receiver import Receiver, expected_signature, receiver, verifies
from webhooks import delivery as delivery_services
from webhooks import sender as webhook_sender
from webhooks.delivery import (
    ENDPOINT_DISABLE_AFTER,
    RETRY_DELAYS,
    deliveries_sweep,
    delivery_attempt,
    delivery_replay,
    endpoint_recover,
)
from webhooks.delivery import outbox_record as emit
from webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from webhooks.services import endpoint_create, endpoint_enable, endpoint_rotate_secret
from webhooks.tasks import webhook_deliver_task

__all__ = ["receiver"]  # the fixture, imported for pytest

Capture = Callable[..., Any]


@pytest.fixture
def acme(world: World) -> Iterator[World]:
    with tenancy.merchant_context(world.acme):
        yield world


def _endpoint(receiver: Receiver, **fields: Any) -> WebhookEndpoint:
    return endpoint_create(url=receiver.url, **fields)


def _emit_one(capture: Capture, event: str = "reward.issued") -> WebhookDelivery:
    """Emit and run what is enqueued after commit (the eager task sends it)."""
    with capture(execute=True):
        message = emit(event, {"id": "rwd_123", "amount": 1000, "currency": "EUR"})
    assert message is not None
    return WebhookDelivery.objects.get(message=message)


def _refresh(delivery: WebhookDelivery) -> WebhookDelivery:
    return WebhookDelivery.objects.get(pk=delivery.pk)


# --- The outbox ------------------------------------------------------------------------------


def test_emit_writes_nothing_when_nobody_listens(acme: World) -> None:
    WebhookEndpoint.objects.create(url="https://a.example/", secret="whsec_x", enabled=False)
    WebhookEndpoint.objects.create(
        url="https://b.example/", secret="whsec_x", events=["reward.voided"]
    )

    assert emit("reward.issued", {"id": "rwd_1"}) is None

    assert WebhookMessage.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0


def test_emit_writes_one_message_and_a_delivery_per_subscribed_enabled_endpoint(
    acme: World, django_assert_num_queries: Any
) -> None:
    every = WebhookEndpoint.objects.create(url="https://all.example/", secret="whsec_x")
    chosen = WebhookEndpoint.objects.create(
        url="https://some.example/", secret="whsec_x", events=["reward.issued"]
    )
    WebhookEndpoint.objects.create(
        url="https://other.example/", secret="whsec_x", events=["reward.voided"]
    )
    WebhookEndpoint.objects.create(url="https://off.example/", secret="whsec_x", enabled=False)

    # One SELECT of endpoints, one INSERT of the message, one bulk INSERT of deliveries.
    with django_assert_num_queries(3):
        message = emit("reward.issued", {"id": "rwd_1", "at": timezone.now()})

    assert message is not None
    assert message.public_id.startswith("msg_")
    assert set(message.payload) == {"type", "timestamp", "livemode", "data"}
    assert message.payload["type"] == "reward.issued"
    assert message.payload["timestamp"].endswith("Z")
    assert isinstance(message.payload["data"]["at"], str)  # datetimes become ISO strings
    targets = set(
        WebhookDelivery.objects.filter(message=message).values_list("endpoint_id", flat=True)
    )
    assert targets == {every.pk, chosen.pk}
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"pending"}


def test_emit_refuses_an_unknown_event_type(acme: World) -> None:
    WebhookEndpoint.objects.create(url="https://all.example/", secret="whsec_x")
    with pytest.raises(ValueError, match="Unknown webhook event"):
        emit("reward.teleported", {})
    assert WebhookMessage.objects.count() == 0


def test_emit_needs_a_current_merchant(world: World) -> None:
    with pytest.raises(tenancy.NoCurrentMerchant):
        emit("reward.issued", {})


# --- Signatures ------------------------------------------------------------------------------


def test_signing_matches_the_published_standard_webhooks_vector() -> None:
    signature = webhook_sender.sign(
        secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_delivery_arrives_signed_and_verifies_independently(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    endpoint = _endpoint(receiver)
    before = int(timezone.now().timestamp())

    delivery = _emit_one(django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hooks/referrals?shop=1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == delivery.message.public_id
    assert before <= int(request.headers["webhook-timestamp"]) <= before + 5
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert verifies(endpoint.secret, request)
    assert not verifies("whsec_" + "A" * 43 + "=", request)  # the check can fail
    body = json.loads(request.body)
    assert body == {
        "type": "reward.issued",
        "timestamp": delivery.message.payload["timestamp"],
        "livemode": True,
        "data": {"id": "rwd_123", "amount": 1000, "currency": "EUR"},
    }
    delivery = _refresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert (attempt.status_code, attempt.error, attempt.manual) == (200, "", False)
    assert attempt.response_excerpt == "ok"


def test_during_a_rotation_both_secrets_sign_and_each_verifies(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    endpoint = _endpoint(receiver)
    old_secret = endpoint.secret
    new_secret = endpoint_rotate_secret(endpoint=endpoint, grace_hours=24).secret

    _emit_one(django_capture_on_commit_callbacks)

    request = receiver.requests[0]
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    headers = request.headers
    for secret, signature in zip((new_secret, old_secret), signatures, strict=True):
        wanted = expected_signature(
            secret, headers["webhook-id"], headers["webhook-timestamp"], request.body
        )
        assert signature == "v1," + wanted
    assert verifies(old_secret, request)
    assert verifies(new_secret, request)


def test_after_the_grace_period_only_the_new_secret_signs(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    endpoint = _endpoint(receiver)
    old_secret = endpoint.secret
    rotated = endpoint_rotate_secret(endpoint=endpoint, grace_hours=1)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )

    _emit_one(django_capture_on_commit_callbacks)

    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert verifies(rotated.secret, request)
    assert not verifies(old_secret, request)


# --- Outcomes of one attempt -----------------------------------------------------------------


def test_a_500_is_logged_and_retried_later(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    endpoint = _endpoint(receiver)
    receiver.behaviour.status = 500
    receiver.behaviour.body = b'{"error": "database down"}'

    delivery = _refresh(_emit_one(django_capture_on_commit_callbacks))

    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert (delivery.last_status_code, delivery.last_error) == (500, "")
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert RETRY_DELAYS[0] * 0.9 <= wait <= RETRY_DELAYS[0] * 1.1 + timedelta(seconds=1)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.response_excerpt == '{"error": "database down"}'
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since == delivery.last_attempt_at


def test_a_timeout_is_a_failure_within_the_deadline(
    acme: World,
    receiver: Receiver,
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhook_sender, "TOTAL_TIMEOUT_SECONDS", 1.0)
    _endpoint(receiver)
    receiver.behaviour.delay_seconds = 3.0

    delivery = _refresh(_emit_one(django_capture_on_commit_callbacks))

    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert delivery.last_error.startswith("Timed out")
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert 900 <= attempt.duration_ms < 2500


def test_a_drip_fed_answer_is_cut_at_the_deadline(
    acme: World,
    receiver: Receiver,
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each byte arrives well within a per-read timeout: only an overall deadline stops this.
    monkeypatch.setattr(webhook_sender, "TOTAL_TIMEOUT_SECONDS", 1.0)
    _endpoint(receiver)
    receiver.behaviour.body_bytes = 1000
    receiver.behaviour.drip_seconds = 0.05

    delivery = _refresh(_emit_one(django_capture_on_commit_callbacks))

    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.duration_ms < 2500
    assert receiver.bytes_sent < 1000
    # The status line came in time, so the outcome stands; the excerpt is what arrived.
    assert (delivery.status, delivery.last_status_code) == ("succeeded", 200)
    assert 0 < len(attempt.response_excerpt) < 1000


def test_a_redirect_is_not_followed(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _endpoint(receiver)
    elsewhere = f"http://127.0.0.1:{receiver.port}/elsewhere"
    receiver.behaviour.status = 302
    receiver.behaviour.headers = {"Location": elsewhere}

    delivery = _refresh(_emit_one(django_capture_on_commit_callbacks))

    assert [request.path for request in receiver.requests] == ["/hooks/referrals?shop=1"]
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert delivery.last_error == f"Redirect (302) to {elsewhere} not followed: use the final URL."


def test_a_huge_answer_is_read_only_up_to_the_cap(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _endpoint(receiver)
    receiver.behaviour.body_bytes = 64 * 1024 * 1024  # 64 MB

    delivery = _refresh(_emit_one(django_capture_on_commit_callbacks))

    assert (delivery.status, delivery.last_status_code) == ("succeeded", 200)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.response_excerpt == "x" * webhook_sender.EXCERPT_CHARS
    assert attempt.duration_ms < 5000
    # We stopped reading: the server could not push the whole answer through.
    assert receiver.bytes_sent < 64 * 1024 * 1024


def test_a_refused_connection_is_a_failure(
    acme: World, django_capture_on_commit_callbacks: Capture
) -> None:
    closed = Receiver()
    url = closed.url
    closed.server.server_close()  # nothing listens on that port any more
    endpoint_create(url=url)

    delivery = _refresh(_emit_one(django_capture_on_commit_callbacks))

    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert delivery.last_error == "Connection refused."


def test_a_long_retry_after_is_honoured(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _endpoint(receiver)
    receiver.behaviour.status = 429
    receiver.behaviour.headers = {"Retry-After": "3600"}

    delivery = _refresh(_emit_one(django_capture_on_commit_callbacks))

    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(hours=1) <= wait <= timedelta(hours=1, seconds=5)


# --- The schedule, giving up, disabling ------------------------------------------------------


def _fail_through_the_schedule(
    delivery: WebhookDelivery, capture: Capture, *, before_last: Callable[[], None] | None = None
) -> list[timedelta]:
    """Time-travel: make each scheduled retry due and let the sweeper dispatch it."""
    waits = []
    for index, _ in enumerate(RETRY_DELAYS):
        current = _refresh(delivery)
        assert current.status == "pending", index
        waits.append(current.next_attempt_at - current.last_attempt_at)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        if index == len(RETRY_DELAYS) - 1 and before_last is not None:
            before_last()
        with capture(execute=True):
            assert deliveries_sweep() == 1
    return waits


def test_the_retry_schedule_backs_off_for_about_three_days_then_gives_up(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    endpoint = _endpoint(receiver)
    receiver.behaviour.status = 503

    delivery = _emit_one(django_capture_on_commit_callbacks)
    waits = _fail_through_the_schedule(delivery, django_capture_on_commit_callbacks)

    assert len(receiver.requests) == len(RETRY_DELAYS) + 1 == 12
    for wait, base in zip(waits, RETRY_DELAYS, strict=True):
        assert base * 0.9 <= wait <= base * 1.1 + timedelta(seconds=1), (wait, base)
    # Exponential start, then every 10 hours; about three days in all.
    assert [int(d.total_seconds()) for d in RETRY_DELAYS[:5]] == [5, 300, 1800, 7200, 18000]
    assert timedelta(days=2.5) < sum(RETRY_DELAYS, timedelta()) < timedelta(days=3.5)
    delivery = _refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("failed", 12)
    assert WebhookAttempt.objects.filter(delivery=delivery, manual=False).count() == 12
    # The endpoint has only been failing for seconds (the test travelled, the clock did not):
    # one delivery giving up does not disable it.
    endpoint.refresh_from_db()
    assert endpoint.enabled
    assert endpoint.failing_since is not None
    assert mail.outbox == []
    # A failed delivery is never swept again.
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep(now=timezone.now() + timedelta(days=30)) == 0


def test_after_three_days_of_failures_the_endpoint_is_disabled_and_owners_and_admins_told(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    dana = UserFactory(email="dana@example.com")
    add_member(acme.acme, dana, Role.ADMIN)  # Bob, a viewer, is not emailed
    endpoint = _endpoint(receiver, description="Order system")
    receiver.behaviour.status = 500
    delivery = _emit_one(django_capture_on_commit_callbacks)
    waiting = _emit_one(django_capture_on_commit_callbacks, "reward.voided")

    def three_days_later() -> None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            failing_since=timezone.now() - ENDPOINT_DISABLE_AFTER - timedelta(minutes=1)
        )

    _fail_through_the_schedule(
        delivery, django_capture_on_commit_callbacks, before_last=three_days_later
    )

    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_at is not None
    assert endpoint.disabled_reason == "Every delivery failed for about three days."
    assert _refresh(delivery).status == "failed"
    # What was still waiting fails with the endpoint, visibly.
    waiting = _refresh(waiting)
    assert (waiting.status, waiting.last_error) == (
        "failed",
        "Not sent: the endpoint is disabled.",
    )
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert sorted(email.to) == ["alice@example.com", "dana@example.com"]
    assert email.subject == f"Webhook endpoint disabled: {endpoint.url}"
    assert endpoint.url in email.body
    assert "HTTP 500" in email.body
    assert "http://127.0.0.1:8000/m/acme/webhooks/" in email.body
    event = AuditEvent.objects.get(action="webhook_endpoint.disabled")
    assert (event.actor_label, event.target_id) == ("system", endpoint.public_id)
    # Nothing more is sent to it: new events do not even create deliveries.
    assert emit("reward.issued", {"id": "rwd_2"}) is None


def test_a_success_clears_the_failure_state(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    endpoint = _endpoint(receiver)
    receiver.behaviour.status = 500
    first = _emit_one(django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None

    receiver.behaviour.status = 204
    WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 1

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    first = _refresh(first)
    assert (first.status, first.attempts, first.last_status_code) == ("succeeded", 2, 204)
    assert first.last_error == ""


# --- The sweeper -----------------------------------------------------------------------------


def test_the_sweeper_dispatches_only_due_pending_deliveries_across_merchants_once(
    world: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    due = {}
    for merchant in (world.acme, world.globex):
        with tenancy.merchant_context(merchant):
            endpoint_create(url=receiver.url)
            message = emit("advocate.created", {"id": merchant.slug})  # enqueue "lost"
            assert message is not None
            due[merchant.slug] = WebhookDelivery.objects.get(message=message)
    # Just emitted: leased to the task that was (supposedly) enqueued.
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 0
    assert receiver.requests == []

    # The lease ends: the lost tasks are dispatched again, each inside its own merchant.
    later = timezone.now() + timedelta(minutes=3)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep(now=later) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep(now=later) == 0  # succeeded: nothing left

    assert sorted(json.loads(r.body)["data"]["id"] for r in receiver.requests) == [
        "acme",
        "globex",
    ]
    for merchant in (world.acme, world.globex):
        with tenancy.merchant_context(merchant):
            assert _refresh(due[merchant.slug]).status == "succeeded"


def test_the_sweeper_takes_at_most_limit_and_leases_what_it_took(
    acme: World, django_capture_on_commit_callbacks: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    WebhookEndpoint.objects.create(url="https://a.example/", secret="whsec_x")
    for number in range(5):
        emit("reward.issued", {"n": number})
    sent: list[Any] = []
    monkeypatch.setattr(delivery_services, "_enqueue", sent.extend)
    later = timezone.now() + timedelta(minutes=3)

    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep(now=later, limit=3) == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep(now=later, limit=3) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep(now=later, limit=3) == 0

    assert len({delivery_id for delivery_id, _, _ in sent}) == 5
    assert {(merchant_id, attempt) for _, merchant_id, attempt in sent} == {(acme.acme.pk, 0)}


# --- Replay ----------------------------------------------------------------------------------


def test_replay_after_re_enabling_sends_the_same_message_again_as_a_manual_attempt(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    endpoint = _endpoint(receiver)
    receiver.behaviour.status = 500
    delivery = _emit_one(django_capture_on_commit_callbacks)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)

    with pytest.raises(ValidationError, match="disabled"):
        delivery_replay(delivery=delivery, actor=acme.alice)
    assert len(receiver.requests) == 1

    endpoint_enable(endpoint=endpoint, actor=acme.alice)
    receiver.behaviour.status = 200
    attempt = delivery_replay(delivery=delivery, actor=acme.alice)

    assert (attempt.manual, attempt.status_code) == (True, 200)
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # receivers dedupe on it
    assert first.body == second.body
    assert verifies(endpoint.secret, second)
    delivery = _refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    event = AuditEvent.objects.get(action="webhook_delivery.replayed")
    assert event.actor_user == acme.alice
    assert event.data["status_code"] == 200


def test_a_failed_replay_of_a_pending_delivery_keeps_its_place_in_the_schedule(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _endpoint(receiver)
    receiver.behaviour.status = 500
    delivery = _refresh(_emit_one(django_capture_on_commit_callbacks))
    scheduled = delivery.next_attempt_at

    attempt = delivery_replay(delivery=delivery, actor=acme.alice)

    assert (attempt.manual, attempt.status_code) == (True, 500)
    delivery = _refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("pending", 2)
    assert delivery.next_attempt_at == scheduled
    assert WebhookAttempt.objects.filter(delivery=delivery, manual=False).count() == 1


# --- Tasks -----------------------------------------------------------------------------------


def test_a_duplicate_task_for_an_attempt_already_made_sends_nothing(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _endpoint(receiver)
    delivery = _emit_one(django_capture_on_commit_callbacks)

    assert (
        webhook_deliver_task(merchant_id=acme.acme.pk, delivery_id=delivery.pk, attempt=0) is False
    )
    assert delivery_attempt(delivery_id=delivery.pk, expected_attempts=0) is None
    assert len(receiver.requests) == 1


def test_the_task_cannot_reach_another_merchants_delivery(
    world: World, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    with tenancy.merchant_context(world.acme):
        endpoint_create(url=receiver.url)
        message = emit("reward.issued", {"id": "rwd_1"})  # not sent: the test keeps it waiting
        delivery = WebhookDelivery.objects.get(message=message)

    # Globex's id with Acme's delivery: the scoped lookup finds nothing, nothing is sent.
    assert (
        webhook_deliver_task(merchant_id=world.globex.pk, delivery_id=delivery.pk, attempt=0)
        is False
    )
    assert receiver.requests == []
    with tenancy.merchant_context(world.acme):
        assert _refresh(delivery).attempts == 0
    with pytest.raises(tenancy.NoCurrentMerchant):
        webhook_deliver_task(delivery_id=delivery.pk, attempt=0)


def test_a_delivery_to_an_endpoint_disabled_meanwhile_fails_without_sending(
    acme: World, receiver: Receiver
) -> None:
    endpoint = _endpoint(receiver)
    message = emit("reward.issued", {"id": "rwd_1"})  # the test holds back the task
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    delivery = WebhookDelivery.objects.get(message=message)

    assert delivery_attempt(delivery_id=delivery.pk, expected_attempts=0) is None

    assert receiver.requests == []
    delivery = _refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("failed", 0)
    assert delivery.last_error == "Not sent: the endpoint is disabled."


def test_drip_fed_headers_are_cut_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_sender, "TOTAL_TIMEOUT_SECONDS", 1.0)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def drip() -> None:
        peer, _ = server.accept()
        with peer:
            peer.recv(65536)
            peer.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not stop.is_set():
                try:
                    peer.sendall(b"a")
                except OSError:
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        result = webhook_sender.post(
            url=f"http://127.0.0.1:{server.getsockname()[1]}/hook", body=b"{}", headers={}
        )
    finally:
        stop.set()
        server.close()

    assert result.status_code is None
    assert result.error == "Timed out (no answer within 1 s)."
    assert 900 <= result.duration_ms < 2500


def test_recovering_a_disabled_endpoint_is_refused(acme: World) -> None:
    endpoint = WebhookEndpoint.objects.create(
        url="https://a.example/", secret="whsec_x", enabled=False
    )
    with pytest.raises(ValidationError, match="disabled"):
        endpoint_recover(endpoint=endpoint)
    assert not AuditEvent.objects.filter(action="webhook_endpoint.recovered").exists()
