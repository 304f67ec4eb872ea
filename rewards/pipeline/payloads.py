"""What the pipeline tells the rest of the house: events (`events.emit`, written in the
transaction of the change they describe) and the payloads they carry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import events
from rewards.models import (
    WEBHOOK_EVENTS,
    Reward,
    WebhookEndpoint,
)
from tracking.models import Conversion

# The events the current merchant's enabled webhook endpoints listen to, looked up once per
# evaluation (None: not looked up, emit every event). An evaluation emits several events and
# the webhooks outbox, today the only consumer of the pipeline's events, would look its
# endpoints up for each. This skip is only right while that holds: when another app consumes
# these events, the lookup belongs in the outbox consumer (once per transaction) instead.
_listening: ContextVar[frozenset[str] | None] = ContextVar("_listening", default=None)


@contextmanager
def _webhook_listeners() -> Iterator[None]:
    subscribed: set[str] = set()
    for chosen in WebhookEndpoint.objects.filter(enabled=True).values_list("events", flat=True):
        subscribed.update(chosen or WEBHOOK_EVENTS)
    token = _listening.set(frozenset(subscribed))
    try:
        yield
    finally:
        _listening.reset(token)


def emit(event_type: str, data: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
    """`events.emit` in the current transaction. `data` may be a callable, built only when a
    consumer reads it."""
    listening = _listening.get()
    if listening is not None and event_type not in listening:
        return
    events.emit(event_type, data)


def reward_payload(reward: Reward) -> dict[str, Any]:
    """The reward as the API shows it (the webhook payload's `data`)."""
    # Deferred: the API imports the services, which import the pipeline.
    from rewards.api.reward_serializers import RewardOutputSerializer

    return dict(RewardOutputSerializer(instance=reward).data)


def conversion_payload(conversion: Conversion) -> dict[str, Any]:
    return {
        "id": conversion.public_id,
        "object": "conversion",
        "order_id": conversion.order_id,
        "amount": conversion.amount,
        "currency": conversion.currency,
        "status": conversion.status,
        "risk_score": conversion.risk_score,
        "reasons": [
            {k: r.get(k) for k in ("rule", "outcome", "detail")} for r in conversion.reasons
        ],
    }
