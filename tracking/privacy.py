"""A data subject's rights within one merchant: export (GDPR Art. 15/20) and erasure (Art. 17).

Both run inside the current merchant (`referral_saas.tenancy`): another merchant's rows with the
same email are never read nor touched. The subject is found by email (case-insensitive) as an
advocate (`Advocate.email`), a referred friend (`Referral.email`) and a customer
(`Conversion.customer_email`), plus — one hop, not transitively — the advocate, referral and
conversion rows carrying a storefront `customer_id` found on those rows.

Erasure keeps every row and every amount (aggregates survive) and replaces personal data with
tombstones:

- the advocate's email becomes `erased+<public_id>@invalid` (unique, never a deliverable or
  matchable address), its name and customer id are emptied, and its referral code — built from
  the first name — is replaced by a random `ERASED-…` code. Links the advocate shared stop
  working (the subject has left the programme); clicks, referrals and conversions stay tied to
  the row by foreign key, and conversions that reported the old code are rewritten to the new
  one so attribution of orders still pending resolves to the same (erased) advocate;
- the IP hash and prefix, user agent, referer and visitor id of the subject's clicks (as an
  advocate, and the friend's own visit behind their referral or order) are emptied;
- the friend's referral email becomes `erased+<public_id>@invalid`, name and customer id empty;
- the advocate's enrolment evidence (keyed IP hash, visitor id) is emptied, and a block reason
  mentioning the email replaced (the connected Stripe account stays: what is owed must still be
  paid or reversed);
- the customer's conversions get a tombstone email, empty id and name, `{}` metadata, empty
  fraud evidence (visitor id, IP hash and prefix, user agent, country, payment fingerprint), and
  any mention of the email in the decision reasons or the review note is replaced;
- stored `Idempotency-Key` responses of this merchant that contain the email are deleted (a retry
  with such a key runs again instead of replaying the personal data).

Refunds hold no personal data (amount and the payment provider's refund id). Third parties' data
is left alone: the friends an advocate referred and their orders are exported to the advocate
without the friends' personal data (Art. 15(4)) and are not erased with the advocate.

The audit log (`accounts.AuditEvent`) is append-only — PostgreSQL refuses UPDATE and DELETE — and
is kept as the legal record of what was done: it is NOT erased. The privacy events themselves
record only the sha256 of the normalised email, never the address.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.api.idempotency import idempotency_responses_erase
from accounts.services import audit_record
from tracking.models import Advocate, Click, Conversion, Referral, Refund, StripeEvent
from tracking.services import CODE_ALPHABET, normalise_email

TOMBSTONE_DOMAIN = "invalid"  # RFC 2606: never resolves, so never mailed and never matched
ERASED_CODE_PREFIX = "ERASED-"
ERASED_TEXT = "[erased]"
CLICK_PERSONAL_FIELDS = ("ip_hash", "ip_prefix", "user_agent", "referer", "visitor_id")
# The fraud evidence reported with an order (tracking.services.conversion_record) is the
# customer's too: it goes with their email.
CONVERSION_EVIDENCE_FIELDS = (
    "visitor_id",
    "ip_hash",
    "ip_prefix",
    "user_agent",
    "country",
    "payment_fingerprint",
)


def email_hash(email: str) -> str:
    """sha256 of the normalised email: what the audit log and the erasure report carry."""
    return hashlib.sha256(email.encode()).hexdigest()


def tombstone_email(public_id: str) -> str:
    return f"erased+{public_id.lower()}@{TOMBSTONE_DOMAIN}"


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- Finding the subject -------------------------------------------------------------------


@dataclass
class _Subject:
    advocates: list[Advocate]
    referrals: list[Referral]  # as the referred friend
    conversions: list[Conversion]  # as the customer


def _find(email: str, *, lock: bool = False) -> _Subject:
    def rows(qs: Any) -> list[Any]:
        return list((qs.select_for_update(of=("self",)) if lock else qs).order_by("pk"))

    by_email = (
        Advocate.objects.filter(email__iexact=email),
        Referral.objects.filter(email__iexact=email),
        Conversion.objects.filter(customer_email__iexact=email),
    )
    customer_ids = {
        value
        for qs in by_email
        for value in qs.exclude(customer_id="").values_list("customer_id", flat=True)
    }
    by_id = Q(customer_id__in=sorted(customer_ids)) if customer_ids else Q(pk__in=[])
    return _Subject(
        advocates=rows(
            Advocate.objects.select_related("program").filter(Q(email__iexact=email) | by_id)
        ),
        referrals=rows(
            Referral.objects.select_related("program", "advocate", "click").filter(
                Q(email__iexact=email) | by_id
            )
        ),
        conversions=rows(
            Conversion.objects.select_related("program", "advocate", "referral").filter(
                Q(customer_email__iexact=email) | by_id
            )
        ),
    )


# --- Export ----------------------------------------------------------------------------------

# Sections that apps above tracking add to the export (rewards, consent records, emails sent,
# the retention periods): name → function of the subject's rows, returning JSON-ready data.
# Filled at start-up (`retention.export.register`), so tracking never imports those apps.
ExportSection = Callable[["SubjectRows"], Any]
EXPORT_SECTIONS: dict[str, ExportSection] = {}


@dataclass(frozen=True)
class SubjectRows:
    """What an export section is handed: the subject's normalised email and rows."""

    email: str
    advocates: list[Advocate]
    referrals: list[Referral]
    conversions: list[Conversion]


