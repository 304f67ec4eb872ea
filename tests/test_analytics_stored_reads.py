"""The overview's two shortcuts give the figures the long way gives:

- a click's stored sketch register (`tracking.visitors`, set when it is recorded) counts the
  same visitor its key would, for the clicks since the last roll-up and in the roll-up itself;
  consent moves it with the visitor id, erasure clears it with the fields it comes from;
- the stored roll-ups are read once per version (`RollupState.version`) and then from the
  cache; any write to them, even at the same `computed_at`, is seen by the next view, and an
  unreachable cache only means reading them again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics import services
from analytics.compute import Window, compute_days
from analytics.kpis import Period, all_time_counts, kpi_values, program_overview
from analytics.models import SketchKind
from hosted.services import consent_record
from referral_saas import tenancy
from tests import analytics_data as data
from tests.conftest import World
from tests.factories import make_program
from tracking import visitors
from tracking.models import Advocate, Click
from tracking.privacy import subject_erase
from tracking.services import advocate_enroll

PERIOD = Period(start=data.START, end=data.END)
NOW = datetime(2026, 3, 10, 8, 30, tzinfo=UTC)
DAY = datetime(2026, 3, 3, 10, tzinfo=UTC)


def _clicks(world: World) -> Any:
    """Clicks of every kind of visitor key, two of them the same visitor."""
    program = make_program(world.acme)
    advocate = advocate_enroll(program=program, email="maria@example.com", name="Maria").advocate
    kinds = [
        {"visitor_id": "vis-1"},
        {"visitor_id": "vis-1"},  # the same visitor again
        {"ip_hash": "h1", "user_agent": "Firefox"},
        {"ip_hash": "h1", "user_agent": "Chrome"},
        {"ip_prefix": "203.0.113.0/24", "user_agent": "Firefox"},
        {},  # nothing known: a visitor of its own
        {},
    ]
    for n, fields in enumerate(kinds):
        Click.objects.create(
            program=program, advocate=advocate, created_at=DAY + timedelta(minutes=n), **fields
        )
    return program


def _visitor_sketches(window: Window) -> dict[Any, bytes]:
    _rows, sketches = compute_days(window)
    return {key: value for key, value in sketches.items() if key[2] == SketchKind.VISITORS}


@pytest.mark.parametrize("live", [True, False], ids=["since the roll-up", "roll-up"])
def test_stored_registers_count_what_the_keys_count(world: World, live: bool) -> None:
    with tenancy.merchant_context(world.acme):
        _clicks(world)
        assert not Click.objects.filter(visitor_register__isnull=True).exists()
        after = DAY - timedelta(hours=1) if live else None
        window = Window(start=DAY.date(), end=DAY.date(), created_after=after)
        registered = _visitor_sketches(window)
        Click.objects.update(visitor_register=None)  # read by key, hashed when read
        by_key = _visitor_sketches(window)
    assert registered == by_key
    assert len(registered) == 1  # one (day, program)
    # vis-1 once; h1 with two browsers; the prefix; two clicks with nothing: 6 visitors
    (sketch,) = registered.values()
    assert sum(1 for register in sketch if register) == 6


def test_a_register_is_the_hash_of_the_visitor_key(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        _clicks(world)
        click = Click.objects.filter(ip_hash="h1", user_agent="Firefox").get()
        no_key = Click.objects.filter(ip_hash="", ip_prefix="", visitor_id="").first()
    assert click.visitor_register == visitors.register_of(f"ip:h1|Firefox@{DAY.date()}")
    assert no_key is not None
    assert no_key.visitor_register == visitors.register_of(f"click:{no_key.public_id}@{DAY.date()}")


def test_consent_moves_the_register_to_the_visitor_id(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        program = _clicks(world)
        click = Click.objects.filter(ip_hash="h1", user_agent="Chrome").get()
        consent_record(
            program=program,
            choice="granted",
            locale="en",
            visitor_id="vis-9",
            click_public_id=click.public_id,
        )
        click.refresh_from_db()
    assert click.visitor_id == "vis-9"
    assert click.visitor_register == visitors.register_of("v:vis-9")


def test_erasure_clears_the_register_with_the_fields(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        _clicks(world)
        empty = dict(
            Click.objects.filter(ip_hash="", ip_prefix="", visitor_id="").values_list(
                "pk", "visitor_register"
            )
        )
        subject_erase("maria@example.com")
        left = dict(Click.objects.values_list("pk", "visitor_register"))
    # The clicks that said who clicked are read by their erased key from now on; the two that
    # never did keep theirs (their key, the click's own id, is unchanged).
    assert len(left) == 7
    assert len(empty) == 2
    assert {pk: register for pk, register in left.items() if register is not None} == empty


@pytest.fixture
def dataset(world: World) -> data.Dataset:
    return data.build(world.acme, world.globex)


def _overview_queries(world: World) -> tuple[dict[str, Any], list[str]]:
    with tenancy.merchant_context(world.acme), CaptureQueriesContext(connection) as queries:
        values = kpi_values(program_overview(period=PERIOD, program=None).totals)
    return values, [query["sql"] for query in queries.captured_queries]


def _reads_stored(sql: list[str]) -> bool:
    return any("analytics_dailystats" in q or "analytics_dailysketch" in q for q in sql)


def test_stored_rollups_are_read_once_per_version(world: World, dataset: data.Dataset) -> None:
    with tenancy.merchant_context(world.acme):
        services.rollups_refresh(now=NOW)
    first, first_sql = _overview_queries(world)
    second, second_sql = _overview_queries(world)
    assert first == second
    assert first["unique_visitors"] == 4
    assert first["referred_revenue"] == {"EUR": 12000}
    assert _reads_stored(first_sql)
    assert not _reads_stored(second_sql)
    # A review decided after its day closed, rolled up at the very same `computed_at`: the
    # cached read is of an older version, so the next view reads the roll-ups again.
    with tenancy.merchant_context(world.acme):
        conversion = dataset.conversions["c2"]
        conversion.status = "qualified"
        conversion.reviewed_at = timezone.now()
        conversion.save(update_fields=["status", "reviewed_at"])
        services.rollups_refresh(now=NOW)
    third, third_sql = _overview_queries(world)
    assert _reads_stored(third_sql)
    assert third["referred_revenue"] == {"EUR": 17000}


def test_a_roll_up_of_some_days_alone_is_seen_too(world: World, dataset: data.Dataset) -> None:
    with tenancy.merchant_context(world.acme):
        services.rollups_refresh(now=NOW)
    before, _sql = _overview_queries(world)
    with tenancy.merchant_context(world.acme):
        Click.objects.filter(created_at__date=date(2026, 3, 4)).delete()
        services.rollup_days(start=date(2026, 3, 4), end=date(2026, 3, 4), until=NOW)
    after, _sql = _overview_queries(world)
    assert after["clicks"] < before["clicks"]


def test_an_unreachable_cache_only_means_reading_the_rollups(
    world: World, dataset: data.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tenancy.merchant_context(world.acme):
        services.rollups_refresh(now=NOW)
    expected, _sql = _overview_queries(world)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    cache.clear()
    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    values, sql = _overview_queries(world)
    assert values == expected
    assert _reads_stored(sql)


def test_all_time_counts_from_the_overview_equal_counting_them(
    world: World, dataset: data.Dataset
) -> None:
    with tenancy.merchant_context(world.acme):
        state = services.rollups_refresh()
        # recorded since the roll-up: counted live by the period's overview
        advocate = advocate_enroll(
            program=dataset.program, email="new@example.com", name="New"
        ).advocate
        for visitor in ("a", "b", "a"):
            Click.objects.create(program=dataset.program, advocate=advocate, visitor_id=visitor)
        today = timezone.now().date()
        overview = program_overview(
            period=Period(start=today - timedelta(days=29), end=today), program=None, state=state
        )
        older = program_overview(
            period=Period(start=date(2026, 3, 1), end=date(2026, 3, 31)), program=None, state=state
        )
        expected = {"advocates": Advocate.objects.count(), "clicks": Click.objects.count()}
        assert overview.recorded_since == {"advocates": 1, "clicks": 3}
        assert older.recorded_since is None  # March holds none of it: counted by a query
        assert all_time_counts(state, overview) == expected
        assert all_time_counts(state, older) == expected
        assert all_time_counts(state) == expected
