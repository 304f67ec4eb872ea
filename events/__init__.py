"""The events layer: what happened, said once, for whoever above needs to know.

A producer calls `emit(type, data)` inside the transaction that makes the change; every consumer
registered for that type (`register`, called from the consuming app's `AppConfig.ready`) runs
synchronously, inside the same transaction, in the order registered. So a consumer's writes
commit or roll back with the change itself, and a consumer that does slow work (sending an
email, an HTTP request) records its intent and enqueues a task with `transaction.on_commit`.

This package sits below every app (it imports nothing of ours but `referral_saas`): apps lower
in the house cause work above them by emitting, never by importing upward.
"""

from events.registry import (
    Consumer,
    Event,
    UnknownEventType,
    consumers,
    emit,
    register,
    scope,
    scope_memo,
)
from events.types import (
    DECLARED_TYPES,
    EVENT_TYPES,
    INTERNAL_EVENT_TYPES,
    EventType,
    InternalEventType,
)

__all__ = [
    "DECLARED_TYPES",
    "EVENT_TYPES",
    "INTERNAL_EVENT_TYPES",
    "Consumer",
    "Event",
    "EventType",
    "InternalEventType",
    "UnknownEventType",
    "consumers",
    "emit",
    "register",
    "scope",
    "scope_memo",
]
