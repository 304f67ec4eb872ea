"""The periodic roll-up: one task per merchant, scoped to it, idempotent, on the beat."""

from __future__ import annotations

import pytest
from django.conf import settings

from analytics import tasks
from analytics.models import DailyStats, RollupState
from referral_saas import tenancy
from referral_saas.celery import app
from referral_saas.workers import MissingMerchantId
from tests import analytics_data as data
from tests.conftest import World


def test_the_beat_runs_the_fan_out_every_five_minutes() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["analytics-rollups"]
    assert entry == {"task": "analytics.tasks.rollups_refresh_all_task", "schedule": 300.0}
    assert entry["task"] in app.tasks


def test_fan_out_rolls_up_every_merchant_separately(world: World) -> None:
    data.build(world.acme, world.globex)
    assert tasks.rollups_refresh_all_task() == 2
    with tenancy.merchant_context(world.acme):
        assert RollupState.objects.count() == 1
        acme_clicks = sum(DailyStats.objects.values_list("clicks", flat=True))
    with tenancy.merchant_context(world.globex):
        assert RollupState.objects.count() == 1
        globex_clicks = sum(DailyStats.objects.values_list("clicks", flat=True))
    assert (acme_clicks, globex_clicks) == (8, 5)  # every click of each, none of the other's


def test_running_twice_is_harmless(world: World) -> None:
    data.build(world.acme, world.globex)
    tasks.rollups_refresh_task(merchant_id=world.acme.pk)
    with tenancy.merchant_context(world.acme):
        first = list(
            DailyStats.objects.order_by("day", "program_id", "variant_key", "currency").values_list(
                "day", "program_id", "clicks", "revenue"
            )
        )
    tasks.rollups_refresh_task(merchant_id=world.acme.pk)
    with tenancy.merchant_context(world.acme):
        second = list(
            DailyStats.objects.order_by("day", "program_id", "variant_key", "currency").values_list(
                "day", "program_id", "clicks", "revenue"
            )
        )
    assert first == second


def test_the_task_refuses_to_run_without_a_merchant(world: World) -> None:
    with pytest.raises(MissingMerchantId):
        tasks.rollups_refresh_task()
    assert not RollupState.unscoped_all_merchants.exists()
