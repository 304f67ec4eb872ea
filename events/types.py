"""Every event type, declared once. The public contract's outbound webhook events
(docs: DESIGN.md, "Outbound webhooks") are exactly these; a type is added here first, then
emitted, and `tests/test_events.py` fails if any is emitted without being declared or declared
without a consumer."""

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
    "program.budget_exhausted",
]

EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
