"""What the pipeline tells merchants: outbound webhook messages, written in the
transaction of the change they describe, and the payloads they carry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from rewards.models import (
    WEBHOOK_EVENTS,
    Reward,
    WebhookEndpoint,
)
from tracking.models import Conversion

# The events the current merchant's enabled endpoints listen to, looked up once per
# evaluation (None: not looked up, ask rewards.delivery every time).
_listening: ContextVar[frozenset[str] | None] = ContextVar("_listening", default=None)


@contextmanager
def _webhook_listeners() -> Iterator[None]:
    subscribed: set[str] = set()
    for events in WebhookEndpoint.objects.filter(enabled=True).values_list("events", flat=True):
        subscribed.update(events or WEBHOOK_EVENTS)
    token = _listening.set(frozenset(subscribed))
    try:
        yield
    finally:
        _listening.reset(token)


def emit(event_type: str, data: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
    """Write an outbound webhook message in the current transaction (see rewards.delivery).
    `data` may be a callable, built only when someone listens to the event."""
    from rewards.delivery import emit as delivery_emit

    listening = _listening.get()
    if listening is not None and event_type not in listening:
        return
    delivery_emit(event_type, data() if callable(data) else data)


def reward_payload(reward: Reward) -> dict[str, Any]:
    """The reward as the API shows it (the webhook payload's `data`)."""
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
