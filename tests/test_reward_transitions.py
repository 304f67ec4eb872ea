"""The reward state machine (`rewards.transitions`): the table's allowed from-states, an illegal
transition refused without changing anything, a legal one appending its reason, emitting its
event and auditing who acted, and docs/ARCHITECTURE.md showing exactly the table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from accounts.models import AuditEvent
from referral_saas import tenancy
from rewards import transitions
from rewards.models import Reward, RewardStatus
from rewards.transitions import TRANSITIONS, Audit, reward_transition, transitions_markdown
from tests.conftest import World
from tests.factories import make_program
from tracking import services

ARCHITECTURE = Path(__file__).resolve().parent.parent / "docs" / "ARCHITECTURE.md"

# What each transition may start from, written out by hand: changing the table means changing
# this too, on purpose.
EXPECTED = {
    "release": ({"pending"}, "approved"),
    "review_hold": ({"held"}, "pending"),
    "review_approve": ({"held"}, "approved"),
    "review_reject": ({"held"}, "rejected"),
    "approve": ({"pending", "held"}, "approved"),
    "reject": ({"pending", "held"}, "rejected"),
    "void": ({"pending", "held", "approved", "failed"}, "voided"),
    "refund_void": ({"pending", "held", "approved", "failed"}, "voided"),
    "issue": ({"approved"}, "issued"),
    "confirm": ({"approved"}, "issued"),
    "fail": ({"approved"}, "failed"),
    "retry": ({"failed"}, "approved"),
    "claw_back": ({"issued"}, "clawed_back"),
    "redeem": ({"issued"}, "redeemed"),
    "expire": ({"issued", "held", "approved", "failed"}, "expired"),
}
FINAL = {"rejected", "voided", "clawed_back", "redeemed", "expired"}

LEGAL = [(name, source) for name, t in TRANSITIONS.items() for source in t.sources]
ILLEGAL = [
    (name, status)
    for name, t in TRANSITIONS.items()
    for status in RewardStatus.values
    if status not in t.sources
]


def test_each_transition_starts_only_from_its_allowed_states() -> None:
    table = {name: (set(t.sources), t.target) for name, t in TRANSITIONS.items()}
    assert table == EXPECTED
    states = set(RewardStatus.values)
    for t in TRANSITIONS.values():
        assert set(t.sources) <= states
        assert t.target in states
        assert t.target not in t.sources
        assert t.event is None or t.event.startswith("reward.")
    assert not FINAL & {s for t in TRANSITIONS.values() for s in t.sources}


def test_architecture_doc_shows_the_table() -> None:
    text = ARCHITECTURE.read_text()
    match = re.search(
        re.escape(transitions.START_MARKER) + r"\n(.*?)\n" + re.escape(transitions.END_MARKER),
        text,
        re.DOTALL,
    )
    assert match, "docs/ARCHITECTURE.md lost the reward-transitions markers"
    assert match.group(1) == transitions_markdown(), (
        "docs/ARCHITECTURE.md's reward states differ from rewards/transitions.py; paste "
        "transitions_markdown() between the markers"
    )


@pytest.fixture
def make(world: World) -> Any:
    program = make_program(world.acme)
    counter = iter(range(1000))

    def make_reward(status: str) -> Reward:
        n = next(counter)
        with tenancy.merchant_context(world.acme):
            advocate = services.advocate_enroll(
                program=program, email=f"adv{n}@example.com", name="Maria"
            ).advocate
            conversion = services.conversion_record(
                order_id=f"O-{n}", amount=5000, currency="EUR", customer={"email": "f@x.com"}
            ).conversion
            return Reward.objects.create(
                recipient="advocate",
                advocate=advocate,
                conversion=conversion,
                program=program,
                kind="account_credit",
                amount=1000,
                currency="EUR",
                status=status,
                fulfilment_method="manual",
                reasons=[{"rule": "created", "outcome": status, "detail": "Test."}],
            )

    return make_reward


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(event_type: str, data: Any, **_context: Any) -> None:
        seen.append((event_type, data() if callable(data) else data))

    monkeypatch.setattr(transitions, "emit", record)
    return seen


def _row(reward: Reward) -> tuple[Any, ...]:
    return tuple(
        Reward.unscoped_all_merchants.filter(pk=reward.pk).values_list(
            "status", "reasons", "updated_at", "issued_at", "next_attempt_at"
        )[0]
    )


@pytest.mark.parametrize(("name", "status"), ILLEGAL)
def test_an_illegal_transition_is_refused_and_changes_nothing(
    world: World, make: Any, emitted: list[Any], name: str, status: str
) -> None:
    reward = make(status)
    before = _row(reward)
    audit = Audit(data={"why": "test"}) if TRANSITIONS[name].audit else None
    with tenancy.merchant_context(world.acme):
        changed = reward_transition(
            reward, name, reason={"rule": "test", "outcome": "x", "detail": "y"}, audit=audit
        )
        assert changed is False
        assert _row(reward) == before
        assert not AuditEvent.objects.exists()
    assert emitted == []


@pytest.mark.parametrize(("name", "source"), LEGAL)
def test_a_legal_transition_appends_its_reason_emits_and_audits(
    world: World, make: Any, emitted: list[Any], name: str, source: str
) -> None:
    reward = make(source)
    transition = TRANSITIONS[name]
    reason = {"rule": "test", "outcome": transition.target, "detail": "Because."}
    audit = Audit(data={"why": "test"}) if transition.audit else None
    with tenancy.merchant_context(world.acme):
        assert reward_transition(reward, name, reason=reason, audit=audit) is True
        assert reward.status == transition.target
        assert [r["rule"] for r in reward.reasons] == ["created", "test"]
        assert reward.reasons[-1] == reason
        audited = list(AuditEvent.objects.values_list("action", "target_id", "data"))
    assert audited == (
        [(transition.audit, reward.public_id, {"why": "test"})] if transition.audit else []
    )
    if transition.event:
        assert [(event, data["id"], data["status"]) for event, data in emitted] == [
            (transition.event, reward.public_id, transition.target)
        ]
    else:
        assert emitted == []


def test_extra_fields_are_set_in_the_same_update(world: World, make: Any) -> None:
    reward = make(RewardStatus.APPROVED)
    with tenancy.merchant_context(world.acme):
        assert reward_transition(
            reward,
            "fail",
            reason={"rule": "fulfilment", "outcome": "failed", "detail": "Boom."},
            refresh=False,
            last_error="Boom.",
            next_attempt_at=None,
        )
        stored = Reward.objects.get(pk=reward.pk)
    assert (stored.status, stored.last_error, stored.next_attempt_at) == ("failed", "Boom.", None)


def test_a_system_transition_cannot_be_audited_as_a_person(world: World, make: Any) -> None:
    reward = make(RewardStatus.PENDING)
    before = _row(reward)
    with tenancy.merchant_context(world.acme), pytest.raises(ValueError, match="system only"):
        reward_transition(
            reward, "release", reason={"rule": "r", "outcome": "o", "detail": "d"}, audit=Audit()
        )
    assert _row(reward) == before
