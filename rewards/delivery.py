"""Deprecated: outbound webhooks moved to the `webhooks` app, events to `events`.

Kept only for `rewards.pipeline`, which still imports `emit` and `deliveries_sweep` from here
until the pipeline split switches it to `events.emit` (issue 13). Delete this module then;
nothing new may import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import events
from webhooks.delivery import deliveries_sweep

__all__ = ["deliveries_sweep", "emit"]


def emit(event_type: str, data: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
    """`events.emit` (which hands the event to every consumer, webhooks' outbox among them)."""
    events.emit(event_type, data)
