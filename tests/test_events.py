"""The events layer: every declared type has a consumer, every type emitted anywhere in the code is
declared, an undeclared type is refused, and consumers run inside the emitting transaction."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.db import transaction

import events
from events import registry
from referral_saas import tenancy
from tests.conftest import World
from webhooks.models import WebhookEndpoint, WebhookMessage

ROOT = Path(__file__).resolve().parent.parent
# The code that emits: every first-party package (tests emit made-up types on purpose).
SKIPPED_DIRS = {".venv", "tests", "node_modules", "var", "static", "bench", "scripts"}


def _source_files() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
    ]


def _emitted_types() -> list[tuple[str, str]]:
    """(where, type or regex) for every `emit("…", …)`-like call in the code: a call of a
    function whose name ends with `emit` and whose first argument is a string (an f-string
    becomes a regex with `.+` for each placeholder)."""
    found: list[tuple[str, str]] = []
    for path in _source_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if not name.endswith("emit"):
                continue
            first = node.args[0]
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((where, re.escape(first.value)))
            elif isinstance(first, ast.JoinedStr):
                parts = [
                    re.escape(str(part.value)) if isinstance(part, ast.Constant) else ".+"
                    for part in first.values
                ]
                found.append((where, "".join(parts)))
    return found


def test_every_declared_event_type_has_a_consumer() -> None:
    without = [t for t in events.DECLARED_TYPES if not events.consumers(t)]
    assert without == []


def test_every_emitted_event_type_is_declared() -> None:
    emitted = _emitted_types()
    # The scan itself works: tracking's emits are found.
    tracked = ("advocate.created", "referral.created", "conversion.recorded", "refund.recorded")
    assert {re.escape(event_type) for event_type in tracked} <= {pattern for _, pattern in emitted}
    undeclared = [
        (where, pattern)
        for where, pattern in emitted
        if not any(re.fullmatch(pattern, declared) for declared in events.DECLARED_TYPES)
    ]
    assert undeclared == []


def test_the_declared_types_are_the_public_contracts_webhook_events() -> None:
    assert events.EVENT_TYPES == (
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
    )


def test_emitting_an_undeclared_type_raises_and_tells_nobody(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a consumer of every declared type
    told: list[str] = []

    def consumer(event: events.Event) -> None:
        told.append(event.type)

    for event_type in events.DECLARED_TYPES:
        monkeypatch.setitem(registry._consumers, event_type, [consumer])
    # when / then
    with pytest.raises(events.UnknownEventType, match=r"reward\.teleported"):
        events.emit("reward.teleported", {})
    assert told == []


def test_registering_for_an_undeclared_type_raises() -> None:
    with pytest.raises(events.UnknownEventType, match=r"reward\.teleported"):
        events.register("reward.teleported", lambda event: None)
    assert "reward.teleported" not in registry._consumers


def test_consumers_run_in_order_and_the_payload_is_built_once_and_only_if_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    built: list[int] = []

    def build() -> dict[str, int]:
        built.append(1)
        return {"n": 1}

    monkeypatch.setitem(registry._consumers, "reward.issued", [])
    events.register("reward.issued", lambda event: calls.append(f"first {event.data}"))
    events.register("reward.issued", lambda event: calls.append(f"second {event.data}"))
    events.emit("reward.issued", build)
    assert calls == ["first {'n': 1}", "second {'n': 1}"]
    assert built == [1]

    monkeypatch.setitem(registry._consumers, "reward.issued", [lambda event: None])
    events.emit("reward.issued", build)
    assert built == [1]  # nobody read it: never built


def test_registering_the_same_consumer_twice_registers_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def consumer(event: events.Event) -> None:
        pass

    monkeypatch.setitem(registry._consumers, "referral.created", [])
    events.register("referral.created", consumer)
    events.register("referral.created", consumer)
    assert events.consumers("referral.created") == (consumer,)


def test_a_consumers_writes_roll_back_with_the_emitting_transaction(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        WebhookEndpoint.objects.create(url="https://all.example/", secret="whsec_x")

        class ChangeFailed(Exception):
            pass

        written_inside: list[int] = []

        def change_that_fails() -> None:
            with transaction.atomic():
                events.emit("reward.issued", {"id": "rwd_1"})
                written_inside.append(WebhookMessage.objects.count())
                raise ChangeFailed

        with pytest.raises(ChangeFailed):
            change_that_fails()
        assert written_inside == [1]

        assert WebhookMessage.objects.count() == 0
        events.emit("reward.issued", {"id": "rwd_1"})
        assert list(WebhookMessage.objects.values_list("event_type", flat=True)) == [
            "reward.issued"
        ]


def test_consumers_see_the_subject_and_origin_the_producer_gave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[object, str]] = []
    subject = object()
    monkeypatch.setitem(
        registry._consumers,
        "advocate.created",
        [lambda event: seen.append((event.subject, event.origin))],
    )
    events.emit("advocate.created", {}, subject=subject, origin="api")
    events.emit("advocate.created", {})
    assert seen == [(subject, "api"), (None, "")]


def test_internal_events_are_never_offered_to_merchants() -> None:
    from webhooks.delivery import outbox_consumer
    from webhooks.models import WEBHOOK_EVENTS

    assert events.INTERNAL_EVENT_TYPES == ("conversion.recorded", "refund.recorded")
    assert not set(events.INTERNAL_EVENT_TYPES) & set(WEBHOOK_EVENTS)
    assert all(outbox_consumer not in events.consumers(t) for t in events.INTERNAL_EVENT_TYPES)