def export_section_register(name: str, section: ExportSection) -> None:
    EXPORT_SECTIONS[name] = section


# What apps above tracking erase with the subject (payouts: the advocate's payout details),
# inside the erasure's transaction, before the rows are tombstoned. Filled at start-up.
EraseSection = Callable[["SubjectRows"], int]
ERASE_SECTIONS: dict[str, EraseSection] = {}


def erase_section_register(name: str, section: EraseSection) -> None:
    ERASE_SECTIONS[name] = section


def _public_id(row: Any) -> str | None:
    return row.public_id if row is not None else None


def _own_click(click: Click | None) -> dict[str, Any] | None:
    """The friend's own visit (their data: exported in full; the IP only ever as hash/prefix)."""
    if click is None:
        return None
    return {
        "id": click.public_id,
        "ip_prefix": click.ip_prefix,
        "user_agent": click.user_agent,
        "referer": click.referer,
        "visitor_id": click.visitor_id,
        "created_at": _time(click.created_at),
    }


def _refunds(conversion: Conversion, refunds: dict[int, list[Refund]]) -> list[dict[str, Any]]:
    return [
        {
            "id": refund.public_id,
            "amount": refund.amount,
            "external_id": refund.external_id,
            "created_at": _time(refund.created_at),
        }
        for refund in refunds.get(conversion.pk, [])
    ]


def _advocate_export(advocate: Advocate) -> dict[str, Any]:
    # Visitors' and friends' personal data is theirs, not the advocate's: ids, times, amounts.
    clicks = Click.objects.filter(advocate=advocate).order_by("created_at", "pk")
    referrals = Referral.objects.select_related("click").filter(advocate=advocate).order_by("pk")
    conversions = Conversion.objects.filter(advocate=advocate).order_by("pk")
    return {
        "id": advocate.public_id,
        "program": advocate.program.public_id,
        "email": advocate.email,
        "name": advocate.name,
        "customer_id": advocate.customer_id,
        "code": advocate.code,
        "locale": advocate.locale,
        "variant": advocate.variant_key or None,
        "created_at": _time(advocate.created_at),
        # The enrolment's fraud evidence and a block, kept as long as the advocate row.
        "evidence": {"ip_hash": advocate.ip_hash, "visitor_id": advocate.visitor_id},
        "blocked_reason": advocate.blocked_reason,
        "clicks": [
            {"id": click.public_id, "created_at": _time(click.created_at)} for click in clicks
        ],
        "referrals": [
            {
                "id": referral.public_id,
                "click": _public_id(referral.click),
                "created_at": _time(referral.created_at),
            }
            for referral in referrals
        ],
        "conversions": [
            {
                "id": conversion.public_id,
                "amount": conversion.amount,
                "currency": conversion.currency,
                "refunded_amount": conversion.refunded_amount,
                "status": conversion.status,
                "occurred_at": _time(conversion.occurred_at),
                "created_at": _time(conversion.created_at),
            }
            for conversion in conversions
        ],
    }


