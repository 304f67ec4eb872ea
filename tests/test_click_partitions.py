"""Clicks partitioned by month on PostgreSQL (tracking.partitions, migration tracking.0010),
one plain table on SQLite: what lands where, partitions made ahead, retention deleting whole
months (a dropped partition on PostgreSQL, a DELETE on SQLite) with references nulled and the
numbers kept, and the overview reading only the partitions of the months it shows."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Merchant
from analytics import services as analytics
from analytics.kpis import Period, kpi_values, program_overview
from analytics.models import DailyStats
from hosted.models import ConsentRecord
from programs.models import Program
from referral_saas import tenancy
from retention.services import clicks_expired_drop, retention_run
from tests.conftest import World, on_sqlite
from tests.factories import make_program
from tracking import partitions
from tracking.models import Advocate, Click, Conversion, Referral

postgresql_only = pytest.mark.skipif(
    "on_sqlite()", reason="SQLite keeps one plain click table: no partitions to inspect"
)
MARCH = datetime(2026, 3, 1, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, tzinfo=UTC)
# 13 months after 20 April 2026: March is past every merchant's (default) period, April not.
NIGHT = datetime(2027, 5, 20, 3, 15, tzinfo=UTC)


def partition_of(click: Click) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM tracking_click WHERE id = %s", [click.pk]
        )
        return cursor.fetchone()[0]


def names() -> set[str]:
    return {partition.name for partition in partitions.click_partitions()}


def click(merchant: object, program: Program, advocate: Advocate, when: datetime) -> Click:
    with tenancy.merchant_context(merchant):  # type: ignore[arg-type]
        return Click.objects.create(
            program=program, advocate=advocate, ip_hash="h", visitor_id="v", created_at=when
        )


def shop(merchant: object) -> tuple[Program, Advocate]:
    program = make_program(merchant)  # type: ignore[arg-type]
    with tenancy.merchant_context(merchant):  # type: ignore[arg-type]
        advocate = Advocate.objects.create(
            program=program, email=f"a@{program.merchant_id}.example", code=f"A{program.pk}X"
        )
    return program, advocate


@postgresql_only
def test_the_click_table_is_partitioned_with_months_ahead_and_a_default(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT partstrat FROM pg_partitioned_table "
            "WHERE partrelid = 'tracking_click'::regclass"
        )
        assert cursor.fetchone() == ("r",)
        cursor.execute("SELECT to_regclass('tracking_click_default') IS NOT NULL")
        assert cursor.fetchone() == (True,)
    this_month = partitions.month_start(datetime.now(UTC))
    expected = {
        partitions.partition_name(partitions.month_start(this_month, months=n)) for n in range(4)
    }
    assert expected <= names()


@postgresql_only
def test_a_click_of_a_month_without_a_partition_lands_in_the_default(world: World) -> None:
    program, advocate = shop(world.acme)
    far = datetime(2031, 6, 15, tzinfo=UTC)
    assert partitions.partition_name(partitions.month_start(far)) not in names()
    # the hot path's one INSERT, whatever the month
    with CaptureQueriesContext(connection) as queries:
        stray = click(world.acme, program, advocate, far)
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    assert partition_of(stray) == partitions.DEFAULT_PARTITION
    current = click(world.acme, program, advocate, datetime.now(UTC))
    assert partition_of(current) == partitions.partition_name(
        partitions.month_start(datetime.now(UTC))
    )


@postgresql_only
def test_the_beat_task_creates_next_months_idempotently_and_moves_nothing(world: World) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["click-partitions-ahead"]
    assert entry["task"] == "tracking.partitions.click_partitions_ensure_task"
    program, advocate = shop(world.acme)
    # a click already in the default partition for March 2031 (the task did not run)
    stray = click(world.acme, program, advocate, datetime(2031, 3, 10, tzinfo=UTC))
    now = datetime(2031, 1, 5, tzinfo=UTC)

    created = partitions.click_partitions_ensure(now=now)

    assert created == [
        "tracking_click_p2031_01",
        "tracking_click_p2031_02",
        "tracking_click_p2031_04",
    ]
    assert partitions.click_partitions_ensure(now=now) == []
    assert partition_of(stray) == partitions.DEFAULT_PARTITION
    bounds = {p.name: (p.low, p.high) for p in partitions.click_partitions()}
    assert bounds["tracking_click_p2031_02"] == (
        datetime(2031, 2, 1, tzinfo=UTC),
        datetime(2031, 3, 1, tzinfo=UTC),
    )
    # the task itself (today's months exist since the migration)
    assert partitions.click_partitions_ensure_task.apply().get() == "created none"


def _old_months(world: World) -> dict[str, object]:
    """Acme: two March clicks (one a friend's referral and consent point at), one April
    click; Globex: one March click. Both merchants' March is past their 13 months on NIGHT."""
    acme_program, acme_advocate = shop(world.acme)
    globex_program, globex_advocate = shop(world.globex)
    march = [
        click(world.acme, acme_program, acme_advocate, MARCH + timedelta(days=4, hours=n))
        for n in range(2)
    ]
    april = click(world.acme, acme_program, acme_advocate, APRIL + timedelta(days=3))
    click(world.globex, globex_program, globex_advocate, MARCH + timedelta(days=9))
    with tenancy.merchant_context(world.acme):
        referral = Referral.objects.create(
            program=acme_program,
            advocate=acme_advocate,
            click=march[0],
            email="friend@example.com",
            created_at=MARCH + timedelta(days=5),
        )
        consent = ConsentRecord.objects.create(
            program=acme_program,
            click=march[0],
            choice="granted",
            text_version="v1",
            locale="en",
            created_at=MARCH + timedelta(days=5),
        )
    return {"referral": referral, "consent": consent, "april": april}


def _march_clicks_counted(merchant: object) -> int:
    with tenancy.merchant_context(merchant):  # type: ignore[arg-type]
        days = DailyStats.objects.filter(day__gte=date(2026, 3, 1), day__lte=date(2026, 3, 31))
        return sum(days.values_list("clicks", flat=True))


def _retention_deletes_march(world: World) -> dict[str, object]:
    rows = _old_months(world)
    # a merchant whose nightly run has not cleared March yet holds the whole month back
    with tenancy.merchant_context(world.acme):
        retention_run(now=NIGHT)
    assert clicks_expired_drop(now=NIGHT) == 0
    with tenancy.merchant_context(world.globex):
        assert Click.objects.count() == 1
        retention_run(now=NIGHT)

    deleted = clicks_expired_drop(now=NIGHT)

    assert deleted == 3
    assert clicks_expired_drop(now=NIGHT) == 0
    with tenancy.merchant_context(world.acme):
        assert list(Click.objects.values_list("pk", flat=True)) == [rows["april"].pk]  # type: ignore[attr-defined]
        assert Referral.objects.get().click_id is None
        assert ConsentRecord.objects.get().click_id is None
    with tenancy.merchant_context(world.globex):
        assert Click.objects.count() == 0
    # the numbers stay: March's clicks are still counted, also once its days are rolled up again
    assert _march_clicks_counted(world.acme) == 2
    with tenancy.merchant_context(world.acme):
        analytics.rollup_days(start=date(2026, 3, 1), end=date(2026, 3, 31), until=NIGHT)
        totals = program_overview(
            period=Period(start=date(2026, 3, 1), end=date(2026, 3, 31)), program=None
        ).totals
    assert _march_clicks_counted(world.acme) == 2
    assert totals.counts["clicks"] == 2
    return rows


@postgresql_only
def test_retention_drops_a_whole_old_partition_and_nulls_its_references(world: World) -> None:
    partitions.click_partitions_ensure(start=MARCH, until=APRIL, months_ahead=0)
    assert {"tracking_click_p2026_03", "tracking_click_p2026_04"} <= names()

    _retention_deletes_march(world)

    assert "tracking_click_p2026_03" not in names()
    assert "tracking_click_p2026_04" in names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('tracking_click_p2026_03')")
        assert cursor.fetchone() == (None,)


def test_retention_deletes_old_months_row_by_row_where_no_partition_holds_them(
    world: World,
) -> None:
    # SQLite: the one table; PostgreSQL: no March or April partition, the rows sit in the
    # default one. The same months go, with the same references nulled.
    _retention_deletes_march(world)
    if not on_sqlite():
        assert not {"tracking_click_p2026_03", "tracking_click_p2026_04"} & names()


@postgresql_only
def test_the_overview_reads_only_the_partitions_of_the_months_it_shows(world: World) -> None:
    partitions.click_partitions_ensure(
        start=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 6, 1, tzinfo=UTC),
        months_ahead=0,
    )
    program, advocate = shop(world.acme)
    for month in (2, 3, 4, 5):
        click(world.acme, program, advocate, datetime(2026, month, 10, tzinfo=UTC))
    period = Period(start=date(2026, 3, 5), end=date(2026, 4, 20))
    with tenancy.merchant_context(world.acme), CaptureQueriesContext(connection) as queries:
        overview = program_overview(period=period, program=None)
    assert overview.totals.counts["clicks"] == 2

    touched: set[str] = set()
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            if "tracking_click" not in query["sql"]:
                continue
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(line for (line,) in cursor.fetchall())
            touched |= set(re.findall(r"tracking_click_(?:p\d{4}_\d{2}|default)", plan))
    assert touched == {"tracking_click_p2026_03", "tracking_click_p2026_04"}


