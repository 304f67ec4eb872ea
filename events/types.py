"""Every event type, declared once. The public contract's outbound webhook events
(docs: DESIGN.md, "Outbound webhooks") are exactly `EVENT_TYPES`; `INTERNAL_EVENT_TYPES` are
never sent out. A type is added here first, then emitted, and `tests/test_events.py` fails if
any is emitted without being declared or declared without a consumer."""

from __future__ import annotations

from typing import Literal, get_args

EventType = Literal[
    "advocate.created",
    "referral.created",
    "conversion.qualified",
    "conversion.rejected",
    "conversion.review",
    "reward.created",
    "reward.approved",
    "reward.issued",
    "reward.voided",
    "reward.clawed_back",
    "reward.redeemed",
    "reward.expired",
    "program.budget_exhausted",
    "payout.created",
    "payout.paid",
    "payout.failed",
]

EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)

# Events for this process only: consumed by the apps above the producer, never sent to
# merchants (webhooks subscribe to EVENT_TYPES, the public ones).
InternalEventType = Literal[
    "conversion.recorded",  # a new conversion row (the pipeline's outbox) was written
    "refund.recorded",  # a new refund was recorded against a conversion
]

INTERNAL_EVENT_TYPES: tuple[InternalEventType, ...] = get_args(InternalEventType)

DECLARED_TYPES: tuple[str, ...] = (*EVENT_TYPES, *INTERNAL_EVENT_TYPES)