def _referral_export(referral: Referral) -> dict[str, Any]:
    return {
        "id": referral.public_id,
        "program": referral.program.public_id,
        "advocate": referral.advocate.public_id,
        "email": referral.email,
        "customer_id": referral.customer_id,
        "name": referral.name,
        "click": _own_click(referral.click),
        "created_at": _time(referral.created_at),
    }


def _conversion_export(conversion: Conversion, refunds: dict[int, list[Refund]]) -> dict[str, Any]:
    return {
        "id": conversion.public_id,
        "order_id": conversion.order_id,
        "amount": conversion.amount,
        "currency": conversion.currency,
        "refunded_amount": conversion.refunded_amount,
        "status": conversion.status,
        "program": _public_id(conversion.program),
        "advocate": _public_id(conversion.advocate),
        "referral": _public_id(conversion.referral),
        "customer": {
            "email": conversion.customer_email,
            "id": conversion.customer_id,
            "name": conversion.customer_name,
        },
        "referral_code": conversion.referral_code,
        "click_id": conversion.click_public_id,
        "new_customer": conversion.new_customer,
        "metadata": conversion.metadata,
        # The fraud evidence reported with the order (the IP only ever as hash and prefix).
        "evidence": {name: getattr(conversion, name) for name in CONVERSION_EVIDENCE_FIELDS},
        "occurred_at": _time(conversion.occurred_at),
        "created_at": _time(conversion.created_at),
        "refunds": _refunds(conversion, refunds),
    }


def subject_export(email: Any) -> dict[str, Any]:
    """Every row about the subject in the current merchant, as JSON-ready data (ISO-8601 UTC
    times, money in minor units). Audited as `privacy.exported` with the email hashed."""
    email = normalise_email(email)
    subject = _find(email)
    refunds: dict[int, list[Refund]] = {}
    for refund in Refund.objects.filter(conversion__in=subject.conversions).order_by(
        "created_at", "pk"
    ):
        refunds.setdefault(refund.conversion_id, []).append(refund)
    export = {
        "object": "privacy_export",
        "email": email,
        "generated_at": _time(timezone.now()),
        "advocates": [_advocate_export(advocate) for advocate in subject.advocates],
        "referrals": [_referral_export(referral) for referral in subject.referrals],
        "conversions": [
            _conversion_export(conversion, refunds) for conversion in subject.conversions
        ],
    }
    rows = SubjectRows(email, subject.advocates, subject.referrals, subject.conversions)
    for name, section in EXPORT_SECTIONS.items():
        export[name] = section(rows)
    audit_record(
        action="privacy.exported",
        data={
            "email_sha256": email_hash(email),
            "advocates": len(subject.advocates),
            "referrals": len(subject.referrals),
            "conversions": len(subject.conversions),
        },
    )
    return export


# --- Erasure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureReport:
    email_hash: str
    erased: dict[str, int]
    erased_at: datetime = field(default_factory=timezone.now)

    def as_dict(self) -> dict[str, Any]:
        return {
            "object": "privacy_erasure",
            "email_hash": self.email_hash,
            "erased": dict(self.erased),
            "erased_at": _time(self.erased_at),
        }


def _scrub(value: Any, email: str) -> Any:
    """`value` (JSON) with every string that mentions the email replaced."""
    if isinstance(value, str):
        return ERASED_TEXT if email in value.lower() else value
    if isinstance(value, list):
        return [_scrub(item, email) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item, email) for key, item in value.items()}
    return value


def _erased_code() -> str:
    while True:
        code = ERASED_CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
        # Codes are unique across merchants (`/r/<code>` names none).
        if not Advocate.unscoped_all_merchants.filter(code=code).exists():
            return code


