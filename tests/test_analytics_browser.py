"""The overview in a real headless Chromium: the vendored Chart.js draws both charts under the
strict CSP (no console errors), the period chooser works, and the A/B section ends a test."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from programs.models import Program
from programs.services import program_config
from programs.specs import parse_config
from referral_saas import tenancy
from tests.browser import DESKTOP, PASSWORD, shot
from tests.factories import MerchantFactory, UserFactory, add_member, make_program
from tracking.models import Advocate, Click, Conversion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed() -> Any:
    merchant = MerchantFactory(name="Acme Coffee Roasters", slug="acme")
    add_member(merchant, UserFactory(email="alice@example.com", password=PASSWORD), "owner")
    config = parse_config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "fixed_discount", "amount": 1000},
            "variants": [
                {"key": "a", "name": "Ten off", "weight": 50},
                {
                    "key": "b",
                    "name": "Fifteen off",
                    "weight": 50,
                    "friend_reward": {"kind": "fixed_discount", "amount": 1500},
                },
            ],
        },
        program_type="two_sided",
        currency="EUR",
        stripe_connected=False,
    )
    program = make_program(merchant, config=config.to_dict())
    now = timezone.now()
    with tenancy.merchant_context(merchant):
        Program.objects.filter(pk=program.pk).update(created_at=now - timedelta(days=30))
        for key in ("a", "b"):
            advocate = Advocate.objects.create(
                program=program, email=f"{key}@example.com", code=key.upper(), variant_key=key
            )
            for day in range(10):
                Click.objects.create(
                    program=program,
                    advocate=advocate,
                    visitor_id=f"{key}{day}",
                    created_at=now - timedelta(days=day),
                )
            Conversion.objects.create(
                program=program,
                advocate=advocate,
                order_id=f"o-{key}",
                amount=4200,
                currency="EUR",
                status="qualified",
                customer_email=f"friend-{key}@example.com",
                occurred_at=now - timedelta(days=1),
            )
    return merchant, program


def test_overview_charts_periods_and_ending_a_test(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    merchant, program = seed()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/m/acme/")

    # both charts are drawn by the vendored Chart.js, without any CSP refusal
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-activity')")
    assert page.evaluate("() => Chart.getChart('chart-revenue').data.datasets[0].data.length") == 30
    assert page.locator("[data-kpi='clicks'] [data-kpi-value]").inner_text() == "20"
    assert page.locator("[data-kpi='referred_revenue'] [data-kpi-value]").inner_text() == "€84"
    shot(page, "analytics-overview-desktop")

    page.get_by_role("link", name="Last 7 days").click()
    page.wait_for_url("**/m/acme/?days=7")
    assert page.locator("[data-kpi='clicks'] [data-kpi-value]").inner_text() == "14"
    today = timezone.now().date()
    page.get_by_label("From", exact=True).fill(today.isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Show").click()
    assert page.locator("[data-kpi='clicks'] [data-kpi-value]").inner_text() == "2"

    # the program's page: A/B results, then end the test keeping "Fifteen off"
    page.get_by_role("link", name="Give 10, get 10: results and A/B test").click()
    assert (
        page.locator("[data-variant='b'] [data-verdict]")
        .inner_text()
        .startswith("Fifteen off converts 0% better than Ten off; 50% probability")
    )
    shot(page, "analytics-program-desktop")
    page.get_by_label("End the test and keep").select_option("b")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End test").click()
    page.wait_for_selector("text=No A/B test is running on this program.")
    with tenancy.merchant_context(merchant):
        program.refresh_from_db()
        config = program_config(program)
    assert config.variants == ()
    assert config.friend_reward is not None
    assert config.friend_reward.amount == 1500
    assert problems == []
