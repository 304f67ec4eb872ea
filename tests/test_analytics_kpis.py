"""KPIs on a small fixed data set (tests/analytics_data.py), every expected value counted by
hand: live, from roll-ups and mixed must agree; period boundaries; tenant isolation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from analytics import services
from analytics.kpis import Period, kpi_values, program_overview
from analytics.models import DailyStats, RollupState
from referral_saas import tenancy
from tests import analytics_data as data
from tests.conftest import World

PERIOD = Period(start=data.START, end=data.END)
NOW = datetime(2026, 3, 10, 8, 30, tzinfo=UTC)

EXPECTED: dict[str, Any] = {
    "clicks": 6,
    "unique_visitors": 4,
    "advocates": 2,
    # none of the 5 customers seen is an advocate (the old definition, advocates ÷ customers,
    # said 40 %); nor did any referral come through a click, so no click converted
    "participation_rate": Decimal(0),
    "referrals": 3,
    "conversions": 3,
    "conversion_rate": Decimal(0),
    "referred_revenue": {"EUR": 12000},
    "revenue_share": {"EUR": Decimal(12000) / Decimal(41000)},
    "reward_cost": {"EUR": 2500},
    "roi": {"EUR": Decimal(12000 - 2500) / Decimal(2500)},
    "cost_per_customer": {"EUR": Decimal(2500)},
    "viral_coefficient": Decimal(3) / Decimal(2) * Decimal(3) / Decimal(3),
    "new_referred_customers": 1,
    "rewards": 3,
    "orders": 6,
}


@pytest.fixture
def dataset(world: World) -> data.Dataset:
    return data.build(world.acme, world.globex)


def values_for(world: World, period: Period = PERIOD, program: Any = None) -> dict[str, Any]:
    with tenancy.merchant_context(world.acme):
        overview = program_overview(period=period, program=program)
        return kpi_values(overview.totals)


def test_every_kpi_live_from_raw_rows(world: World, dataset: data.Dataset) -> None:
    assert values_for(world) == EXPECTED


def test_every_kpi_from_rollups_matches_live(world: World, dataset: data.Dataset) -> None:
    with tenancy.merchant_context(world.acme):
        state = services.rollups_refresh(now=NOW)
        assert state.through_day == NOW.date()
        assert DailyStats.objects.filter(day__gte=data.START, day__lte=data.END).exists()
    assert values_for(world) == EXPECTED


def test_rollups_up_to_mid_period_and_live_after(world: World, dataset: data.Dataset) -> None:
    # given roll-ups computed at 4 Mar 12:00, the very second of a click (rolled up, since it
    # was recorded by then): what was recorded later is counted live, nothing twice
    with tenancy.merchant_context(world.acme):
        services.rollups_refresh(now=data.at(4))
        assert DailyStats.objects.get(day=date(2026, 3, 4), program=dataset.program).clicks == 2
        overview = program_overview(period=PERIOD, program=None)
    assert overview.through_day == date(2026, 3, 4)
    assert kpi_values(overview.totals) == EXPECTED


def test_period_boundaries_are_whole_utc_days(world: World, dataset: data.Dataset) -> None:
    one_day = values_for(world, Period(start=date(2026, 3, 1), end=date(2026, 3, 1)))
    assert (one_day["clicks"], one_day["advocates"], one_day["referrals"]) == (1, 1, 1)
    first = values_for(world, Period(start=data.START, end=data.START))
    assert (first["clicks"], first["advocates"]) == (1, 1)
    seventh = values_for(world, Period(start=date(2026, 3, 7), end=date(2026, 3, 7)))
    assert seventh["clicks"] == 1
    assert seventh["referred_revenue"] == {"EUR": 99999}


def test_daily_series(world: World, dataset: data.Dataset) -> None:
    with tenancy.merchant_context(world.acme):
        overview = program_overview(period=PERIOD, program=None)
    assert overview.series["days"] == [f"2026-03-0{d}" for d in range(2, 7)]
    assert overview.series["clicks"] == [1, 1, 2, 1, 1]
    assert overview.series["referrals"] == [0, 1, 1, 1, 0]
    assert overview.series["referred_conversions"] == [0, 1, 1, 0, 1]
    assert overview.series["revenue"] == {"EUR": [0, 8000, 0, 0, 4000]}


def test_program_filter_keeps_the_merchants_whole_revenue_for_the_share(
    world: World, dataset: data.Dataset
) -> None:
    mine = values_for(world, program=dataset.program)
    # every attributed row belongs to this program; the two orders without one are not its own
    assert mine == {**EXPECTED, "orders": 4}
    other = values_for(world, program=dataset.other_program)
    assert other["clicks"] == other["conversions"] == other["advocates"] == 0
    assert other["referred_revenue"] == {"EUR": 0}
    assert other["revenue_share"] == {"EUR": Decimal(0)}
    assert other["roi"] == {"EUR": None}  # no cost: ROI is undefined, not zero
    assert other["viral_coefficient"] is None


def test_another_merchants_rows_are_never_counted(world: World, dataset: data.Dataset) -> None:
    with tenancy.merchant_context(world.globex):
        services.rollups_refresh(now=NOW)
        globex = kpi_values(program_overview(period=PERIOD, program=None).totals)
    assert (globex["clicks"], globex["unique_visitors"], globex["conversions"]) == (5, 5, 1)
    assert globex["referred_revenue"] == {"EUR": 77777}
    # Acme's numbers are unchanged by Globex's rows and roll-ups, live and rolled up
    assert values_for(world) == EXPECTED
    with tenancy.merchant_context(world.acme):
        services.rollups_refresh(now=NOW)
        assert RollupState.objects.count() == 1
    assert values_for(world) == EXPECTED


def test_a_review_decided_after_its_day_closed_is_rolled_up_again(
    world: World, dataset: data.Dataset
) -> None:
    with tenancy.merchant_context(world.acme):
        services.rollups_refresh(now=NOW)
        conversion = dataset.conversions["c2"]
        conversion.status = "qualified"
        conversion.reviewed_at = timezone.now()
        conversion.save(update_fields=["status", "reviewed_at"])
        services.rollups_refresh(now=NOW)
    assert values_for(world)["referred_revenue"] == {"EUR": 17000}


def test_refresh_twice_changes_nothing(world: World, dataset: data.Dataset) -> None:
    with tenancy.merchant_context(world.acme):
        services.rollups_refresh(now=NOW)
        before = sorted(DailyStats.objects.values_list("day", "clicks", "revenue"))
        services.rollups_refresh(now=NOW)
        after = sorted(DailyStats.objects.values_list("day", "clicks", "revenue"))
    assert before == after
    assert values_for(world) == EXPECTED


def test_no_data_means_undefined_ratios_not_zeros(world: World) -> None:
    values = values_for(world)
    assert values["clicks"] == 0
    assert values["conversion_rate"] is None
    assert values["participation_rate"] is None
    assert values["referred_revenue"] == {}
