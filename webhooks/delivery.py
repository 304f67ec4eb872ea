"""Outbound webhook delivery: the outbox (`outbox_record`), attempts with retries, the sweeper,
replay.

The life of an event:

1. A producer calls `events.emit()` inside the transaction that makes the change; this app's
   consumer of every event type, `outbox_consumer`, calls `outbox_record()` in that same
   transaction: one `WebhookMessage` (its `public_id` is the Standard Webhooks `webhook-id`)
   and one `WebhookDelivery` per enabled, subscribed endpoint. After commit, one
   `webhook_deliver_task` per delivery is enqueued. If the broker is down the rows are still
   there and `deliveries_sweep()` dispatches them later.
2. `delivery_attempt()` claims the delivery with a conditional UPDATE on its attempt counter
   (the counter is the claim token: two workers holding the same task cannot both win), sends
   it, logs a `WebhookAttempt` and either marks it succeeded or schedules the next attempt
   (RETRY_DELAYS with ±10 % jitter, about three days in all).
3. When the schedule runs out the delivery is failed; if every delivery to the endpoint has been
   failing for ENDPOINT_DISABLE_AFTER, the endpoint is disabled and its owners and admins are
   emailed. Any success clears the endpoint's failure state.

Leases: while a delivery is dispatched (in the queue) or being sent, its `next_attempt_at` is
pushed into the future so the sweeper does not dispatch it again; if a worker dies mid-send the
lease runs out and the sweeper dispatches it once more (webhooks are at-least-once; receivers
deduplicate on `webhook-id`).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import Membership, Role, User
from accounts.services import audit_record
from events import Event, scope_memo
from referral_saas import tenancy
from referral_saas.api.livemode import mark_livemode
from webhooks import sender
from webhooks.models import (
    WEBHOOK_EVENTS,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from webhooks.services import endpoint_signing_secrets

logger = logging.getLogger(__name__)

# The wait before each retry (the first attempt is immediate): Standard Webhooks/Svix's
# exponential start, then every 10 h; 13 attempts spread over about three days (67.6 h
# nominal, at least 60.8 h with jitter).
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    *(timedelta(hours=10),) * 6,
)
JITTER = 0.1
# Longest wait a receiver can ask for with Retry-After (429/503) before we use our own.
MAX_RETRY_AFTER = timedelta(hours=10)
# An endpoint whose deliveries have all failed for this long, once a delivery has exhausted its
# schedule, is disabled. Below the shortest jittered schedule, so a dead endpoint is disabled
# when its first delivery gives up, not one delivery later.
ENDPOINT_DISABLE_AFTER = timedelta(hours=60)
# How long a dispatched (queued) delivery, or one being sent, is kept from the sweeper.
DISPATCH_LEASE = timedelta(minutes=2)
SEND_LEASE = timedelta(minutes=2)
SWEEP_BATCH = 500
# At most this many failed deliveries are replayed by one "replay failed deliveries" request.
RECOVER_LIMIT = 1000
ENDPOINT_DISABLED_ERROR = "Not sent: the endpoint is disabled."


# --- Emitting (the outbox) -------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def outbox_record(
    event_type: str, data: dict[str, Any] | Callable[[], dict[str, Any]]
) -> WebhookMessage | None:
    """Record `event_type` for every enabled endpoint of the current merchant subscribed to it.

    Call inside the transaction that makes the change, so the event exists if and only if the
    change does. Cost: one SELECT of endpoints, and only when someone listens, two INSERTs
    (message, deliveries). Returns None (writing nothing) when nobody listens. `data` may hold
    datetimes, decimals and UUIDs (encoded as Django's JSON encoder does), or be a function
    returning such a dict, called only when someone listens.
    """
    if event_type not in WEBHOOK_EVENTS:
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    # Filtered in Python: merchants have a handful of endpoints, and JSON `contains` does not
    # exist on SQLite (the `make run` database).
    listeners = [pk for pk, chosen in _endpoints() if not chosen or event_type in chosen]
    if not listeners:
        return None
    now = timezone.now()
    livemode = tenancy.get_current_merchant().livemode
    payload = {
        "type": event_type,
        "timestamp": _iso(now),
        "livemode": livemode,
        "data": mark_livemode(
            json.loads(json.dumps(data() if callable(data) else data, cls=DjangoJSONEncoder)),
            livemode,
        ),
    }
    message = WebhookMessage.objects.create(event_type=event_type, payload=payload, created_at=now)
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            message=message, endpoint_id=pk, next_attempt_at=now + DISPATCH_LEASE, created_at=now
        )
        for pk in listeners
    )
    merchant_id = tenancy.get_current_merchant().pk
    dispatch = [(delivery.pk, merchant_id, 0) for delivery in deliveries]
    transaction.on_commit(lambda: _enqueue(dispatch))
    return message


def _endpoints() -> list[tuple[int, list[str]]]:
    """The current merchant's enabled endpoints and their event filters: looked up once per
    `events.scope()` (an evaluation emits several events), else once per event."""
    memo = scope_memo()
    key = ("webhooks.endpoints", tenancy.get_current_merchant().pk)
    if memo is not None and key in memo:
        return memo[key]
    found = list(WebhookEndpoint.objects.filter(enabled=True).values_list("pk", "events"))
    if memo is not None:
        memo[key] = found
    return found


def outbox_consumer(event: Event) -> None:
    """The `events` consumer of every event type: the outbox message, if anyone listens (the
    payload is built only then)."""
    outbox_record(event.type, lambda: event.data)


def _enqueue(dispatch: list[tuple[int, int, int]], *, manual: bool = False) -> None:
    """Send one task per (delivery id, merchant id, attempts so far). A broker outage is
    logged, not raised: the rows are committed and the sweeper dispatches them after the lease
    (a lost manual replay is simply not made; the merchant can ask again)."""
    from webhooks.tasks import webhook_deliver_task, webhook_replay_task

    task = webhook_replay_task if manual else webhook_deliver_task
    for delivery_id, merchant_id, attempt in dispatch:
        try:
            task.apply_async(
                kwargs={"merchant_id": merchant_id, "delivery_id": delivery_id, "attempt": attempt},
                retry=False,
            )
        except (BrokerError, OSError):
            logger.warning("webhook delivery %s not enqueued; the sweeper will", delivery_id)
            return


# --- The sweeper -----------------------------------------------------------------------------


def deliveries_sweep(now: datetime | None = None, limit: int = SWEEP_BATCH) -> int:
    """Dispatch up to `limit` pending deliveries whose next attempt is due, across merchants,
    and return how many. Rows are taken with `FOR UPDATE SKIP LOCKED` and leased for
    DISPATCH_LEASE in the same transaction, so concurrent sweepers never dispatch one twice;
    a task that is lost anyway is dispatched again when the lease ends."""
    now = now or timezone.now()
    with transaction.atomic():
        # Deliberately across tenants: each task then runs inside its own merchant.
        due = list(
            WebhookDelivery.unscoped_all_merchants.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", "merchant_id", "attempts")[:limit]
        )
        if not due:
            return 0
        WebhookDelivery.unscoped_all_merchants.filter(pk__in=[row[0] for row in due]).update(
            next_attempt_at=now + DISPATCH_LEASE
        )
        transaction.on_commit(lambda: _enqueue(due))
    return len(due)


# --- Attempts --------------------------------------------------------------------------------


def retry_delay(retry_index: int, *, retry_after_seconds: int | None = None) -> timedelta:
    """The wait before retry number `retry_index` (0-based), with jitter so that deliveries that
    failed together (an outage) do not all come back in the same second. A longer Retry-After
    from the receiver is honoured up to MAX_RETRY_AFTER."""
    base = RETRY_DELAYS[retry_index]
    delay = base * random.uniform(1 - JITTER, 1 + JITTER)  # jitter, not secrecy
    if retry_after_seconds is not None:
        asked = min(timedelta(seconds=retry_after_seconds), MAX_RETRY_AFTER)
        delay = max(delay, asked)
    return delay


def message_body(message: WebhookMessage) -> bytes:
    """The exact bytes we POST (and sign) for a message."""
    return json.dumps(message.payload, separators=(",", ":"), sort_keys=True).encode()


def _send(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> sender.SendResult:
    now = timezone.now()
    message = delivery.message
    body = message_body(message)
    headers = sender.signed_headers(
        secrets=endpoint_signing_secrets(endpoint, now),
        message_id=message.public_id,
        timestamp=int(now.timestamp()),
        body=body,
    )
    return sender.post(url=endpoint.url, body=body, headers=headers)


def delivery_attempt(
    *, delivery_id: int, expected_attempts: int, manual: bool = False
) -> WebhookAttempt | None:
    """Make attempt number `expected_attempts + 1` of a delivery, or nothing if another worker
    already made it (the claim is `UPDATE … WHERE attempts = expected`, and only the worker
    whose UPDATE changed the row sends). Scheduled attempts (`manual=False`) only touch pending
    deliveries; a manual one (replay) may resend any delivery and does not consume the retry
    schedule. Must run outside a transaction: the claim has to be visible before we send.
    Returns the logged attempt, or None when nothing was sent."""
    delivery = (
        WebhookDelivery.objects.select_related("message", "endpoint").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.attempts != expected_attempts:
        return None
    if not manual and delivery.status != DeliveryStatus.PENDING:
        return None
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        # Leaves a trace in the log instead of silently dropping; replay after re-enabling.
        WebhookDelivery.objects.filter(
            pk=delivery.pk, attempts=expected_attempts, status=DeliveryStatus.PENDING
        ).update(status=DeliveryStatus.FAILED, last_error=ENDPOINT_DISABLED_ERROR)
        return None
    claimed_at = timezone.now()
    claim = WebhookDelivery.objects.filter(pk=delivery.pk, attempts=expected_attempts)
    if not manual:
        claim = claim.filter(status=DeliveryStatus.PENDING)
    if not claim.update(
        attempts=F("attempts") + 1,
        last_attempt_at=claimed_at,
        next_attempt_at=claimed_at + SEND_LEASE,
    ):
        return None
    result = _send(delivery, endpoint)
    return _record(
        delivery=delivery,
        claimed_attempts=expected_attempts + 1,
        attempted_at=claimed_at,
        result=result,
        manual=manual,
    )


def _record(
    *,
    delivery: WebhookDelivery,
    claimed_attempts: int,
    attempted_at: datetime,
    result: sender.SendResult,
    manual: bool,
) -> WebhookAttempt:
    """Log the attempt and move the delivery (and the endpoint's failure state) on."""
    now = timezone.now()
    exhausted = False
    with transaction.atomic():
        attempt = WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=attempted_at,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error[:500],
            response_excerpt=result.response_excerpt[:500],
            manual=manual,
        )
        fields: dict[str, Any] = {
            "last_status_code": result.status_code,
            "last_error": result.error[:500],
        }
        endpoints = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id)
        if result.succeeded:
            fields["status"] = DeliveryStatus.SUCCEEDED
            endpoints.filter(failing_since__isnull=False).update(failing_since=None)
        else:
            endpoints.filter(failing_since__isnull=True).update(failing_since=attempted_at)
            if manual:
                # A replay does not consume the schedule: a pending delivery keeps its turn.
                fields["next_attempt_at"] = delivery.next_attempt_at
            else:
                scheduled = WebhookAttempt.objects.filter(delivery=delivery, manual=False).count()
                if scheduled <= len(RETRY_DELAYS):
                    fields["next_attempt_at"] = now + retry_delay(
                        scheduled - 1, retry_after_seconds=result.retry_after_seconds
                    )
                else:
                    fields["status"] = DeliveryStatus.FAILED
                    exhausted = True
        WebhookDelivery.objects.filter(pk=delivery.pk, attempts=claimed_attempts).update(**fields)
        if exhausted:
            _disable_if_failing_for_long(endpoint_id=delivery.endpoint_id, now=now)
    return attempt


