"""The payout state machine, written once (like `rewards.transitions`).

`TRANSITIONS` names every way a payout's status may change; `payout_transition` is the only
code that writes `Payout.status`: one conditional UPDATE `WHERE status IN (<from>)` that also
appends to `history`, then, only if the row changed, what the new state implies (rewards issued
when paid, ledger lines released when failed), the audit event when a person acted and the
webhook event — all in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import events
from accounts.models import User
from accounts.services import audit_record
from payouts.models import Payout, PayoutItem, PayoutItemKind, PayoutStatus
from referral_saas.db import JsonArrayAppend
from rewards import transitions as reward_transitions
from rewards.models import Reward

DUE, PROCESSING, PAID, FAILED = (
    PayoutStatus.DUE,
    PayoutStatus.PROCESSING,
    PayoutStatus.PAID,
    PayoutStatus.FAILED,
)


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    event: str | None
    audit: str | None
    when: str


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition(
            "start",
            (DUE,),
            PROCESSING,
            None,
            None,
            "A run claims it to pay it (Stripe, PayPal), or its SEPA file is generated.",
        ),
        Transition(
            "pay",
            (PROCESSING,),
            PAID,
            "payout.paid",
            None,
            "The provider confirmed it: the Stripe transfer exists, the PayPal item succeeded.",
        ),
        Transition(
            "mark_paid",
            (DUE, PROCESSING),
            PAID,
            "payout.paid",
            "payout.marked_paid",
            "The merchant paid it themselves (SEPA file uploaded to the bank, or by hand).",
        ),
        Transition(
            "fail",
            (DUE, PROCESSING),
            FAILED,
            "payout.failed",
            None,
            "The provider refused it or gave up; its rewards return to the balance.",
        ),
    )
}


def payout_payload(payout: Payout) -> dict[str, Any]:
    """The payout as the API shows it (also the webhook payload's `data`)."""
    from payouts.selectors import payout_data

    return payout_data(payout)


def _issue_rewards(payout: Payout, now: datetime) -> None:
    """The earnings of a paid payout become issued rewards. A reward voided by a refund while
    the payout was processing stays voided: the money left anyway, so the next payout deducts
    it (see `services.payouts_create_due`)."""
    earnings = PayoutItem.objects.filter(
        payout=payout, kind=PayoutItemKind.EARNING, active=True
    ).values_list("reward_id", flat=True)
    for reward in Reward.objects.filter(pk__in=list(earnings)).order_by("pk"):
        reward_transitions.reward_transition(
            reward,
            "issue",
            reason={
                "rule": "payout",
                "outcome": "issued",
                "detail": f"Paid in payout {payout.public_id}.",
            },
            now=now,
            fulfilment_external_id=payout.public_id,
            issued_at=now,
            next_attempt_at=None,
            last_error="",
        )


def payout_transition(
    payout: Payout,
    name: str,
    *,
    detail: str,
    now: datetime | None = None,
    request: HttpRequest | None = None,
    actor: User | None = None,
    **changes: Any,
) -> bool:
    """Take transition `name` if the payout is in one of its from-states; returns whether it
    did (and reloads `payout`)."""
    transition = TRANSITIONS[name]
    now = now or timezone.now()
    entry = {"at": now.isoformat(), "status": transition.target, "detail": detail[:500]}
    with transaction.atomic():
        changed = Payout.objects.filter(pk=payout.pk, status__in=transition.sources).update(
            status=transition.target,
            history=JsonArrayAppend("history", [entry]),
            updated_at=now,
            **changes,
        )
        if not changed:
            return False
        payout.refresh_from_db()
        if transition.target == PAID:
            _issue_rewards(payout, now)
        if transition.target == FAILED:
            # Its lines are released: the rewards are owed again and join the next payout.
            PayoutItem.objects.filter(payout=payout, active=True).update(active=False)
        if transition.audit is not None and (request is not None or actor is not None):
            audit_record(
                action=transition.audit,
                actor=actor,
                target=payout,
                data={"amount": payout.amount, "currency": payout.currency},
                request=request,
            )
        if transition.event is not None:
            events.emit(
                transition.event,
                lambda: payout_payload(payout),
                subject=payout,
                origin=name,
            )
    return True


def transitions_markdown() -> str:
    rows = [
        "| Transition | From | To | Webhook event | Audited as | When |",
        "|---|---|---|---|---|---|",
    ]
    for t in TRANSITIONS.values():
        sources = ", ".join(f"`{s}`" for s in t.sources)
        event = f"`{t.event}`" if t.event else "—"
        audit = f"`{t.audit}`" if t.audit else "—"
        rows.append(f"| `{t.name}` | {sources} | `{t.target}` | {event} | {audit} | {t.when} |")
    return "\n".join(rows)
