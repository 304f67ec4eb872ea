"""The privacy export's sections for what apps above tracking keep about a person: their
rewards, their consent decisions on hosted pages, the emails we sent them, and how long this
merchant keeps each kind of data. Registered into `tracking.privacy` at start-up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Q

from hosted.models import ConsentRecord, SentEmail
from retention import policy
from rewards.models import Reward
from tracking import privacy
from tracking.models import Click


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None


def _rewards(rows: privacy.SubjectRows) -> list[dict[str, Any]]:
    """The advocate's own rewards, and the friend rewards of the subject's referrals and
    orders (the reward's code is theirs; nothing of the other side's)."""
    mine = Q(advocate__in=rows.advocates, recipient="advocate") | Q(
        Q(referral__in=rows.referrals) | Q(conversion__in=rows.conversions), recipient="friend"
    )
    return [
        {
            "id": reward.public_id,
            "recipient": reward.recipient,
            "kind": reward.kind,
            "amount": reward.amount,
            "percent": reward.percent,
            "points": reward.points,
            "currency": reward.currency or None,
            "label": reward.label,
            "status": reward.status,
            "code": reward.fulfilment_code,
            "created_at": _time(reward.created_at),
            "issued_at": _time(reward.issued_at),
        }
        for reward in Reward.objects.filter(mine).order_by("pk")
    ]


def _own_clicks(rows: privacy.SubjectRows) -> list[int]:
    reported = [c.click_public_id for c in rows.conversions if c.click_public_id]
    own = [referral.click_id for referral in rows.referrals if referral.click_id]
    return list(
        Click.objects.filter(Q(pk__in=own) | Q(public_id__in=reported)).values_list("pk", flat=True)
    )


def _consents(rows: privacy.SubjectRows) -> list[dict[str, Any]]:
    """Consent decisions made on the subject's own visits (by that visit, or by the visitor
    id the visit or their orders carried)."""
    visitors = {c.visitor_id for c in rows.conversions if c.visitor_id}
    visitors |= {a.visitor_id for a in rows.advocates if a.visitor_id}
    visitors |= {r.click.visitor_id for r in rows.referrals if r.click and r.click.visitor_id}
    match = Q(click_id__in=_own_clicks(rows)) | Q(visitor_id__in=sorted(visitors))
    return [
        {
            "choice": record.choice,
            "text_version": record.text_version,
            "locale": record.locale,
            "visitor_id": record.visitor_id,
            "created_at": _time(record.created_at),
        }
        for record in ConsentRecord.objects.filter(match).order_by("pk")
    ]


def _emails(rows: privacy.SubjectRows) -> list[dict[str, Any]]:
    """Emails sent to the subject as an advocate (keys name the advocate or its reward)."""
    names = [advocate.public_id for advocate in rows.advocates]
    names += list(
        Reward.objects.filter(advocate__in=rows.advocates, recipient="advocate").values_list(
            "public_id", flat=True
        )
    )
    if not names:
        return []
    match = Q()
    for name in names:
        match |= Q(key__endswith=f":{name}") | Q(key__contains=f":{name}:")
    return [
        {"kind": sent.kind, "status": sent.status, "sent_at": _time(sent.sent_at)}
        for sent in SentEmail.objects.filter(match).order_by("pk")
    ]


def _retention(rows: privacy.SubjectRows) -> dict[str, Any]:
    return policy.periods_for_export()


def register() -> None:
    privacy.export_section_register("rewards", _rewards)
    privacy.export_section_register("consents", _consents)
    privacy.export_section_register("emails", _emails)
    privacy.export_section_register("retention", _retention)
