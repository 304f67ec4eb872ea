"""The current merchant's retention periods and what each kind of data is kept for, in one
list that the retention page and the privacy export both show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from retention.models import RetentionPolicy


def current() -> RetentionPolicy:
    """The merchant's policy: its row, or the defaults (unsaved) until an owner changes them."""
    return RetentionPolicy.objects.first() or RetentionPolicy()


def months_before(moment: datetime, months: int) -> datetime:
    """Midnight (UTC) of the day `months` calendar months before `moment` (the 31st becomes
    the month's last day). Whole days, so a cut-off never splits a rolled-up day."""
    moment = moment.astimezone(UTC)
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    last_day = [
        31,
        29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][month - 1]
    day = min(moment.day, last_day)
    return datetime.combine(
        moment.date().replace(year=year, month=month, day=day), time.min, tzinfo=UTC
    )


@dataclass(frozen=True)
class Kept:
    key: str
    what: Promise | str
    kept: Promise | str


def kinds(policy: RetentionPolicy) -> list[Kept]:
    clicks = policy.click_personal_months
    referrals = policy.referral_email_months
    return [
        Kept(
            "click_personal_fields",
            _(
                "Clicks: hashed IP address, IP prefix, browser (user agent), referring page "
                "and visitor id"
            ),
            _(
                "%(months)s months, then cleared; the clicks themselves (time, program, "
                "advocate) are deleted later, a whole month at a time, once the overview's "
                "daily numbers hold them, so your numbers stay"
            )
            % {"months": clicks},
        ),
        Kept(
            "consent_visitor_ids",
            _("Consent decisions on your referral pages: the visitor id"),
            _(
                "%(months)s months, like the clicks; the decision, its time and text version "
                "stay as proof"
            )
            % {"months": clicks},
        ),
        Kept(
            "unconverted_referral_emails",
            _("Referred friends who never ordered: email, name and customer id"),
            _(
                "%(months)s months, then replaced by a placeholder; the referral (time, "
                "advocate) stays"
            )
            % {"months": referrals},
        ),
        Kept(
            "people",
            _("Advocates, their orders and rewards, and customers' orders"),
            _("As long as your program runs; erased on request (privacy API)"),
        ),
        Kept(
            "aggregates",
            _("Daily numbers of the overview (counts, sums, estimates of distinct visitors)"),
            _("Kept: they hold no personal data"),
        ),
        Kept(
            "audit_log",
            _("Audit log of your team's actions"),
            _(
                "Kept: it is the legal record (privacy requests appear in it only as a hash "
                "of the email)"
            ),
        ),
        Kept(
            "idempotency",
            _("Stored API responses for retries (Idempotency-Key)"),
            _("24 hours"),
        ),
    ]


def periods_for_export() -> dict[str, Any]:
    policy = current()
    return {
        "click_personal_fields_months": policy.click_personal_months,
        "consent_visitor_id_months": policy.click_personal_months,
        "unconverted_referral_email_months": policy.referral_email_months,
        "audit_log": "kept",
    }
