"""Per-day numbers computed from the raw tracking rows: the one definition of every counter,
used both by the roll-up task (closed days, stored) and by the overview (today, live).

Each row is keyed by (UTC day, program id, A/B variant key, currency). Counts go on the row
of the program's currency; order money goes on the row of the order's currency, so a merchant
selling in two currencies never has them added together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import CharField, Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Lower, NullIf, TruncDate

from analytics import sketch
from analytics.models import SketchKind
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
    _add(
        rows,
        window.rows(Click.objects.all(), "created_at")
        .values(*per_program, **_BY_ADVOCATE)
        .annotate(clicks=Count("id")),
    )
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
        .values(*per_program, **_BY_ADVOCATE)
        .annotate(rewards=Count("id"), reward_cost=Sum("cost")),
    )
    return dict(rows), _sketches(window) if distinct else {}


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


def _sketches(window: Window) -> dict[SketchKey, bytes]:
    """Visitors per (day, program) by visitor id, else IP hash; customers per day (whole
    merchant) by email, else the storefront's customer id."""
    keys: dict[SketchKey, list[str]] = defaultdict(list)
    visitors = (
        window.rows(Click.objects.all(), "created_at")
        .annotate(key=_key("visitor_id", "ip_hash"))
        .filter(key__isnull=False)
        .values_list("day", "program_id", "key")
        .distinct()
    )
    for day, program_id, key in visitors:
        keys[(day, program_id, SketchKind.VISITORS)].append(key)
    customers = (
        window.rows(Conversion.objects.all(), "occurred_at")
        .annotate(key=_key(Lower("customer_email"), "customer_id"))
        .filter(key__isnull=False)
        .values_list("day", "key")
        .distinct()
    )
    for day, key in customers:
        keys[(day, None, SketchKind.CUSTOMERS)].append(key)
    return {key: sketch.sketch_of(values) for key, values in keys.items()}
