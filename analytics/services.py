"""Roll-ups: closed days computed once and stored, so the overview reads a few hundred rows
instead of millions of clicks.

`rollups_refresh` brings the current merchant's roll-ups up to yesterday (UTC) and recomputes
earlier days that changed since the last run: orders reported late or decided (evaluated,
reviewed, refunded) after their day closed, and rewards whose status moved. Re-running it is
harmless: each day's rows are replaced whole, under the merchant's `RollupState` row lock, so
two concurrent runs cannot interleave.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Min, Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from analytics.abtest import AbResult, ab_result
from analytics.compute import COHORT_COLUMNS, FIELDS, Window, cohort_days, compute_days, day_bounds
from analytics.kpis import Period, program_overview
from analytics.models import DailySketch, DailyStats, RollupState, SketchKind
from programs.models import Program
from programs.services import program_config, program_update
from programs.specs import SpecError
from rewards.models import Reward
from tracking.models import Advocate, Click, Conversion, Refund

# Rolled up in chunks of this many days, to bound the memory of the distinct-key sketches.
CHUNK_DAYS = 7
# How far back a first run looks for data (older rows are never rolled up).
MAX_HISTORY_DAYS = 3 * 366


def today_utc() -> date:
    return timezone.now().date()


def stored_changed() -> None:
    """Move the merchant's roll-up version on: called by every write to the stored roll-ups,
    in its transaction, so a cached read of them (`analytics.kpis`) is never used again."""
    RollupState.objects.update(version=F("version") + 1)


def rollup_days(*, start: date, end: date, until: datetime) -> int:
    """Replace the roll-up rows of start..end (inclusive) with ones computed from the rows
    recorded up to `until`. Returns the number of stats rows written."""
    stored_changed()
    rows, sketches = compute_days(Window(start=start, end=end, created_until=until))
    frozen, cohort_frozen = RollupState.objects.values_list(
        "visitors_frozen_through", "cohort_frozen_through"
    ).first() or (None, None)
    if frozen is not None and frozen >= start:
        _keep_stored(rows, start, min(end, frozen), ("clicks",))
    if cohort_frozen is not None and cohort_frozen >= start:
        _keep_stored(rows, start, min(end, cohort_frozen), tuple(COHORT_COLUMNS.values()))
    DailyStats.objects.filter(day__gte=start, day__lte=end).delete()
    stored = DailySketch.objects.filter(day__gte=start, day__lte=end)
    if frozen is not None and frozen >= start:
        # Retention cleared these days' clicks: their stored visitor sketches are the record.
        stored = stored.exclude(kind=SketchKind.VISITORS, day__lte=frozen)
        sketches = {
            key: registers
            for key, registers in sketches.items()
            if not (key[2] == SketchKind.VISITORS and key[0] <= frozen)
        }
    stored.delete()
    DailyStats.objects.bulk_create(
        DailyStats(day=day, program_id=program_id, variant_key=variant, currency=currency, **values)
        for (day, program_id, variant, currency), values in rows.items()
    )
    DailySketch.objects.bulk_create(
        DailySketch(day=day, program_id=program_id, kind=kind, registers=registers)
        for (day, program_id, kind), registers in sketches.items()
    )
    return len(rows)


def _keep_stored(
    rows: dict[Any, dict[str, int]], start: date, end: date, columns: tuple[str, ...]
) -> None:
    """Days up to the frozen one keep their stored click counts and click cohort: retention
    deletes whole months of clicks once they are rolled up and cleared (retention.services),
    and a day's clicks never change otherwise (a click is recorded at the time it happens)."""
    stored = DailyStats.objects.filter(day__gte=start, day__lte=end).values_list(
        "day", "program_id", "variant_key", "currency", *columns
    )
    kept = {
        (day, program, variant, currency): rest for day, program, variant, currency, *rest in stored
    }
    for key, values in rows.items():
        if start <= key[0] <= end:
            values.update(zip(columns, kept.pop(key, [0] * len(columns)), strict=True))
    for key, counts in kept.items():
        if any(counts):
            rows[key] = {**dict.fromkeys(FIELDS, 0), **dict(zip(columns, counts, strict=True))}


def cohort_store(*, through_day: date) -> None:
    """Store the click cohort of the days up to `through_day` not stored yet in their roll-up
    rows (a row is added where a day's cohort has none) and move `cohort_frozen_through` on
    (forward only). Called with the visitors' freeze, before retention clears and later
    deletes those days' clicks."""
    state = RollupState.objects.select_for_update().get()
    if state.cohort_frozen_through is not None and state.cohort_frozen_through >= through_day:
        return
    if state.cohort_frozen_through is not None:
        start = state.cohort_frozen_through + timedelta(days=1)
    else:
        first = DailyStats.objects.aggregate(first=Min("day"))["first"]
        start = min(first, through_day) if first is not None else through_day
    cohorts = cohort_days(start=start, end=through_day)
    stored_changed()
    columns = tuple(COHORT_COLUMNS.values())
    changed = []
    for row in DailyStats.objects.filter(day__gte=start, day__lte=through_day):
        counts = cohorts.pop((row.day, row.program_id, row.variant_key, row.currency), None)
        for column in columns:
            setattr(row, column, counts[column] if counts else 0)
        changed.append(row)
    DailyStats.objects.bulk_update(changed, columns, batch_size=1000)
    DailyStats.objects.bulk_create(
        DailyStats(day=day, program_id=program_id, variant_key=variant, currency=currency, **counts)
        for (day, program_id, variant, currency), counts in cohorts.items()
    )
    state.cohort_frozen_through = through_day
    state.save(update_fields=["cohort_frozen_through"])