def _erase_advocates(advocates: list[Advocate], email: str) -> int:
    for advocate in advocates:
        old_code, new_code = advocate.code, _erased_code()
        advocate.email = tombstone_email(advocate.public_id)
        advocate.name = ""
        advocate.customer_id = ""
        advocate.code = new_code
        # The enrolment's fraud evidence (keyed IP hash, visitor id) and a block reason naming
        # them. The connected Stripe account stays: it is how what is owed is paid or reversed.
        advocate.ip_hash = ""
        advocate.visitor_id = ""
        advocate.blocked_reason = _scrub(advocate.blocked_reason, email)
        advocate.save(
            update_fields=[
                "email",
                "name",
                "customer_id",
                "code",
                "ip_hash",
                "visitor_id",
                "blocked_reason",
            ]
        )
        Conversion.objects.filter(referral_code=old_code).update(referral_code=new_code)
    return len(advocates)


def _erase_clicks(subject: _Subject) -> int:
    own_visits = [referral.click_id for referral in subject.referrals if referral.click_id]
    reported = [c.click_public_id for c in subject.conversions if c.click_public_id]
    clicks = Click.objects.filter(
        Q(advocate__in=subject.advocates) | Q(pk__in=own_visits) | Q(public_id__in=reported)
    ).exclude(**{name: "" for name in CLICK_PERSONAL_FIELDS})
    # exclude(a="", b="") leaves rows where *any* field is non-empty: those still hold data.
    # The sketch register derives from those fields: read by the erased key from now on.
    return clicks.update(**{name: "" for name in CLICK_PERSONAL_FIELDS}, visitor_register=None)


def _erase_referrals(referrals: list[Referral]) -> int:
    for referral in referrals:
        referral.email = tombstone_email(referral.public_id)
        referral.name = ""
        referral.customer_id = ""
        referral.save(update_fields=["email", "name", "customer_id"])
    return len(referrals)


def _erase_conversions(conversions: list[Conversion], email: str) -> int:
    for conversion in conversions:
        conversion.customer_email = tombstone_email(conversion.public_id)
        conversion.customer_id = ""
        conversion.customer_name = ""
        conversion.metadata = {}
        conversion.reasons = _scrub(conversion.reasons, email)
        conversion.review_note = _scrub(conversion.review_note, email)
        for name in CONVERSION_EVIDENCE_FIELDS:
            setattr(conversion, name, "")
        conversion.save(
            update_fields=[
                "customer_email",
                "customer_id",
                "customer_name",
                "metadata",
                "reasons",
                "review_note",
                *CONVERSION_EVIDENCE_FIELDS,
            ]
        )
    return len(conversions)


def _erase_idempotency_records(email: str) -> int:
    # In the database and in Redis, wherever the API kept them (accounts.api.idempotency).
    return idempotency_responses_erase(email)


def _erase_waiting_stripe_events(email: str) -> int:
    """Stripe events waiting for their order keep the event (customer data included). Erasure
    wins over applying them later: the payload goes, and the event is closed with a note."""
    return StripeEvent.objects.filter(processed_at__isnull=True, payload__icontains=email).update(
        payload=None,
        waiting_for=[],
        processed_at=timezone.now(),
        outcome="erased: the data subject's data was erased while this event waited for its order",
    )


@transaction.atomic
def subject_erase(email: Any) -> ErasureReport:
    """Replace the subject's personal data in the current merchant with tombstones, keeping
    every row and amount (see the module docstring). One transaction; idempotent: erasing again
    finds nothing and reports zeros. Audited as `privacy.erased` with the email hashed."""
    email = normalise_email(email)
    subject = _find(email, lock=True)
    rows = SubjectRows(email, subject.advocates, subject.referrals, subject.conversions)
    for section in ERASE_SECTIONS.values():
        section(rows)
    # Clicks first: they are found through the advocate rows and the referrals' click ids.
    erased = {
        "clicks": _erase_clicks(subject),
        "advocates": _erase_advocates(subject.advocates, email),
        "referrals": _erase_referrals(subject.referrals),
        "conversions": _erase_conversions(subject.conversions, email),
        "idempotency_records": _erase_idempotency_records(email),
        "stripe_events": _erase_waiting_stripe_events(email),
    }
    report = ErasureReport(
        email_hash=email_hash(email),
        erased={
            name: erased[name]
            for name in (
                "advocates",
                "clicks",
                "referrals",
                "conversions",
                "idempotency_records",
                "stripe_events",
            )
        },
    )
    audit_record(
        action="privacy.erased", data={"email_sha256": report.email_hash, "erased": report.erased}
    )
    return report
