"""Retention with time passing: after the nightly job, old clicks hold no personal fields and
unconverted friends no email, while every KPI of the period stays what it was — also after a
later change makes the roll-ups recompute those days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.test import Client

from accounts.models import AuditEvent
from analytics import services as analytics
from analytics.compute import Window, compute_days
from analytics.kpis import Period, kpi_values, program_overview
from analytics.models import DailySketch, RollupState, SketchKind
from analytics.sketch import estimate, merge
from hosted.models import ConsentRecord
from referral_saas import tenancy
from referral_saas.workers import MissingMerchantId
from retention import policy, tasks
from retention.models import RetentionPolicy, RetentionRun
from retention.services import retention_run
from tests import analytics_data as data
from tests.conftest import World, login
from tests.test_analytics_kpis import EXPECTED
from tracking.models import Click, Referral
from tracking.privacy import CLICK_PERSONAL_FIELDS, subject_export

PERIOD = Period(start=data.START, end=data.END)
ROLLED_UP = datetime(2026, 3, 10, 8, 30, tzinfo=UTC)
# Thirteen months and a half after the data set: every March click is past its 13 months.
LATER = datetime(2027, 4, 20, 3, 15, tzinfo=UTC)


@pytest.fixture
def dataset(world: World) -> data.Dataset:
    built = data.build(world.acme, world.globex)
    with tenancy.merchant_context(world.acme):
        ConsentRecord.objects.create(
            program=built.program,
            choice="granted",
            text_version="v1",
            locale="en",
            visitor_id="v1",
            created_at=data.at(2),
        )
    return built


def kpis(world: World) -> dict[str, Any]:
    with tenancy.merchant_context(world.acme):
        return kpi_values(program_overview(period=PERIOD, program=None).totals)


def personal(merchant: Any) -> list[tuple[str, ...]]:
    with tenancy.merchant_context(merchant):
        return [
            values
            for values in Click.objects.order_by("pk").values_list(*CLICK_PERSONAL_FIELDS)
            if any(values)
        ]


def test_months_before_is_midnight_of_the_calendar_day() -> None:
    assert policy.months_before(LATER, 13) == datetime(2026, 3, 20, tzinfo=UTC)
    assert policy.months_before(datetime(2027, 3, 31, 9, tzinfo=UTC), 13) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert policy.months_before(datetime(2025, 3, 31, tzinfo=UTC), 13) == datetime(
        2024, 2, 29, tzinfo=UTC
    )


def test_time_passes_personal_fields_go_aggregates_stay(world: World, dataset: Any) -> None:
    # given the March numbers as the merchant saw them
    with tenancy.merchant_context(world.acme):
        analytics.rollups_refresh(now=ROLLED_UP)
    assert kpis(world) == EXPECTED
    assert len(personal(world.acme)) == 8

    # when the nightly job runs 13 and a half months later (in batches of 3)
    with tenancy.merchant_context(world.acme):
        run = retention_run(now=LATER, batch_size=3)

    # then every click of March holds nothing personal, the rows stay
    assert (run.clicks_cleared, run.consents_cleared, run.referrals_cleared) == (8, 1, 1)
    assert personal(world.acme) == []
    with tenancy.merchant_context(world.acme):
        assert Click.objects.count() == 8
        assert ConsentRecord.objects.get().visitor_id == ""
        emails = dict(Referral.objects.values_list("email", "public_id"))
        # the friend who never ordered (f0) is forgotten; the three who ordered are kept
        f0 = Referral.objects.get(created_at=data.at(1))
        assert f0.email == f"erased+{f0.public_id.lower()}@invalid"
        assert {"f1@example.com", "f2@example.com", "f3@example.com"} <= set(emails)
        assert "f0@example.com" not in emails
        assert RollupState.objects.get().visitors_frozen_through == datetime(2026, 3, 19).date()
    # and the numbers are the same
    assert kpis(world) == EXPECTED

    # when a review touches a March day, so the roll-ups recompute it from the raw rows
    with tenancy.merchant_context(world.acme):
        conversion = dataset.conversions["c2"]
        conversion.reviewed_at = LATER + timedelta(hours=1)
        conversion.save(update_fields=["reviewed_at"])
        analytics.rollups_refresh(now=LATER + timedelta(days=1))
        # the raw clicks alone no longer tell visitors apart (each is one of its own) ...
        _rows, live = compute_days(Window(start=data.START, end=data.END))
        raw_visitors = estimate(merge([r for k, r in live.items() if k[2] == "visitors"]))
        stored = DailySketch.objects.filter(
            kind=SketchKind.VISITORS, day__gte=data.START, day__lte=data.END
        ).count()
    assert raw_visitors == 6
    assert stored == 5
    # ... yet the unique visitors, like every other KPI, are still March's
    assert kpis(world) == EXPECTED


def test_another_merchant_is_left_alone_and_a_second_run_finds_nothing(
    world: World, dataset: Any
) -> None:
    globex_before = personal(world.globex)
    with tenancy.merchant_context(world.acme):
        retention_run(now=LATER)
        again = retention_run(now=LATER)
    assert (again.clicks_cleared, again.consents_cleared, again.referrals_cleared) == (0, 0, 0)
    assert globex_before
    assert personal(world.globex) == globex_before
    with tenancy.merchant_context(world.acme):
        assert RetentionRun.objects.count() == 2


def test_a_longer_policy_keeps_what_the_default_would_clear(world: World, dataset: Any) -> None:
    with tenancy.merchant_context(world.acme):
        RetentionPolicy.objects.create(click_personal_months=18, referral_email_months=24)
        run = retention_run(now=LATER)
        assert Referral.objects.filter(email="f0@example.com").exists()
    assert (run.clicks_cleared, run.referrals_cleared) == (0, 0)
    assert len(personal(world.acme)) == 8


def test_recent_clicks_keep_their_fields(world: World, dataset: Any) -> None:
    # 12 months after March: inside the 13, nothing of the clicks goes yet; f0 (12 months and
    # 10 days old) does
    with tenancy.merchant_context(world.acme):
        run = retention_run(now=datetime(2027, 3, 11, tzinfo=UTC))
    assert (run.clicks_cleared, run.referrals_cleared) == (0, 1)
    assert len(personal(world.acme)) == 8


def test_the_export_covers_what_is_kept(world: World, dataset: Any) -> None:
    with tenancy.merchant_context(world.acme):
        export = subject_export("a1@example.com")
    assert export["retention"] == {
        "click_personal_fields_months": 13,
        "consent_visitor_id_months": 13,
        "unconverted_referral_email_months": 12,
        "audit_log": "kept",
    }
    # a1's own advocate rewards (c1 approved, c2 held, c6 rejected), not c1's friend reward
    assert sorted(r["status"] for r in export["rewards"]) == ["approved", "held", "rejected"]
    assert {r["recipient"] for r in export["rewards"]} == {"advocate"}
    assert export["advocates"][0]["evidence"] == {"ip_hash": "", "visitor_id": ""}
    assert export["consents"] == []
    assert export["emails"] == []


def test_the_export_of_a_friend_holds_their_consent_and_friend_reward(
    world: World, dataset: Any
) -> None:
    with tenancy.merchant_context(world.acme):
        referral = Referral.objects.get(email="f1@example.com")
        click = Click.objects.filter(visitor_id="v1").first()
        referral.click = click
        referral.save(update_fields=["click"])
        export = subject_export("f1@example.com")
    assert [c["visitor_id"] for c in export["consents"]] == ["v1"]
    assert [(r["recipient"], r["status"]) for r in export["rewards"]] == [("friend", "issued")]


def test_nightly_beat_and_fan_out(world: World) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["retention-nightly"]
    assert entry["task"] == "retention.tasks.retention_run_all_task"
    assert entry["schedule"] == crontab(hour=3, minute=15)
    assert tasks.retention_run_all_task.apply().get() == 2
    for merchant in (world.acme, world.globex):
        with tenancy.merchant_context(merchant):
            assert RetentionRun.objects.count() == 1


def test_the_task_refuses_to_run_without_a_merchant(world: World) -> None:
    with pytest.raises(MissingMerchantId):
        tasks.retention_run_task.apply(kwargs={}, throw=True)
    with tenancy.merchant_context(world.acme):
        assert RetentionRun.objects.count() == 0


# --- The page ---------------------------------------------------------------------------------


def test_the_page_says_what_is_kept_and_is_linked_from_settings_and_menu(
    client: Client, world: World
) -> None:
    login(client, world.alice)
    settings_page = client.get("/m/acme/settings/").content.decode()
    assert settings_page.count('href="/m/acme/settings/retention/"') == 2  # menu and Settings
    page = client.get("/m/acme/settings/retention/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "13 months, then cleared" in text
    assert "12 months, then replaced by a placeholder" in text
    assert "Audit log of your team" in text
    assert "legal record" in text
    assert "The nightly job has not run yet." in text


def test_an_owner_changes_the_periods_audited(client: Client, world: World) -> None:
    login(client, world.alice)
    response = client.post(
        "/m/acme/settings/retention/",
        {"click_personal_months": "18", "referral_email_months": "24"},
    )
    assert response.status_code == 302
    with tenancy.merchant_context(world.acme):
        saved = RetentionPolicy.objects.get()
        event = AuditEvent.objects.get(action="retention.updated")
    assert (saved.click_personal_months, saved.referral_email_months) == (18, 24)
    assert event.data == {
        "changes": {
            "click_personal_months": {"from": 13, "to": 18},
            "referral_email_months": {"from": 12, "to": 24},
        }
    }
    assert "18 months, then cleared" in client.get("/m/acme/settings/retention/").content.decode()


def test_too_short_a_period_is_refused_naming_the_field(client: Client, world: World) -> None:
    login(client, world.alice)
    response = client.post(
        "/m/acme/settings/retention/",
        {"click_personal_months": "3", "referral_email_months": "12"},
    )
    assert response.status_code == 400
    assert 'data-field="click_personal_months"' in response.content.decode()
    assert "field-invalid" in response.content.decode()
    with tenancy.merchant_context(world.acme):
        assert not RetentionPolicy.objects.exists()
        assert not AuditEvent.objects.filter(action="retention.updated").exists()


def test_viewers_do_not_see_it_and_admins_cannot_change_it(client: Client, world: World) -> None:
    login(client, world.bob)
    assert client.get("/m/acme/settings/retention/").status_code == 403
    assert (
        client.post(
            "/m/acme/settings/retention/",
            {"click_personal_months": "18", "referral_email_months": "24"},
        ).status_code
        == 403
    )
    with tenancy.merchant_context(world.acme):
        assert not RetentionPolicy.objects.exists()
