"""The reward state machine, written once.

`TRANSITIONS` names every way a reward's status may change: the states it may start from, the
state it ends in, the webhook event it emits (if any) and the audit action recorded when a
person takes it. `reward_transition` is the only code that changes `Reward.status`:

- one conditional UPDATE `WHERE status IN (<from-states>)`, so two concurrent callers cannot
  both act and a reward in any other state is left exactly as it was (the call returns False);
- the reason is appended by the database in that same UPDATE (`JsonArrayAppend`), so a reason
  written meanwhile by someone else is never lost;
- the caller's extra fields (`issued_at`, `next_attempt_at`, …) are set in that UPDATE too;
- then, only if the row changed, the audit event (when a person acted) and the webhook event,
  both in the caller's transaction.

docs/ARCHITECTURE.md ("Reward states") shows `transitions_markdown()`;
tests/test_reward_transitions.py fails when the two differ.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from referral_saas.db import JsonArrayAppend
from rewards.models import Reward, RewardStatus
from rewards.pipeline.payloads import emit, reward_payload

PENDING, HELD, APPROVED, ISSUED = (
    RewardStatus.PENDING,
    RewardStatus.HELD,
    RewardStatus.APPROVED,
    RewardStatus.ISSUED,
)
REJECTED, VOIDED, CLAWED_BACK, FAILED = (
    RewardStatus.REJECTED,
    RewardStatus.VOIDED,
    RewardStatus.CLAWED_BACK,
    RewardStatus.FAILED,
)
REDEEMED, EXPIRED = RewardStatus.REDEEMED, RewardStatus.EXPIRED


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    # The outbound webhook event emitted when it happens (None: none is).
    event: str | None
    # The audit action recorded when a person takes it (None: only the system takes it).
    audit: str | None
    when: str


TRANSITIONS: dict[str, Transition] = {
    transition.name: transition
    for transition in (
        Transition(
            "release",
            (PENDING,),
            APPROVED,
            "reward.approved",
            None,
            "The hold ended (the release beat).",
        ),
        Transition(
            "review_hold",
            (HELD,),
            PENDING,
            None,
            None,
            "Its conversion was approved in review; the hold period has not ended yet.",
        ),
        Transition(
            "review_approve",
            (HELD,),
            APPROVED,
            "reward.approved",
            None,
            "Its conversion was approved in review after the hold period ended.",
        ),
        Transition(
            "review_reject",
            (HELD,),
            REJECTED,
            None,
            None,
            "Its conversion was rejected in review.",
        ),
        Transition(
            "approve",
            (PENDING, HELD),
            APPROVED,
            "reward.approved",
            "reward.approved",
            "The merchant approves it (API or dashboard).",
        ),
        Transition(
            "reject",
            (PENDING, HELD),
            REJECTED,
            None,
            "reward.rejected",
            "The merchant rejects it.",
        ),
        Transition(
            "void",
            (PENDING, HELD, APPROVED, FAILED),
            VOIDED,
            "reward.voided",
            "reward.voided",
            "The merchant voids it (it was not issued and never will be).",
        ),
        Transition(
            "refund_void",
            (PENDING, HELD, APPROVED, FAILED),
            VOIDED,
            "reward.voided",
            None,
            "Its order was refunded (in full, or below the program's minimum) before issue.",
        ),
        Transition(
            "issue",
            (APPROVED,),
            ISSUED,
            "reward.issued",
            None,
            "Its fulfilment method issued it.",
        ),
        Transition(
            "confirm",
            (APPROVED,),
            ISSUED,
            "reward.issued",
            "reward.issued",
            "The merchant confirms they delivered it (`webhook`, `manual` methods).",
        ),
        Transition(
            "fail",
            (APPROVED,),
            FAILED,
            None,
            None,
            "Fulfilment gave up: an error retrying cannot fix, or the last allowed attempt.",
        ),
        Transition(
            "retry",
            (FAILED,),
            APPROVED,
            None,
            "reward.retried",
            "The merchant retries a failed reward; attempts start again.",
        ),
        Transition(
            "claw_back",
            (ISSUED,),
            CLAWED_BACK,
            "reward.clawed_back",
            None,
            "Its order was refunded after issue; the reversal runs after commit.",
        ),
        Transition(
            "redeem",
            (ISSUED,),
            REDEEMED,
            "reward.redeemed",
            None,
            "A friend's offer was spent: an order carried its code (or the friend's email); "
            "its `conversion` is that order. Once only: a later order gets `friend_code_reused`.",
        ),
        Transition(
            "expire",
            (ISSUED, HELD, APPROVED, FAILED),
            EXPIRED,
            "reward.expired",
            None,
            "A friend's offer was not spent by its `expires_at` (the sweep); the code is "
            "deactivated where the method can.",
        ),
    )
}


@dataclass(frozen=True)
class Audit:
    """A person took the transition: recorded under the transition's audit action."""

    request: HttpRequest | None = None
    actor: User | None = None
    data: dict[str, Any] = field(default_factory=dict)


def reward_transition(
    reward: Reward,
    name: str,
    *,
    reason: dict[str, Any],
    now: datetime | None = None,
    audit: Audit | None = None,
    refresh: bool = True,
    **changes: Any,
) -> bool:
    """Take the transition `name` if the reward is in one of its from-states; returns whether
    it did. On success `reward` is reloaded (unless `refresh=False` and nothing needs it), the
    audit event is recorded when `audit` is given, and the transition's webhook event emitted.
    """
    transition = TRANSITIONS[name]
    if audit is not None and transition.audit is None:
        raise ValueError(f"The {name} transition is taken by the system only: nothing to audit.")
    changed = Reward.objects.filter(pk=reward.pk, status__in=transition.sources).update(
        status=transition.target,
        reasons=JsonArrayAppend("reasons", [reason]),
        updated_at=now or timezone.now(),
        **changes,
    )
    if not changed:
        return False
    if refresh or audit is not None or transition.event is not None:
        reward.refresh_from_db()
    if audit is not None and transition.audit is not None:
        audit_record(
            action=transition.audit,
            actor=audit.actor,
            target=reward,
            data=audit.data,
            request=audit.request,
        )
    if transition.event is not None:
        emit(
            transition.event,
            functools.partial(reward_payload, reward),
            subject=reward,
            origin=name,
        )
    return True


START_MARKER = "<!-- reward-transitions:start (generated from rewards/transitions.py) -->"
END_MARKER = "<!-- reward-transitions:end -->"


def transitions_markdown() -> str:
    """The table as docs/ARCHITECTURE.md shows it, between START_MARKER and END_MARKER."""
    rows = [
        "| Transition | From | To | Webhook event | Audited as | When |",
        "|---|---|---|---|---|---|",
    ]
    for transition in TRANSITIONS.values():
        sources = ", ".join(f"`{source}`" for source in transition.sources)
        event = f"`{transition.event}`" if transition.event else "—"
        audited = f"`{transition.audit}`" if transition.audit else "—"
        rows.append(
            f"| `{transition.name}` | {sources} | `{transition.target}` | {event} | {audited} "
            f"| {transition.when} |"
        )
    return "\n".join(rows)
