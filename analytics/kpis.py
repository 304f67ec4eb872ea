"""The overview's numbers: every KPI defined once, in one plain sentence shown on the page.

Closed days come from the roll-ups; the days after the last roll-up (normally just today) are
computed live from the raw rows, so the page is never silently stale and never scans a whole
period of raw clicks. All days are UTC.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar, cast

from django.core.cache import cache
from django.db.models import Count, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics import sketch
from analytics.compute import (
    COHORT,
    COHORT_COLUMNS,
    COUNTERS,
    FIELDS,
    MONEY,
    Window,
    click_cohort,
    compute_days,
)
from analytics.models import DailySketch, DailyStats, RollupState, SketchKind
from programs.models import Program
from tracking.models import Advocate, Click

PRESET_DAYS = (7, 30, 90)
ROLLUP_BEHIND = timedelta(minutes=15)
MAX_PERIOD_DAYS = 366
# How long a read of the stored roll-ups stays cached (a new version replaces it sooner).
STORED_CACHE_SECONDS = 3600

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


@dataclass(frozen=True)
class Definition:
    key: str
    label: Any
    sentence: Any


DEFINITIONS = (
    Definition("clicks", _("Clicks"), _("Visits through advocates' referral links.")),
    Definition(
        "unique_visitors",
        _("Unique visitors"),
        _(
            "Different people who clicked: by visitor id where the visitor consented to it, "
            "otherwise by hashed IP address and browser, counted once a day (a click with "
            "neither counts as one visitor). Estimated within about 2% beyond a few thousand."
        ),
    ),
    Definition("advocates", _("Advocates"), _("People who joined the program in the period.")),
    Definition(
        "participation_rate",
        _("Participation rate"),
        _(
            "Of the different customers seen in your orders in the period, the share who had "
            "joined the program as advocates by the day of their order (matched by email or "
            "customer id)."
        ),
    ),
    Definition("referrals", _("Referrals"), _("Friends who signed up through an advocate.")),
    Definition(
        "conversions",
        _("Conversions"),
        _("Referred orders (attributed to an advocate) that qualified or await review."),
    ),
    Definition(
        "conversion_rate",
        _("Conversion rate"),
        _(
            "Clicks in the period after which the friend placed a referred order (so far) ÷ "
            "clicks in the period. Orders by a code typed at checkout, with no click, are "
            "conversions but not part of this rate."
        ),
    ),
    Definition(
        "referred_revenue",
        _("Referred revenue"),
        _("Order amount minus refunds of qualified referred orders."),
    ),
    Definition(
        "revenue_share",
        _("Share of all revenue"),
        _("Referred revenue ÷ the revenue of every order you reported, referred or not."),
    ),
    Definition(
        "reward_cost",
        _("Reward cost"),
        _("What the rewards created in the period cost you, except rejected and voided ones."),
    ),
    Definition("roi", _("ROI"), _("(Referred revenue - reward cost) ÷ reward cost.")),
    Definition(
        "cost_per_customer",
        _("Cost per acquired customer"),
        _(
            "Reward cost ÷ new customers acquired: qualified referred orders not marked as "
            "a returning customer's."
        ),
    ),
    Definition(
        "viral_coefficient",
        _("Viral coefficient"),
        _(
            "New customers each advocate brings: referrals per advocate times conversions per "
            "referral (above 1, the program grows by itself)."
        ),
    ),
)


@dataclass
class Totals:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    # currency → money field → minor units (orders in two currencies are never added up)
    money: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys((*MONEY, "customers"), 0))
    )
    unique_visitors: int = 0
    customers_seen: int = 0
    # Customers seen who are advocates (of the program, or of any program for the merchant).
    participants: int = 0
    # What became of the period's clicks (`analytics.compute.click_cohort`).
    cohort: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("signed_up", "ordered", "rewarded"), 0)
    )


@dataclass
class Overview:
    period: Period
    program: Program | None
    totals: Totals
    series: dict[str, Any]
    through_day: date | None
    computed_at: datetime | None
    variant_counts: dict[str, dict[str, int]]
    # Advocates and clicks of every program recorded since the last roll-up, when the period
    # holds every one of them (it ends today and starts no later than that roll-up's day):
    # the all-time counts then need no query of their own (`all_time_counts`).
    recorded_since: dict[str, int] | None = None

    @property
    def rollups_behind(self) -> bool:
        """The last roll-up is older than two of its periods: the numbers are still right
        (everything since is counted live) but the page gets slower; say so."""
        if self.computed_at is None:
            return False
        return timezone.now() - self.computed_at > ROLLUP_BEHIND


def ratio(numerator: float, denominator: float) -> Decimal | None:
    """None when the ratio is undefined (nothing to divide by), never a made-up zero."""
    if not denominator:
        return None
    return Decimal(numerator) / Decimal(denominator)


def program_overview(
    *,
    period: Period,
    program: Program | None,
    distinct: bool = True,
    state: RollupState | Literal["read"] | None = "read",
) -> Overview:
    """The numbers of one program (or the whole merchant) for `period`: the roll-ups' rows
    up to their last run plus, live, whatever was recorded since (every row when the roll-ups
    have never run). Without `distinct`, unique visitors, customers and the click cohort are
    left at 0 (the A/B results need only counts). `state`: the merchant's `RollupState` when
    the caller read it already (None: there is none), else it is read here."""
    if state == "read":
        state = RollupState.objects.first()
    assert not isinstance(state, str)
    rows: list[tuple[tuple[date, int | None, str, str], dict[str, int]]] = []
    sketches: list[tuple[date | None, int | None, str, bytes]] = []
    recorded_after = None
    if state is not None and state.through_day is not None:
        recorded_after = state.computed_at
        rolled_end = min(period.end, state.through_day)
        if rolled_end >= period.start:
            stored_rows, stored_sketches = _stored(state, period.start, rolled_end, distinct)
            rows += stored_rows
            sketches += stored_sketches
    window = Window(start=period.start, end=period.end, created_after=recorded_after)
    live_rows, live_sketches = compute_days(window, distinct=distinct)
    rows += list(live_rows.items())
    sketches += [(d, p, k, r) for (d, p, k), r in live_sketches.items()]
    overview = _assemble(period, program, rows, sketches, state)
    # The period holds everything recorded since: it starts by then and ends today.
    holds_since = recorded_after is not None and period.start <= recorded_after.date()
    if holds_since and period.end >= timezone.now().date():
        overview.recorded_since = {
            name: sum(row[name] for row in live_rows.values()) for name in ("advocates", "clicks")
        }
    if distinct:
        overview.totals.cohort = _cohort(period, program, rows, state)
    return overview


def _cohort(
    period: Period, program: Program | None, rows: list[Any], state: RollupState | None
) -> dict[str, int]:
    """The period's click cohort: as stored in the roll-ups for frozen days (their clicks may
    be deleted by now), counted from the referrals for the days after."""
    cohort = dict.fromkeys(COHORT, 0)
    start = period.start
    frozen = state.cohort_frozen_through if state is not None else None
    if frozen is not None and frozen >= period.start:
        for (day, program_id, _variant, _currency), values in rows:
            if day <= frozen and _wanted(program_id, program):
                for name, column in COHORT_COLUMNS.items():
                    cohort[name] += values.get(column, 0)
        start = frozen + timedelta(days=1)
    if start <= period.end:
        live = click_cohort(start=start, end=period.end, program_id=program.pk if program else None)
        for name in COHORT:
            cohort[name] += live[name]
    return cohort


def _stored(
    state: RollupState, start: date, end: date, distinct: bool
) -> tuple[list[Any], list[tuple[date | None, int | None, str, bytes]]]:
    """The roll-ups' rows of start..end and (with `distinct`) their sketches merged per
    program and kind, read once per version of the roll-ups (`RollupState.version`, moved on
    by every write to them) and then from the cache: between two roll-up runs the page reads
    its hundreds of stored rows and sketches (2 MB over 90 days) once, not on every view.
    Without the cache (unreachable), read every time."""

    def read() -> tuple[list[Any], list[tuple[date | None, int | None, str, bytes]]]:
        sketches: list[tuple[date | None, int | None, str, bytes]] = []
        if distinct:
            by_kind: dict[tuple[int | None, str], list[bytes]] = defaultdict(list)
            for _day, program_id, kind, registers in _stored_sketches(start, end):
                by_kind[(program_id, kind)].append(registers)
            sketches = [
                (None, program_id, kind, sketch.merge(parts))
                for (program_id, kind), parts in by_kind.items()
            ]
        return _stored_rows(start, end), sketches

    return _per_version(state, f"stored:{start}:{end}:{int(distinct)}", read)


def _per_version(state: RollupState, name: str, read: Callable[[], T]) -> T:
    """`read()` of the stored roll-ups, cached under `name` for this version of them
    (`RollupState.version`, moved on by every write to them); read every time when the cache
    is unreachable."""
    key = f"analytics:{name}:{state.merchant_id}:{state.version}:{state.computed_at.isoformat()}"
    try:
        found = cache.get(key)
    except Exception:
        logger.warning("cache unavailable; reading the roll-ups", exc_info=True)
        found = None
    if found is not None:
        return cast(T, found)
    value = read()
    try:
        cache.set(key, value, STORED_CACHE_SECONDS)
    except Exception:
        logger.warning("cache unavailable; roll-ups not cached", exc_info=True)
    return value


def _stored_rows(start: date, end: date) -> list[Any]:
    columns = (*FIELDS, *COHORT_COLUMNS.values())
    values = DailyStats.objects.filter(day__gte=start, day__lte=end).values_list(
        "day", "program_id", "variant_key", "currency", *columns
    )
    return [((d, p, v, c), dict(zip(columns, rest, strict=True))) for d, p, v, c, *rest in values]


def _stored_sketches(start: date, end: date) -> list[tuple[date, int | None, str, bytes]]:
    values = DailySketch.objects.filter(day__gte=start, day__lte=end).values_list(
        "day", "program_id", "kind", "registers"
    )
    return [(d, p, k, bytes(r)) for d, p, k, r in values]


def _assemble(
    period: Period,
    program: Program | None,
    rows: list[Any],
    sketches: list[tuple[date | None, int | None, str, bytes]],
    state: RollupState | None,
) -> Overview:
    totals = Totals()
    index = {day: n for n, day in enumerate(period.days)}
    series: dict[str, Any] = {
        name: [0] * len(index) for name in ("clicks", "referrals", "referred_conversions")
    }
    revenue_by_day: dict[str, list[int]] = defaultdict(lambda: [0] * len(index))
    variant_counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    for (day, program_id, variant, currency), values in rows:
        # All revenue is the merchant's whole revenue even on a program's page (its share).
        if currency:
            totals.money[currency]["revenue"] += values["revenue"]
        if program is not None and program_id != program.pk:
            continue
        for name in COUNTERS:
            totals.counts[name] += values[name]
        if currency:
            money = totals.money[currency]
            money["referred_revenue"] += values["referred_revenue"]
            money["reward_cost"] += values["reward_cost"]
            money["customers"] += values["new_referred_customers"]
            revenue_by_day[currency][index[day]] += values["referred_revenue"]
        for name in series:
            series[name][index[day]] += values[name]
        if variant:
            for name in FIELDS:
                variant_counts[variant][name] += values[name]
    visitors = [r for _d, p, k, r in sketches if k == SketchKind.VISITORS and _wanted(p, program)]
    customers = [r for _d, _p, k, r in sketches if k == SketchKind.CUSTOMERS]
    participants = [
        r for _d, p, k, r in sketches if k == SketchKind.PARTICIPANTS and _wanted(p, program)
    ]
    totals.unique_visitors = sketch.estimate(sketch.merge(visitors))
    totals.customers_seen = sketch.estimate(sketch.merge(customers))
    totals.participants = sketch.estimate(sketch.merge(participants))
    series["days"] = [day.isoformat() for day in period.days]
    series["revenue"] = dict(revenue_by_day)
    return Overview(
        period=period,
        program=program,
        totals=totals,
        series=series,
        through_day=state.through_day if state else None,
        computed_at=state.computed_at if state and state.through_day else None,
        variant_counts=dict(variant_counts),
    )


def _wanted(program_id: int | None, program: Program | None) -> bool:
    return program is None or program_id == program.pk


def kpi_values(totals: Totals) -> dict[str, Any]:
    """Each KPI as a number (or None where it is undefined); money per currency."""
    counts = totals.counts
    money = {
        currency: values
        for currency, values in totals.money.items()
        if any(values[name] for name in ("referred_revenue", "reward_cost", "customers"))
        or values["revenue"]
    }
    conversions_per_referral = ratio(counts["referred_conversions"], counts["referrals"])
    referrals_per_advocate = ratio(counts["referrals"], counts["advocates"])
    return {
        "clicks": counts["clicks"],
        "unique_visitors": totals.unique_visitors,
        "advocates": counts["advocates"],
        "participation_rate": ratio(totals.participants, totals.customers_seen),
        "referrals": counts["referrals"],
        "conversions": counts["referred_conversions"],
        "conversion_rate": ratio(totals.cohort["ordered"], counts["clicks"]),
        "referred_revenue": {c: v["referred_revenue"] for c, v in money.items()},
        "revenue_share": {c: ratio(v["referred_revenue"], v["revenue"]) for c, v in money.items()},
        "reward_cost": {c: v["reward_cost"] for c, v in money.items()},
        "roi": {
            c: ratio(v["referred_revenue"] - v["reward_cost"], v["reward_cost"])
            for c, v in money.items()
        },
        "cost_per_customer": {c: ratio(v["reward_cost"], v["customers"]) for c, v in money.items()},
        "viral_coefficient": (
            referrals_per_advocate * conversions_per_referral
            if referrals_per_advocate is not None and conversions_per_referral is not None
            else None
        ),
        "new_referred_customers": counts["new_referred_customers"],
        "rewards": counts["rewards"],
        "orders": counts["orders"],
    }


def all_time_counts(
    rollups: RollupState | None, overview: Overview | None = None
) -> dict[str, int]:
    """Advocates and clicks since the start: roll-up sums plus the rows recorded since the
    last roll-up (never a count over every raw click). The sums are read once per version of
    the roll-ups (then cached, as `program_overview` does); what was recorded since comes
    from the `overview` of a period that holds all of it, else from one query. The caller
    gives the merchant's `RollupState` (the overview reads it once for this and its figures),
    so the time of the last roll-up reaches the query as a value, not a reference to the
    outer row: PostgreSQL then estimates "recorded since" as the few rows it is (an index
    range in the current month's click partition) instead of a third of the table (a
    sequential scan of every click: 0.5 s at 1M clicks)."""
    if rollups is None or rollups.through_day is None:
        return {"advocates": Advocate.objects.count(), "clicks": Click.objects.count()}
    stored = _stored_totals(rollups)
    since = overview.recorded_since if overview is not None else None
    if since is None:
        after = rollups.computed_at
        counted = (
            RollupState.objects.annotate(
                clicks=_scalar(Click.objects.filter(created_at__gt=after), Count("pk")),
                advocates=_scalar(Advocate.objects.filter(created_at__gt=after), Count("pk")),
            )
            .values("clicks", "advocates")
            .get(pk=rollups.pk)
        )
        since = {name: counted[name] or 0 for name in ("advocates", "clicks")}
    return {name: stored[name] + since[name] for name in ("advocates", "clicks")}


def _stored_totals(state: RollupState) -> dict[str, int]:
    def read() -> dict[str, int]:
        sums = DailyStats.objects.aggregate(clicks=Sum("clicks"), advocates=Sum("advocates"))
        return {name: sums[name] or 0 for name in ("advocates", "clicks")}

    return _per_version(state, "totals", read)


def _scalar(queryset: Any, aggregate: Any) -> Subquery:
    """One aggregate over `queryset` as a subquery (grouped by the merchant: one row)."""
    return Subquery(
        queryset.order_by().values("merchant").annotate(value=aggregate).values("value")[:1]
    )
