"""The overview pages: KPIs with their definitions, the period chooser and its errors, the
roll-up freshness line, the funnel's unrecorded steps, roles, and pinned query counts."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics import services
from analytics.models import DailySketch, DailyStats, RollupState
from referral_saas import tenancy
from tests.conftest import World, login
from tests.factories import make_program
from tracking.models import Advocate, Click, Conversion


def overview_url(world: World) -> str:
    return reverse("merchant_overview", kwargs={"merchant_slug": world.acme.slug})


def program_url(world: World, program: Any) -> str:
    return reverse(
        "program_analytics",
        kwargs={"merchant_slug": world.acme.slug, "program_id": program.public_id},
    )


def page_text(response: Any) -> str:
    return html.unescape(response.content.decode()).replace("\xa0", " ")


@pytest.fixture
def recent(world: World) -> Any:
    """Today's and yesterday's rows (the view's period ends today)."""
    program = make_program(world.acme)
    now = timezone.now()
    with tenancy.merchant_context(world.acme):
        advocate = Advocate.objects.create(program=program, email="a@example.com", code="A")
        for n in range(4):
            Click.objects.create(
                program=program,
                advocate=advocate,
                visitor_id=f"v{n % 2}",
                created_at=now - timedelta(days=n % 2),
            )
        Conversion.objects.create(
            program=program,
            advocate=advocate,
            order_id="o1",
            amount=12345,
            currency="EUR",
            status="qualified",
            customer_email="f@example.com",
            occurred_at=now,
        )
    return program


def test_viewer_reads_every_kpi_with_its_definition(
    client: Client, world: World, recent: Any
) -> None:
    response = login(client, world.bob).get(overview_url(world))
    assert response.status_code == 200
    text = page_text(response)
    for label, sentence in [
        ("Clicks", "Visits through advocates' referral links."),
        ("Unique visitors", "Different people who clicked"),
        ("Participation rate", "Of the different customers seen in your orders"),
        ("Conversion rate", "Clicks in the period after which the friend placed a referred"),
        ("Share of all revenue", "Referred revenue ÷ the revenue of every order"),
        ("ROI", "(Referred revenue - reward cost) ÷ reward cost."),
        ("Cost per acquired customer", "Reward cost ÷ new customers acquired"),
        ("Viral coefficient", "referrals per advocate times conversions per referral"),
    ]:
        assert label in text
        assert sentence in text
    kpis = {kpi["key"]: kpi["values"] for kpi in response.context["kpis"]}
    assert kpis["clicks"] == ["4"]
    assert kpis["unique_visitors"] == ["2"]
    assert kpis["conversion_rate"] == ["0.0%"]  # the order came through no recorded click
    assert kpis["referred_revenue"] == ["€123.45"]
    assert kpis["roi"] == ["—"]  # no reward cost: undefined, not 0
    assert '<dd data-stat="programs">1</dd>' in text


def test_funnel_says_which_steps_have_no_data_source(
    client: Client, world: World, recent: Any
) -> None:
    response = login(client, world.alice).get(overview_url(world))
    steps = {step["label"]: step for step in response.context["funnel"]}
    assert list(steps) == ["Visit", "Join", "Share", "Click", "Signup", "Order", "Reward"]
    assert steps["Visit"]["value"] is None
    assert steps["Share"]["value"] is None
    # the order came through no recorded click: it is not part of the click funnel
    assert (steps["Join"]["value"], steps["Click"]["value"], steps["Order"]["value"]) == (1, 4, 0)
    text = page_text(response)
    assert "Not recorded yet: program page views are not tracked." in text
    assert "Not recorded yet: share buttons open the network directly." in text


def test_series_json_for_the_charts(client: Client, world: World, recent: Any) -> None:
    response = login(client, world.alice).get(overview_url(world) + "?days=7")
    series = response.context["series"]
    assert len(series["days"]) == 7
    assert series["clicks"][-2:] == [2, 2]
    assert series["currency"] == "EUR"
    assert series["revenue"][-1] == 123.45
    assert (
        json.loads(
            page_text(response)
            .split('id="analytics-series" type="application/json">')[1]
            .split("</script>")[0]
        )["days"]
        == series["days"]
    )
    assert "vendor/chartjs/chart.umd.min.js" in page_text(response)


@pytest.mark.parametrize(
    ("query", "days"),
    [("", 30), ("?days=7", 7), ("?days=90", 90), ("?days=12", 30), ("?days=x", 30)],
)
def test_preset_periods(client: Client, world: World, query: str, days: int) -> None:
    response = login(client, world.alice).get(overview_url(world) + query)
    period = response.context["overview"].period
    assert response.status_code == 200
    assert (period.end - period.start).days + 1 == days
    assert period.end == timezone.now().date()


def test_custom_period(client: Client, world: World) -> None:
    today = timezone.now().date()
    start = today - timedelta(days=3)
    response = login(client, world.alice).get(
        overview_url(world) + f"?from={start.isoformat()}&to={today.isoformat()}"
    )
    assert response.status_code == 200
    assert response.context["overview"].period.start == start
    assert response.context["is_custom"] is True


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=2026-13-01&to=2026-01-01", "Give both dates of a custom period as YYYY-MM-DD."),
        ("?from=2025-02-01", "Give both dates of a custom period as YYYY-MM-DD."),
        ("?from=2025-03-02&to=2025-03-01", "The period must start on or before its last day."),
        ("?from=2023-01-01&to=2025-01-01", "Choose a period of at most 366 days."),
    ],
)
def test_bad_custom_periods_are_explained(
    client: Client, world: World, query: str, message: str
) -> None:
    response = login(client, world.alice).get(overview_url(world) + query)
    assert response.status_code == 400
    assert message in page_text(response)
    assert response.context["overview"].period.end == timezone.now().date()