@postgresql_only
def test_the_benchmark_generator_fills_months_as_partitions(db: None) -> None:
    # A small run of generate_analytics_data (bench/overview.py's data): every column of the
    # models filled, clicks attached month by month as partitions, the roll-ups run.
    call_command(
        "generate_analytics_data",
        slug="generated",
        clicks=400,
        conversions=40,
        advocates=20,
        visitors=50,
        days=40,
        stdout=io.StringIO(),
    )
    merchant = Merchant.objects.get(slug="generated")
    with tenancy.merchant_context(merchant):
        assert Click.objects.count() == 400
        assert Conversion.objects.count() == 40
        assert sum(DailyStats.objects.values_list("clicks", flat=True)) == 400
    now = datetime.now(UTC)
    months, low = set(), partitions.month_start(now - timedelta(days=40))
    while low <= now:
        months.add(partitions.partition_name(low))
        low = partitions.month_start(low, months=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tableoid::regclass::text FROM tracking_click")
        assert {name for (name,) in cursor.fetchall()} == months


def _march_figures(merchant: object) -> dict[str, object]:
    with tenancy.merchant_context(merchant):  # type: ignore[arg-type]
        totals = program_overview(
            period=Period(start=date(2026, 3, 1), end=date(2026, 3, 31)), program=None
        ).totals
    return {"cohort": totals.cohort, **kpi_values(totals)}


def test_a_deleted_month_keeps_its_conversion_rate_from_the_rollups(world: World) -> None:
    # given: Acme's March has two clicks, one of them followed by a friend's qualified order
    # (PostgreSQL: in a partition of its own, dropped; SQLite: deleted from the one table)
    if not on_sqlite():
        partitions.click_partitions_ensure(start=MARCH, until=APRIL, months_ahead=0)
    rows = _old_months(world)
    with tenancy.merchant_context(world.acme):
        referral = rows["referral"]
        Conversion.objects.create(
            program_id=referral.program_id,  # type: ignore[attr-defined]
            advocate_id=referral.advocate_id,  # type: ignore[attr-defined]
            referral=referral,
            order_id="o-march",
            amount=5000,
            currency="EUR",
            status="qualified",
            occurred_at=MARCH + timedelta(days=6),
            created_at=MARCH + timedelta(days=6),
        )
        analytics.rollups_refresh(now=MARCH + timedelta(days=40))
    before = _march_figures(world.acme)
    assert before["cohort"] == {"signed_up": 1, "ordered": 1, "rewarded": 0}
    assert before["conversion_rate"] == Decimal(1) / Decimal(2)

    # when: both merchants' nightly runs clear March and retention deletes its clicks
    for merchant in (world.acme, world.globex):
        with tenancy.merchant_context(merchant):
            retention_run(now=NIGHT)
    assert clicks_expired_drop(now=NIGHT) == 3
    if not on_sqlite():
        assert "tracking_click_p2026_03" not in names()
    with tenancy.merchant_context(world.acme):
        assert Referral.objects.get().click_id is None

    # then: every figure of March is what it was, also once its days are rolled up again
    assert _march_figures(world.acme) == before
    with tenancy.merchant_context(world.acme):
        analytics.rollup_days(start=date(2026, 3, 1), end=date(2026, 3, 31), until=NIGHT)
    assert _march_figures(world.acme) == before
    # and April, not frozen, is still counted from its click (none of it signed up)
    with tenancy.merchant_context(world.acme):
        april = program_overview(
            period=Period(start=date(2026, 3, 1), end=date(2026, 4, 30)), program=None
        ).totals
    assert april.counts["clicks"] == 3
    assert april.cohort == before["cohort"]
