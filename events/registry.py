"""`emit` and the consumer registry (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from typing import Any

from events.types import DECLARED_TYPES

# What an event carries: a JSON-like dict (datetimes, decimals and UUIDs allowed), or a function
# returning one, called at most once and only if a consumer reads `Event.data` (payloads that
# cost queries are then built only when someone needs them).
Payload = dict[str, Any] | Callable[[], dict[str, Any]]


class UnknownEventType(ValueError):
    """An event type that `events.types` does not declare."""


class Event:
    """One occurrence of `type`, handed to every consumer of that type.

    `data` is the public payload (what a webhook carries). `subject` is the object it is about,
    for consumers in this process (never serialised), and `origin` says where the change came
    from ("api", …; empty when it does not matter), for consumers whose policy depends on it.
    """

    def __init__(
        self, event_type: str, payload: Payload, *, subject: object = None, origin: str = ""
    ) -> None:
        self.type = event_type
        self._payload = payload
        self.subject = subject
        self.origin = origin

    @cached_property
    def data(self) -> dict[str, Any]:
        payload = self._payload
        return payload() if callable(payload) else payload

    def __repr__(self) -> str:
        return f"Event({self.type!r})"


Consumer = Callable[[Event], None]

_consumers: dict[str, list[Consumer]] = {event_type: [] for event_type in DECLARED_TYPES}


def _declared(event_type: str) -> list[Consumer]:
    try:
        return _consumers[event_type]
    except KeyError:
        raise UnknownEventType(
            f"Unknown event type {event_type!r}: declare it in events.types first."
        ) from None


def register(event_type: str, consumer: Consumer) -> None:
    """Have `consumer` called with every `event_type` event, inside the emitting transaction.
    Called from an `AppConfig.ready`; registering the same consumer twice changes nothing."""
    registered = _declared(event_type)
    if consumer not in registered:
        registered.append(consumer)


def consumers(event_type: str) -> tuple[Consumer, ...]:
    """The consumers of `event_type`, in the order they run."""
    return tuple(_declared(event_type))


def emit(event_type: str, data: Payload, *, subject: object = None, origin: str = "") -> None:
    """Tell every consumer of `event_type` that it happened. Call inside the transaction that
    makes the change: consumers write in it, so the event's effects exist if and only if the
    change does. A consumer's exception propagates (and rolls the change back): consumers do
    not fail on things that can wait; they enqueue those on commit. Raises `UnknownEventType`
    for an undeclared type, even when nobody listens."""
    event = Event(event_type, data, subject=subject, origin=origin)
    for consumer in tuple(_declared(event_type)):
        consumer(event)


# A memo shared by the consumers of the events emitted inside one `scope()` (None: no scope).
_scope: ContextVar[dict[Any, Any] | None] = ContextVar("events_scope", default=None)


@contextmanager
def scope() -> Iterator[None]:
    """A unit of work that emits several events (one evaluation of a conversion): consumers may
    memoise what they look up per event in `scope_memo()` for its duration, so N events cost
    one lookup. Producers open it; nested scopes share the outer one."""
    if _scope.get() is not None:
        yield
        return
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def scope_memo() -> dict[Any, Any] | None:
    """The current scope's memo, or None outside a scope (consumers then look up each time)."""
    return _scope.get()