def test_a_period_ending_in_the_future_is_refused(client: Client, world: World) -> None:
    tomorrow = timezone.now().date() + timedelta(days=1)
    response = login(client, world.alice).get(
        overview_url(world) + f"?from={tomorrow.isoformat()}&to={tomorrow.isoformat()}"
    )
    assert response.status_code == 400
    assert "The period cannot end after today." in page_text(response)


def test_freshness_line_before_and_after_rollups(client: Client, world: World, recent: Any) -> None:
    login(client, world.alice)
    before = page_text(client.get(overview_url(world)))
    assert "Roll-ups have not been computed yet" in before
    with tenancy.merchant_context(world.acme):
        services.rollups_refresh()
    after = client.get(overview_url(world))
    text = page_text(after)
    assert "Figures come from daily roll-ups computed at" in text
    assert "plus everything recorded since then, counted live." in text
    assert "Roll-ups are behind" not in text
    assert after.context["kpis"][0]["values"] == ["4"]  # same numbers as before
    # roll-ups that stopped running are said to be behind, and the numbers stay complete
    with tenancy.merchant_context(world.acme):
        RollupState.objects.all().delete()
        DailyStats.objects.all().delete()
        DailySketch.objects.all().delete()
        services.rollups_refresh(now=timezone.now() - timedelta(hours=2))
    late = client.get(overview_url(world))
    assert "Roll-ups are behind: they last ran 2" in page_text(late)
    assert late.context["kpis"][0]["values"] == ["4"]


def test_outsider_gets_404(client: Client, world: World, recent: Any) -> None:
    login(client, world.charlie)
    assert client.get(program_url(world, recent)).status_code == 404


def test_program_page_without_a_test(client: Client, world: World, recent: Any) -> None:
    response = login(client, world.bob).get(program_url(world, recent))
    assert response.status_code == 200
    assert "No A/B test is running on this program." in page_text(response)
    assert response.context["kpis"][0]["values"] == ["4"]


def test_program_detail_links_to_results(client: Client, world: World, recent: Any) -> None:
    detail = login(client, world.bob).get(
        reverse(
            "program_detail",
            kwargs={"merchant_slug": world.acme.slug, "program_id": recent.public_id},
        )
    )
    assert program_url(world, recent) in detail.content.decode()


def test_overview_query_count_is_pinned(
    client: Client, world: World, recent: Any, django_assert_max_num_queries: Any
) -> None:
    login(client, world.alice)
    with tenancy.merchant_context(world.acme):
        services.rollups_refresh()
    client.get(overview_url(world))  # warm the session
    with django_assert_max_num_queries(24):
        response = client.get(overview_url(world) + "?days=90")
    assert response.status_code == 200
    # more programs and days do not add queries
    for n in range(3):
        make_program(world.acme, slug=f"more-{n}")
    with django_assert_max_num_queries(24):
        client.get(overview_url(world) + "?days=90")


def test_program_page_query_count_is_pinned(
    client: Client, world: World, recent: Any, django_assert_max_num_queries: Any
) -> None:
    login(client, world.alice)
    client.get(program_url(world, recent))
    with django_assert_max_num_queries(17):
        assert client.get(program_url(world, recent)).status_code == 200
