# ruff: noqa: F811  (pytest fixtures imported from tests/test_billing_support.py)
"""An owner upgrades in a real headless Chromium, end to end against localstripe.

The Checkout redirect is faked at the gateway (localstripe has no Checkout: the fake session's
URL is our success page, as if the customer paid at once); completing it creates the
subscription on localstripe, and localstripe itself delivers its signed
`customer.subscription.created` webhook to the live server. The billing page, which polls while
it waits, then shows Growth, and the usage meter the new limit.

Screenshots: test-results/billing-*.png.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.utils import timezone

from accounts.models import Merchant
from billing.models import BillingEvent, Subscription
from referral_saas import tenancy
from tests.browser import DESKTOP, MOBILE, PASSWORD, shot
from tests.factories import MerchantFactory, UserFactory, add_member
from tests.test_billing_support import (  # noqa: F401  (fixtures)
    BILLING_SECRET,
    BillingStripe,
    billing_stripe,
    localstripe_url,
)
from tracking.models import Conversion
from tracking.services import conversion_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOOK_EVENTS = ["customer.subscription.created", "customer.subscription.deleted"]


@pytest.fixture
def localstripe_delivers_to(billing_stripe: BillingStripe) -> Any:
    """Point localstripe's webhook at a URL for the test, and away from it afterwards."""
    config = f"{billing_stripe.stripe_side.url}/_config/webhooks/billing-browser"

    def register(url: str, events: list[str]) -> None:
        requests.post(
            config, json={"url": url, "secret": BILLING_SECRET, "events": events}, timeout=5
        ).raise_for_status()

    yield register
    register("http://127.0.0.1:9/", ["never.sent"])


def _merchant_with_conversions(count: int) -> Merchant:
    merchant = MerchantFactory(name="Acme Coffee Roasters", slug="acme")
    add_member(merchant, UserFactory(email="alice@example.com", password=PASSWORD), "owner")
    with tenancy.merchant_context(merchant):
        for n in range(count):
            conversion_record(
                order_id=f"ORD-{n}",
                amount=2500,
                currency="EUR",
                customer={"email": f"c{n}@example.com"},
            )
        assert Conversion.objects.filter(created_at__month=timezone.now().month).count() == count
    return merchant


def test_owner_upgrades_and_the_meter_shows_the_new_limit(  # type: ignore[no-untyped-def]
    browser, live_server, billing_stripe: BillingStripe, localstripe_delivers_to
) -> None:
    merchant = _merchant_with_conversions(90)
    localstripe_delivers_to(f"{live_server.url}/hooks/billing/stripe/", HOOK_EVENTS)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    # sign in: the overview warns that the Free plan's conversions are nearly used up
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/m/acme/")
    banner = page.locator("[data-billing-banner='warning']")
    banner.wait_for()
    assert "90 of this month's 100 tracked conversions" in banner.inner_text()
    shot(page, "billing-banner-near-limit")

    # the billing page: Free, 90 of 100
    page.get_by_role("navigation", name="Acme Coffee Roasters").get_by_role(
        "link", name="Billing"
    ).click()
    page.wait_for_url("**/m/acme/billing/")
    assert page.get_by_test_id("current-plan").inner_text() == "Free"
    assert page.get_by_test_id("conversions-usage").inner_text() == "90 / 100"
    shot(page, "billing-free-desktop")

    # upgrade: "Stripe Checkout" (faked) sends the owner straight back to the success page
    page.locator("[data-plan='growth']").get_by_role("button", name="Upgrade to Growth").click()
    page.wait_for_url("**/m/acme/billing/?checkout=success")
    assert "Waiting for Stripe to confirm" in page.locator("#current-plan").inner_text()
    shot(page, "billing-waiting-for-stripe")
    (session_id,) = billing_stripe.checkout.sessions
    subscription = billing_stripe.checkout.complete(session_id)["data"]["object"]["subscription"]

    # localstripe's own signed webhook reaches the live server; the page, polling, reloads itself
    page.locator("[data-plan='growth'] .badge").filter(has_text="Current plan").wait_for(
        timeout=20_000
    )
    assert page.get_by_test_id("current-plan").inner_text() == "Growth"
    row = Subscription.unscoped_all_merchants.get(merchant=merchant)
    assert (row.plan, row.status, row.stripe_subscription_id) == ("growth", "active", subscription)
    applied = BillingEvent.objects.get(type="customer.subscription.created")
    assert applied.outcome == "applied"
    assert applied.event_id.startswith("evt_")
    assert applied.merchant_public_id == merchant.public_id

    # the usage meter shows the new limit, and the near-limit banner is gone
    assert page.get_by_test_id("conversions-usage").inner_text() == "90 / 2,000"
    page.locator("[data-billing-banners]").wait_for(state="attached")
    assert page.locator("[data-billing-banner]").count() == 0
    assert page.get_by_role("button", name="Manage billing").is_visible()
    shot(page, "billing-growth-desktop")

    mobile = browser.new_context(viewport=MOBILE)
    mobile.add_cookies(context.cookies())
    mobile_page = mobile.new_page()
    mobile_page.goto(f"{live_server.url}/m/acme/billing/")
    shot(mobile_page, "billing-growth-mobile")
    mobile_page.goto(f"{live_server.url}/m/acme/billing/invoices/")
    assert mobile_page.locator("[data-invoice]").count() == 1
    shot(mobile_page, "billing-invoices-mobile")
    mobile.close()

    assert console_errors == []
    context.close()
