"""Recurring commissions: the later paid invoices of a subscription.

A conversion that names a subscription (`subscription_id`: Stripe's `invoice.paid`, or the
API) and comes after that subscription's first attributed conversion (its *anchor*) is a
**renewal**. It belongs to the anchor's advocate and referral whatever it carries (a code
included), and earns the advocate's commission again when the program's advocate reward has
`recurring_months` and the invoice is less than that many months after the anchor's order
(12 months: the first invoice and the next eleven monthly ones). Otherwise it earns nothing,
with a reason (rule `recurring`, outcome `not_recurring` or `outside_window`).

A renewal is the same friend paying again, not a new friend: the first-purchase and
new-customer rules do not apply, there is no friend reward and no tier, and the per-advocate
cap (which counts friends) neither stops it nor counts it. The program's budget still applies.
The fraud rules judged the anchor and are not run again (they judge a friend's first order:
an invoice that follows it would trip "existing customer" at once): an anchor rejected by them
(or by a reviewer) rejects its renewals, one in review holds them for review too. An anchor
rejected only for itself (a trial invoice below the minimum) leaves each renewal to be judged
by the order rules on its own.

Cost: one query on the (merchant, subscription_id, occurred_at) index per conversion that
names a subscription, none for the others. Reads only, like attribution and the decision.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

from django.db.models import Q

from programs.specs import RewardSpec
from tracking.models import Conversion, ConversionStatus

# `Conversion.attributed_by` of a renewal.
RENEWAL = "subscription"


def subscription_anchor(conversion: Conversion) -> Conversion | None:
    """The subscription's first attributed conversion before this one, if any."""
    if not conversion.subscription_id:
        return None
    occurred = conversion.occurred_at
    earlier = Q(occurred_at__lt=occurred)
    if conversion.pk is not None:
        earlier |= Q(occurred_at=occurred, pk__lt=conversion.pk)
    return (
        Conversion.objects.select_related("advocate", "referral")
        .filter(earlier, subscription_id=conversion.subscription_id, advocate__isnull=False)
        .order_by("occurred_at", "pk")
        .first()
    )


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when it is shorter)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, _days(year, month)))


def _days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _reason(outcome: str, detail: str, **evidence: Any) -> dict[str, Any]:
    return {"rule": "recurring", "outcome": outcome, "detail": detail, "evidence": evidence}


def attribution_reason(anchor: Conversion) -> dict[str, Any]:
    assert anchor.advocate is not None
    return _reason(
        "info",
        f"An invoice of subscription {anchor.subscription_id}, whose first order "
        f"{anchor.order_id} ({anchor.occurred_at:%Y-%m-%d}) was referred by "
        f"{anchor.advocate.code}: it stays theirs.",
        subscription_id=anchor.subscription_id,
        first_order_id=anchor.order_id,
    )


def anchor_judgement(anchor: Conversion) -> tuple[str, int | None, list[dict[str, Any]]]:
    """A renewal's fraud outcome, risk score and reasons: its subscription's first order's.
    The fraud rules judge a friend's first order (an existing customer, a fast conversion,
    velocity); an invoice that follows would trip them all, so they are not run again."""
    evidence = {"first_order_id": anchor.order_id}
    if anchor.status == ConversionStatus.REJECTED and _rejected_the_friend(anchor):
        detail = f"The subscription's first order {anchor.order_id} was rejected."
        return "reject", anchor.risk_score, [_reason("reject", detail, **evidence)]
    if anchor.status == ConversionStatus.REVIEW:
        detail = f"The subscription's first order {anchor.order_id} is in review."
        return "review", anchor.risk_score, [_reason("review", detail, **evidence)]
    detail = f"Fraud rules judged the subscription's first order {anchor.order_id}."
    return "pass", anchor.risk_score, [_reason("info", detail, **evidence)]


# Rules that reject one order for itself (a trial invoice of 0 below the minimum), not the
# friend or the advocate: a renewal is judged by them on its own.
ORDER_RULES = frozenset({"min_order_amount", "currency", "program_active", "program_dates"})


def _rejected_the_friend(anchor: Conversion) -> bool:
    rules = {r.get("rule") for r in anchor.reasons if r.get("outcome") in ("reject", "rejected")}
    return not rules or not rules <= ORDER_RULES


def renewal_spec(
    spec: RewardSpec | None, *, anchor: Conversion, conversion: Conversion
) -> tuple[RewardSpec | None, dict[str, Any]]:
    """The advocate's reward this renewal earns (None: nothing), and why."""
    if spec is None or spec.recurring_months is None:
        return None, _reason(
            "not_recurring",
            "A later invoice of a subscription earns nothing: the advocate's reward is not a "
            "recurring commission (no recurring_months).",
            first_order_id=anchor.order_id,
        )
    until = add_months(anchor.occurred_at, spec.recurring_months)
    window = f"{spec.recurring_months} months from the first order {anchor.order_id}"
    evidence = {"first_order_id": anchor.order_id, "until": until.isoformat()}
    if conversion.occurred_at >= until:
        return None, _reason(
            "outside_window",
            f"Paid on {conversion.occurred_at:%Y-%m-%d}, after the commission's {window} "
            f"(it recurred until {until:%Y-%m-%d}): no commission.",
            **evidence,
        )
    return spec, _reason(
        "earned",
        f"Recurring commission: within {window} (until {until:%Y-%m-%d}).",
        **evidence,
    )