# --- Giving up on an endpoint ----------------------------------------------------------------


def _disable_if_failing_for_long(*, endpoint_id: int, now: datetime) -> bool:
    """Disable the endpoint if it has been failing for ENDPOINT_DISABLE_AFTER. A conditional
    UPDATE, so concurrent workers disable (and email) once. Its pending deliveries fail with
    it; the merchant's owners and admins are emailed after commit. Audited."""
    changed = WebhookEndpoint.objects.filter(
        pk=endpoint_id, enabled=True, failing_since__lte=now - ENDPOINT_DISABLE_AFTER
    ).update(
        enabled=False,
        disabled_at=now,
        disabled_reason="Every delivery failed for about three days.",
    )
    if not changed:
        return False
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, last_error=ENDPOINT_DISABLED_ERROR
    )
    audit_record(
        action="webhook_endpoint.disabled",
        actor_label="system",
        target=endpoint,
        data={"url": endpoint.url, "reason": endpoint.disabled_reason},
    )
    _email_endpoint_disabled(endpoint)
    return True


def _email_endpoint_disabled(endpoint: WebhookEndpoint) -> None:
    merchant = tenancy.get_current_merchant()
    recipients = sorted(
        Membership.objects.filter(role__in=[Role.OWNER, Role.ADMIN]).values_list(
            "user__email", flat=True
        )
    )
    if not recipients:
        return
    page = reverse("webhooks", kwargs={"merchant_slug": merchant.slug})
    last = (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .exclude(last_attempt_at=None)
        .order_by("-last_attempt_at")
        .first()
    )
    context = {
        "merchant": merchant,
        "endpoint": endpoint,
        "last_delivery": last,
        "webhooks_url": settings.PUBLIC_BASE_URL + page,
    }
    subject = f"Webhook endpoint disabled: {endpoint.url}"[:200]
    body = render_to_string("rewards/webhooks/email_endpoint_disabled.txt", context)
    transaction.on_commit(
        lambda: send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients)
    )


