"""Turn the overview's numbers into what the page shows: formatted values next to their
definitions, the funnel, the chart series, the period chooser."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.http import QueryDict
from django.utils import translation
from django.utils.translation import gettext as _

from analytics.kpis import DEFINITIONS, MAX_PERIOD_DAYS, PRESET_DAYS, Overview, Period, kpi_values
from referral_saas.money import format_money, to_major

DEFAULT_DAYS = 30
MONEY_KPIS = {"referred_revenue", "reward_cost", "cost_per_customer"}
PERCENT_KPIS = {"participation_rate", "conversion_rate", "revenue_share", "roi"}


class PeriodError(ValueError):
    """A custom period the page cannot show; the message says why."""


def parse_period(params: QueryDict, today: date) -> Period:
    """`?days=7|30|90` or `?from=YYYY-MM-DD&to=YYYY-MM-DD` (inclusive, UTC); default 30 days."""
    if params.get("from") or params.get("to"):
        try:
            start = date.fromisoformat(params.get("from", ""))
            end = date.fromisoformat(params.get("to", ""))
        except ValueError:
            raise PeriodError(_("Give both dates of a custom period as YYYY-MM-DD.")) from None
        if start > end:
            raise PeriodError(_("The period must start on or before its last day."))
        if end > today:
            raise PeriodError(_("The period cannot end after today."))
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            message = _("Choose a period of at most %(days)s days.")
            raise PeriodError(message % {"days": MAX_PERIOD_DAYS})
        return Period(start=start, end=end)
    raw = params.get("days", str(DEFAULT_DAYS))
    days = int(raw) if raw.isdigit() and int(raw) in PRESET_DAYS else DEFAULT_DAYS
    return Period(start=today - timedelta(days=days - 1), end=today)


def _locale() -> str:
    return (translation.get_language() or "en").split("-")[0]


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _money(amount: Decimal | int | None, currency: str) -> str:
    if amount is None:
        return "—"
    return format_money(int(Decimal(amount).to_integral_value()), currency, _locale())


def _display(key: str, value: Any) -> list[str]:
    """One or more display strings (money KPIs: one per currency)."""
    if isinstance(value, dict):
        if not value:
            return ["—"]
        shown = []
        for currency, amount in sorted(value.items()):
            text = _money(amount, currency) if key in MONEY_KPIS else percent(amount)
            shown.append(f"{text} ({currency})" if len(value) > 1 else text)
        return shown
    if key in PERCENT_KPIS:
        return [percent(value)]
    if key == "viral_coefficient":
        return ["—" if value is None else f"{value:.2f}"]
    return [f"{value:,}"]


def kpi_cards(overview: Overview) -> list[dict[str, Any]]:
    values = kpi_values(overview.totals)
    return [
        {
            "key": d.key,
            "label": d.label,
            "sentence": d.sentence,
            "values": _display(d.key, values[d.key]),
        }
        for d in DEFINITIONS
    ]


def funnel(overview: Overview) -> list[dict[str, Any]]:
    """visit → join → share → click → signup → order → reward; steps we do not record say so
    instead of showing a number. From the click on, the steps follow the period's clicks
    (`analytics.compute.click_cohort`): each counts the clicks of the step before that went
    one step further, so the rate from the step before is a true share (never above 100 %).
    Join → click has no rate: clicks per joined advocate is not a share."""
    counts = overview.totals.counts
    cohort = overview.totals.cohort
    steps: list[dict[str, Any]] = [
        {
            "label": _("Visit"),
            "value": None,
            "rate": False,
            "note": _("Not recorded yet: program page views are not tracked."),
        },
        {
            "label": _("Join"),
            "value": counts["advocates"],
            "note": _("Advocates who joined"),
            "rate": False,
        },
        {
            "label": _("Share"),
            "value": None,
            "rate": False,
            "note": _("Not recorded yet: share buttons open the network directly."),
        },
        {
            "label": _("Click"),
            "value": counts["clicks"],
            "note": _("Clicks on referral links in the period"),
            "rate": False,
        },
        {
            "label": _("Signup"),
            "value": cohort["signed_up"],
            "note": _("Of those clicks, the ones after which the friend signed up"),
            "rate": True,
        },
        {
            "label": _("Order"),
            "value": cohort["ordered"],
            "note": _("…and then placed a referred order (qualified or in review)"),
            "rate": True,
        },
        {
            "label": _("Reward"),
            "value": cohort["rewarded"],
            "note": _("…whose order earned a reward (not rejected or voided)"),
            "rate": True,
        },
    ]
    top = max((step["value"] or 0 for step in steps), default=0)
    previous = None
    for step in steps:
        step["max"] = top or 1
        value = step["value"]
        step["from_previous"] = (
            percent(Decimal(value) / Decimal(previous))
            if value is not None and previous and step["rate"]
            else ""
        )
        if value is not None:
            previous = value
    return steps


def chart_series(overview: Overview, currency: str | None) -> dict[str, Any]:
    revenue = overview.series["revenue"].get(currency, []) if currency else []
    return {
        "days": overview.series["days"],
        "clicks": overview.series["clicks"],
        "referrals": overview.series["referrals"],
        "conversions": overview.series["referred_conversions"],
        "currency": currency or "",
        "revenue": [float(to_major(amount, currency)) for amount in revenue] if currency else [],
        "labels": {
            "clicks": _("Clicks"),
            "referrals": _("Referrals"),
            "conversions": _("Conversions"),
            "revenue": _("Referred revenue"),
        },
    }


def main_currency(overview: Overview) -> str | None:
    """The program's currency, or the merchant's biggest by revenue."""
    if overview.program is not None:
        return overview.program.currency
    money = overview.totals.money
    if not money:
        return None
    return max(money, key=lambda c: (money[c]["revenue"], money[c]["referred_revenue"]))
