"""What the pipeline tells the rest of the house: events (`events.emit`, written in the
transaction of the change they describe) and the payloads they carry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import events
from rewards.models import Reward
from tracking.models import Conversion


@contextmanager
def _webhook_listeners() -> Iterator[None]:
    """One evaluation emits several events: an `events.scope()`, in which consumers look up
    what they need once (the webhooks outbox its endpoints), not once per event."""
    with events.scope():
        yield


def emit(
    event_type: str,
    data: dict[str, Any] | Callable[[], dict[str, Any]],
    *,
    subject: object = None,
    origin: str = "",
) -> None:
    """`events.emit` in the current transaction. `data` may be a callable, built only when a
    consumer reads it; `subject` is the object (a `Reward`) for consumers in this process."""
    events.emit(event_type, data, subject=subject, origin=origin)


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
        "subscription_id": conversion.subscription_id,
        "status": conversion.status,
        "risk_score": conversion.risk_score,
        "reasons": [
            {k: r.get(k) for k in ("rule", "outcome", "detail")} for r in conversion.reasons
        ],
    }
