"""Per-day numbers computed from the raw tracking rows: the one definition of every counter,
used both by the roll-up task (closed days, stored) and by the overview (today, live).

Each row is keyed by (UTC day, program id, A/B variant key, currency). Counts go on the row
of the program's currency; order money goes on the row of the order's currency, so a merchant
selling in two currencies never has them added together.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import itemgetter
from typing import Any

from django.db import connections
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat, Lower, NullIf, TruncDate

from analytics import sketch
from analytics.models import SketchKind
from programs.models import Program
from rewards.models import Reward, RewardStatus
from tracking.models import Advocate, Click, Conversion, ConversionStatus, Referral

COUNTERS = (
    "clicks",
    "advocates",
    "referrals",
    "referred_conversions",
    "new_referred_customers",
    "orders",
    "rewards",
)
MONEY = ("referred_revenue", "revenue", "reward_cost")
FIELDS = COUNTERS + MONEY
# Conversions that count as referred: attributed to an advocate and qualified or in review.
REFERRED_STATUSES = (ConversionStatus.QUALIFIED, ConversionStatus.REVIEW)
# Rewards that cost the merchant (the same rule as program budgets).
COSTLESS_REWARD_STATUSES = (RewardStatus.REJECTED, RewardStatus.VOIDED)

# Grouping of rows that belong to a program and an advocate (the variant is the advocate's).
_BY_ADVOCATE = {"row_variant": F("advocate__variant_key"), "row_currency": F("program__currency")}
_BY_ITSELF = {"row_variant": F("variant_key"), "row_currency": F("program__currency")}
# A reward costs in its order's currency (programs accept several: programs.currencies); a
# friend offer issued before any order, in the program's.
_REWARD_COST = {
    "row_variant": F("advocate__variant_key"),
    "row_currency": Coalesce(F("conversion__currency"), F("program__currency")),
}

RowKey = tuple[date, int | None, str, str]
SketchKey = tuple[date, int | None, str]


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC)."""
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _day(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """Days start..end (inclusive, UTC) of rows recorded (`created_at`) after `created_after`
    (exclusive) and up to `created_until` (inclusive), where given. The roll-up takes what was
    recorded up to its start; the overview adds live what was recorded since."""

    start: date
    end: date
    created_after: datetime | None = None
    created_until: datetime | None = None

    def rows(self, queryset: QuerySet[Any], day_field: str) -> QuerySet[Any]:
        low, high = day_bounds(self.start, self.end)
        queryset = queryset.filter(**{f"{day_field}__gte": low, f"{day_field}__lt": high})
        if self.created_after is not None:
            queryset = queryset.filter(created_at__gt=self.created_after)
        if self.created_until is not None:
            queryset = queryset.filter(created_at__lte=self.created_until)
        return queryset.annotate(day=_day(day_field))


def _add(rows: dict[RowKey, dict[str, int]], items: Iterable[dict[str, Any]]) -> None:
    for item in items:
        variant, currency = item["row_variant"] or "", item["row_currency"] or ""
        key = (item["day"], item["program_id"], variant, currency)
        row = rows[key]
        for name in FIELDS:
            row[name] += item.get(name) or 0


def compute_days(
    window: Window, *, distinct: bool = True
) -> tuple[dict[RowKey, dict[str, int]], dict[SketchKey, bytes]]:
    """Every counter and (with `distinct`) sketch of the current merchant for the window's
    rows."""
    rows: dict[RowKey, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    per_program = ("day", "program_id")
    # The overview's clicks since the last roll-up are read once, for their counts and their
    # visitors alike (the counts alone, or whole days, are grouped in the database).
    live = _live_clicks(window) if distinct and window.created_after is not None else None
    _add(rows, _live_click_counts(live) if live is not None else _clicks(window))
    _add(
        rows,
        window.rows(Advocate.objects.all(), "created_at")
        .values(*per_program, **_BY_ITSELF)
        .annotate(advocates=Count("id")),
    )
    _add(
        rows,
        window.rows(Referral.objects.all(), "created_at")
        .values(*per_program, **_BY_ADVOCATE)
        .annotate(referrals=Count("id")),
    )
    _add(rows, _conversions(window))
    _add(
        rows,
        window.rows(Reward.objects.exclude(status__in=COSTLESS_REWARD_STATUSES), "created_at")
        .values(*per_program, **_REWARD_COST)
        .annotate(rewards=Count("id"), reward_cost=Sum("cost")),
    )
    return dict(rows), _sketches(window, live) if distinct else {}


def _clicks(window: Window) -> QuerySet[Any]:
    """Clicks per (day, program, variant, currency). Counted live (rows recorded since the last
    roll-up), they are first grouped by advocate on the click table alone, read from the
    (merchant, -created_at) index of the current month's partition, and only each group looks
    up its advocate's variant and its program's currency: a busy day's thousands of clicks come
    from far fewer advocates, and a join per click cost ~30 ms at 10,000 live clicks. The
    roll-up (whole days of clicks) keeps one join, which PostgreSQL can hash."""
    clicks = window.rows(Click.objects.all(), "created_at")
    if window.created_after is None:
        return clicks.values("day", "program_id", **_BY_ADVOCATE).annotate(clicks=Count("id"))
    variant = Advocate.objects.filter(pk=OuterRef("advocate_id")).values("variant_key")
    currency = Program.objects.filter(pk=OuterRef("program_id")).values("currency")
    return (
        clicks.values("day", "program_id", "advocate_id")
        .annotate(clicks=Count("id"))
        .annotate(row_variant=Subquery(variant), row_currency=Subquery(currency))
    )


def _unregistered_key() -> Case:
    """A click's visitor key where it has no stored register (`_visitor_key`), else NULL."""
    return Case(
        When(visitor_register__isnull=True, then=_visitor_key()),
        default=Value(None),
        output_field=CharField(),
    )


# A live click: (day, program id, advocate id, sketch register, key where it has no register).
LiveClick = tuple[date, int, int, int | None, str | None]


def _live_clicks(window: Window) -> list[LiveClick]:
    """Every click of the window, one row each (`LiveClick`): the few thousand recorded since
    the last roll-up, read once for both their counts and their visitors."""
    clicks = window.rows(Click.objects.all(), "created_at").annotate(key=_unregistered_key())
    return _plain_rows(
        clicks.values_list("day", "program_id", "advocate_id", "visitor_register", "key")
    )


def _live_click_counts(clicks: list[LiveClick]) -> Iterable[dict[str, Any]]:
    """`_clicks` of the live clicks: counted per advocate here, then each advocate's variant
    and its program's currency looked up (two small queries)."""
    counts = Counter(map(itemgetter(0, 1, 2), clicks))
    variants = dict(
        Advocate.objects.filter(pk__in={a for _d, _p, a in counts}).values_list("pk", "variant_key")
    )
    currencies = dict(
        Program.objects.filter(pk__in={p for _d, p, _a in counts}).values_list("pk", "currency")
    )
    for (day, program_id, advocate_id), clicks_count in counts.items():
        yield {
            "day": day,
            "program_id": program_id,
            "row_variant": variants.get(advocate_id, ""),
            "row_currency": currencies.get(program_id, ""),
            "clicks": clicks_count,
        }


def _conversions(window: Window) -> QuerySet[Any]:
    net = F("amount") - F("refunded_amount")
    referred = Q(advocate__isnull=False, status__in=REFERRED_STATUSES)
    qualified = Q(advocate__isnull=False, status=ConversionStatus.QUALIFIED)
    return (
        window.rows(Conversion.objects.all(), "occurred_at")
        .values(
            "day", "program_id", row_currency=F("currency"), row_variant=F("advocate__variant_key")
        )
        .annotate(
            orders=Count("id"),
            revenue=Sum(net),
            referred_conversions=Count("id", filter=referred),
            referred_revenue=Sum(net, filter=qualified),
            new_referred_customers=Count("id", filter=qualified & ~Q(new_customer=False)),
        )
    )


def _key(*fields: Any) -> Coalesce:
    return Coalesce(*(NullIf(field, Value("")) for field in fields), output_field=CharField())


def _visitor_key() -> Case:
    """`tracking.visitors.visitor_key` in SQL, without the day (`_sketches` adds it), for
    clicks stored without their sketch register (recorded before it existed, or erased)."""
    return Case(
        When(~Q(visitor_id=""), then=Concat(Value("v:"), "visitor_id")),
        When(~Q(ip_hash=""), then=Concat(Value("ip:"), "ip_hash", Value("|"), "user_agent")),
        When(~Q(ip_prefix=""), then=Concat(Value("net:"), "ip_prefix", Value("|"), "user_agent")),
        default=Concat(Value("click:"), "public_id"),
        output_field=CharField(),
    )


def _sketches(window: Window, live: list[LiveClick] | None = None) -> dict[SketchKey, bytes]:
    """Visitors per (day, program) (`tracking.visitors`); customers per day (whole merchant)
    by email, else the storefront's customer id; participants per (day, program): those of the
    day's customers who had joined that program as advocates by the end of the day.

    Visitors are read in one query (none for the overview's `live` clicks, read already). A
    click's stored register (its key hashed when it was recorded, `tracking.visitors`)
    arrives as an integer, so nothing is hashed here; a click without one arrives as its key,
    hashed here. The roll-up (whole days) groups them in the database first; the overview's
    clicks since the last roll-up (a few thousand) arrive one row each, without Django's
    converters, which costs less than a sort or a hash in the database plus a converter per
    value."""
    keys: dict[SketchKey, set[str]] = defaultdict(set)
    registers: dict[SketchKey, list[int]] = defaultdict(list)
    if live is not None:
        visitors = set(map(itemgetter(0, 1, 3, 4), live))
    else:
        clicks = window.rows(Click.objects.all(), "created_at").annotate(key=_unregistered_key())
        if window.created_after is None:
            clicks = clicks.values("day", "program_id", "visitor_register", "key").distinct()
        visitors = set(
            _plain_rows(clicks.values_list("day", "program_id", "visitor_register", "key"))
        )
    # A set: one visitor's clicks of a day are one row (made in C, not a loop per click).
    for day, program_id, register, key in visitors:
        target = (day, program_id, SketchKind.VISITORS)
        if key is None:
            registers[target].append(register)
        else:
            keys[target].add(key if key.startswith("v:") else f"{key}@{day}")
    orders = window.rows(Conversion.objects.all(), "occurred_at")
    customers = list(
        orders.annotate(
            key=_key(Lower("customer_email"), "customer_id"), email=Lower("customer_email")
        )
        .filter(key__isnull=False)
        .values_list("day", "key", "email", "customer_id")
        .distinct()
    )
    for day, key, _email, _customer_id in customers:
        keys[(day, None, SketchKind.CUSTOMERS)].add(key)
    for (day, program_id), participant in _participants(orders, customers):
        keys[(day, program_id, SketchKind.PARTICIPANTS)].add(participant)
    return {
        key: sketch.sketch_of(keys.get(key, ()), registers.get(key, ()))
        for key in {*keys, *registers}
    }


def _plain_rows(queryset: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The rows of a `values_list` queryset whose columns are a UTC day first, then plain
    integers and strings, without Django's per-value converters: thousands of rows of small
    values cost more in converters than in the database. The day arrives as a date from
    PostgreSQL, and as text from SQLite (converted here)."""
    sql, params = queryset.query.sql_with_params()
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if connection.vendor == "postgresql":
        return rows
    days: dict[Any, date] = {}
    return [
        (days.get(day) or days.setdefault(day, date.fromisoformat(day)), *rest)
        for day, *rest in rows
    ]


def _participants(
    orders: QuerySet[Any], customers: list[tuple[date, str, str, str]]
) -> Iterable[tuple[tuple[date, int], str]]:
    """(day, program) → customer key, for each customer of the day who was an advocate of the
    program by the end of that day (matched by email, or by the storefront's customer id).
    The advocates are read in one query, restricted to those matching the window's orders."""
    if not customers:
        return
    emails = orders.exclude(customer_email="").values(email=Lower("customer_email"))
    customer_ids = orders.exclude(customer_id="").values("customer_id")
    advocates = (
        Advocate.objects.annotate(email_lower=Lower("email"))
        .filter(Q(email_lower__in=emails) | (~Q(customer_id="") & Q(customer_id__in=customer_ids)))
        .values_list("program_id", "email_lower", "customer_id", "created_at")
    )
    by_email: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    by_customer_id: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    for program_id, email, customer_id, joined_at in advocates:
        by_email[email].append((program_id, joined_at))
        if customer_id:
            by_customer_id[customer_id].append((program_id, joined_at))
    for day, key, email, customer_id in customers:
        _low, day_end = day_bounds(day, day)
        joined = by_email.get(email or "", []) + by_customer_id.get(customer_id or "", [])
        for program_id in {program for program, joined_at in joined if joined_at < day_end}:
            yield (day, program_id), key


COHORT = ("signed_up", "ordered", "rewarded")
# The roll-ups' columns holding a day's click cohort (`cohort_store`).
COHORT_COLUMNS = {name: f"clicks_{name}" for name in COHORT}


def _cohort_referrals(low: datetime, high: datetime) -> tuple[QuerySet[Any], dict[str, Any]]:
    """The referrals whose click was made in [low, high), and the cohort's counts over them."""
    referred = Conversion.objects.filter(
        referral=OuterRef("pk"), advocate__isnull=False, status__in=REFERRED_STATUSES
    )
    rewarded = Reward.objects.filter(
        conversion__referral=OuterRef("pk"),
        conversion__advocate__isnull=False,
        conversion__status__in=REFERRED_STATUSES,
    ).exclude(status__in=COSTLESS_REWARD_STATUSES)
    # `click__isnull=False` is implied by the join, but said, it lets PostgreSQL count the
    # referrals that have a click (from its statistics) and look their clicks up by id in the
    # period's partitions, instead of hashing every click of the period (2 s at 1M clicks
    # when few referrals carry a click).
    referrals = Referral.objects.filter(
        created_at__gte=low,
        click__isnull=False,
        click__created_at__gte=low,
        click__created_at__lt=high,
    )
    counts = {
        "signed_up": Count("click_id", distinct=True),
        "ordered": Count("click_id", distinct=True, filter=Q(Exists(referred))),
        "rewarded": Count("click_id", distinct=True, filter=Q(Exists(rewarded))),
    }
    return referrals, counts


def click_cohort(*, start: date, end: date, program_id: int | None) -> dict[str, int]:
    """What became of the clicks of start..end (inclusive, UTC) so far, each step a subset of
    the one before: clicks after which a friend signed up (a referral recorded with that
    click), of those the ones whose friend placed a referred order (attributed, qualified or in
    review), and of those the ones whose order earned a reward (not rejected or voided).
    Read from the referrals (one query), never from the clicks: a referral is always created
    after its click, so only referrals created since `start` can qualify."""
    referrals, counts = _cohort_referrals(*day_bounds(start, end))
    if program_id is not None:
        referrals = referrals.filter(program_id=program_id)
    totals = referrals.aggregate(**counts)
    return {name: totals[name] or 0 for name in COHORT}


def cohort_days(*, start: date, end: date) -> dict[RowKey, dict[str, int]]:
    """`click_cohort` per roll-up row of the clicks' day (the click's program, its
    advocate's variant, the program's currency), under the roll-ups' column names."""
    referrals, counts = _cohort_referrals(*day_bounds(start, end))
    grouped = referrals.values(
        "program_id",
        day=_day("click__created_at"),
        row_variant=F("advocate__variant_key"),
        row_currency=F("program__currency"),
    ).annotate(**counts)
    return {
        (item["day"], item["program_id"], item["row_variant"] or "", item["row_currency"] or ""): {
            column: item[name] or 0 for name, column in COHORT_COLUMNS.items()
        }
        for item in grouped
    }