# --- Replay ----------------------------------------------------------------------------------


def delivery_replay(
    *, delivery: WebhookDelivery, actor: User | None = None, request: HttpRequest | None = None
) -> WebhookAttempt:
    """Send a delivery again now, whatever its status (a failed one after the endpoint was
    re-enabled, or a succeeded one the merchant lost), with the same `webhook-id` so the
    receiver can deduplicate. A manual attempt: logged as such, it does not consume the retry
    schedule. Audited `webhook_delivery.replayed` with the outcome. Raises ValidationError if
    the endpoint is disabled or another attempt of this delivery is in flight. Runs the HTTP
    call in the caller's thread (the dashboard shows its outcome at once)."""
    current = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
    if not current.endpoint.enabled:
        raise ValidationError("This endpoint is disabled. Enable it, then replay.")
    attempt = delivery_attempt(
        delivery_id=current.pk, expected_attempts=current.attempts, manual=True
    )
    if attempt is None:
        raise ValidationError("This delivery is being attempted right now. Try again shortly.")
    audit_record(
        action="webhook_delivery.replayed",
        actor=actor,
        target=current,
        data={
            "endpoint": current.endpoint.public_id,
            "status_code": attempt.status_code,
            "error": attempt.error,
        },
        request=request,
    )
    return attempt


def endpoint_recover(
    *, endpoint: WebhookEndpoint, actor: User | None = None, request: HttpRequest | None = None
) -> int:
    """Replay, in the background, the endpoint's failed deliveries (oldest first, at most
    RECOVER_LIMIT): what an endpoint missed while it was down or disabled. Each is one manual
    attempt claimed like any other, so a second click while the first batch is running sends
    nothing twice. Returns how many were queued. Audited `webhook_endpoint.recovered`."""
    if not endpoint.enabled:
        raise ValidationError("This endpoint is disabled. Enable it, then replay.")
    failed = list(
        WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.FAILED)
        .order_by("created_at", "pk")
        .values_list("pk", "attempts")[:RECOVER_LIMIT]
    )
    if not failed:
        return 0
    merchant_id = tenancy.get_current_merchant().pk
    audit_record(
        action="webhook_endpoint.recovered",
        actor=actor,
        target=endpoint,
        data={"deliveries": len(failed)},
        request=request,
    )
    replays = [(pk, merchant_id, attempts) for pk, attempts in failed]
    transaction.on_commit(lambda: _enqueue(replays, manual=True))
    return len(failed)