def _first_day(today: date) -> date | None:
    """The earliest day with any data (bounded by MAX_HISTORY_DAYS)."""
    firsts = [
        Click.objects.aggregate(first=Min("created_at"))["first"],
        Advocate.objects.aggregate(first=Min("created_at"))["first"],
        Conversion.objects.aggregate(first=Min("occurred_at"))["first"],
    ]
    known = [moment.date() for moment in firsts if moment is not None]
    if not known:
        return None
    return max(min(known), today - timedelta(days=MAX_HISTORY_DAYS))


def _changed_days(since: datetime, through: date) -> set[date]:
    """Rolled-up days whose numbers changed since `since`: late or re-decided orders, refunds,
    rewards that moved (their status decides whether they cost anything)."""
    _low, high = day_bounds(through, through)
    touched = Q(created_at__gt=since) | Q(evaluated_at__gt=since) | Q(reviewed_at__gt=since)
    days: set[date] = set()
    for moment in Conversion.objects.filter(touched, occurred_at__lt=high).values_list(
        "occurred_at", flat=True
    ):
        days.add(moment.date())
    for moment in Refund.objects.filter(
        created_at__gt=since, conversion__occurred_at__lt=high
    ).values_list("conversion__occurred_at", flat=True):
        days.add(moment.date())
    for moment in Reward.objects.filter(updated_at__gt=since, created_at__lt=high).values_list(
        "created_at", flat=True
    ):
        days.add(moment.date())
    return days


def _ranges(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days → contiguous (start, end) ranges of at most CHUNK_DAYS days."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            start, _end = ranges[-1]
            if (day - start).days < CHUNK_DAYS:
                ranges[-1] = (start, day)
                continue
        ranges.append((day, day))
    return ranges


@transaction.atomic
def rollups_refresh(*, now: datetime | None = None) -> RollupState:
    """Roll up everything recorded up to now: every day since the last run (today so far
    included, it is replaced on each run until it closes) and earlier days that changed.
    The overview counts rows recorded after `computed_at` live. Idempotent."""
    now = now or timezone.now()
    today = now.date()
    RollupState.objects.get_or_create(defaults={"through_day": None, "computed_at": now})
    state = RollupState.objects.select_for_update().get()
    days: set[date] = set()
    if state.through_day is not None:
        days |= {d for d in _changed_days(state.computed_at, state.through_day) if d <= today}
        first = state.through_day  # rolled while it was still open: roll it again, closed
    else:
        first = _first_day(today) or today
    days |= {first + timedelta(days=n) for n in range((today - first).days + 1)}
    for start, end in _ranges(sorted(days)):
        rollup_days(start=start, end=end, until=now)
    state.through_day = today
    state.computed_at = now
    state.save(update_fields=["through_day", "computed_at"])
    return state


def visitors_freeze(*, through_day: date) -> None:
    """Keep the stored visitor sketches of every day up to `through_day` from now on (the
    retention job calls this after rolling up, before it clears those days' clicks), and
    store their click cohort (`cohort_store`). Only moves forward; the days must be rolled up
    already."""
    state = RollupState.objects.select_for_update().get()
    if state.through_day is None or state.through_day < through_day:
        raise ValueError("Roll up the days before freezing their visitors.")
    if state.visitors_frozen_through is None or state.visitors_frozen_through < through_day:
        state.visitors_frozen_through = through_day
        state.save(update_fields=["visitors_frozen_through"])
    cohort_store(through_day=through_day)


# --- A/B tests -------------------------------------------------------------------------------


@transaction.atomic
def abtest_end(
    *,
    actor: User | None,
    program: Program,
    keep: str,
    request: HttpRequest | None = None,
) -> Program:
    """End the program's A/B test keeping variant `keep`: its offer (advocate and friend
    rewards, where it sets them) and its copy become the program's, and the variants are
    removed, through `program_update` (so a live program gets a new version and advocates'
    earlier conversions keep theirs). Audited as `abtest.ended` with the results at the time.
    Raises SpecError when the program has no test or no such variant."""
    config = program_config(program)
    winner = next((variant for variant in config.variants if variant.key == keep), None)
    if not config.variants:
        raise SpecError({"variants": "This program has no A/B test running."})
    if winner is None:
        raise SpecError({"keep": "No such variant in this program's test."})
    data: dict[str, Any] = {"variants": []}
    if winner.advocate_reward is not None:
        data["advocate_reward"] = winner.advocate_reward.to_dict()
    if winner.friend_reward is not None:
        data["friend_reward"] = winner.friend_reward.to_dict()
    if winner.copy:
        data["copy"] = {
            locale: texts for locale, texts in winner.copy.items() if locale in program.locales
        }
    results = abtest_results(program=program)
    updated = program_update(actor=actor, program=program, data=data, request=request)
    audit_record(
        action="abtest.ended",
        actor=actor,
        target=updated,
        data={
            "kept": winner.key,
            "kept_name": winner.name,
            "version": updated.version,
            "results": [
                {
                    "key": result.key,
                    "clicks": result.clicks,
                    "conversions": result.conversions,
                    "probability_better": result.probability_better,
                }
                for result in (results.variants if results else [])
            ],
        },
        request=request,
    )
    return updated


def abtest_results(*, program: Program, today: date | None = None) -> AbResult | None:
    """The running test's results since the program was created (None: no test)."""
    config = program_config(program)
    if not config.variants:
        return None
    today = today or today_utc()
    period = Period(start=min(program.created_at.date(), today), end=today)
    overview = program_overview(period=period, program=program, distinct=False)
    rows = []
    for variant in config.variants:
        counts = overview.variant_counts.get(variant.key, {})
        rows.append(
            (
                variant.key,
                variant.name,
                counts.get("clicks", 0),
                counts.get("referred_conversions", 0),
                counts.get("advocates", 0),
            )
        )
    return ab_result(rows)
