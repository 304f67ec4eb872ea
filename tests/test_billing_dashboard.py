# ruff: noqa: F811  (pytest fixtures imported from tests/test_billing_support.py)
"""Billing pages under /m/<merchant>/billing/: owners only; checkout, portal and invoices."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent, Role
from billing.models import Subscription
from referral_saas import tenancy
from tests.conftest import World, login
from tests.factories import UserFactory, add_member
from tests.test_billing_support import (  # noqa: F401  (fixtures)
    PRICE_GROWTH,
    BillingStripe,
    billing_stripe,
    deliver,
    localstripe_url,
)

PAGES = [
    ("get", "/m/acme/billing/"),
    ("get", "/m/acme/billing/invoices/"),
    ("post", "/m/acme/billing/checkout/"),
    ("post", "/m/acme/billing/portal/"),
]


def acme_row() -> Subscription | None:
    return Subscription.unscoped_all_merchants.filter(merchant__slug="acme").first()


def test_owner_sees_plan_usage_and_plans(client: Client, world: World, billing_stripe: Any) -> None:
    login(client, world.alice)
    response = client.get("/m/acme/billing/")
    page = response.content.decode()
    assert response.status_code == 200
    assert '<strong data-testid="current-plan">Free</strong>' in page
    assert (
        '<span class="billing-meter-value" data-testid="conversions-usage">0 / 100</span>' in page
    )
    assert "Upgrade to Growth" in page
    assert "Upgrade to Scale" in page
    assert 'href="/m/acme/billing/"' in page  # the nav item for owners
    assert acme_row() is None  # a page view writes nothing


def test_without_stripe_configured_the_page_says_so_and_sells_nothing(
    client: Client, world: World, settings: Any
) -> None:
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_PRICE_GROWTH = ""
    settings.STRIPE_PRICE_SCALE = ""
    login(client, world.alice)
    page = client.get("/m/acme/billing/").content.decode()
    assert "Billing is not set up" in page
    assert "Upgrade to" not in page


@pytest.mark.parametrize("role", [Role.ADMIN, Role.REVIEWER, Role.VIEWER])
def test_members_below_owner_get_403_everywhere_and_nothing_happens(
    client: Client, world: World, billing_stripe: BillingStripe, role: str
) -> None:
    member = UserFactory(email=f"{role}@example.com")
    add_member(world.acme, member, role)
    login(client, member)
    for method, path in PAGES:
        assert getattr(client, method)(path, {"plan": "growth"}).status_code == 403, path
    assert acme_row() is None
    assert billing_stripe.stripe_side.customers() == []
    # and the nav does not offer Billing
    assert 'href="/m/acme/billing/"' not in client.get("/m/acme/").content.decode()


def test_outsider_gets_404_everywhere_and_nothing_happens(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    login(client, world.charlie)
    for method, path in PAGES:
        assert getattr(client, method)(path, {"plan": "growth"}).status_code == 404, path
    assert client.get("/m/acme/billing/banners/").status_code == 404
    assert acme_row() is None
    assert billing_stripe.stripe_side.customers() == []


def test_checkout_creates_one_customer_and_redirects_to_stripe(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    login(client, world.alice)

    first = client.post("/m/acme/billing/checkout/", {"plan": "growth"})
    second = client.post("/m/acme/billing/checkout/", {"plan": "scale"})

    assert first.status_code == 303
    assert first["Location"] == "http://testserver/m/acme/billing/?checkout=success"
    assert second.status_code == 303
    customers = billing_stripe.stripe_side.customers()
    assert len(customers) == 1  # the second checkout reuses the customer
    assert customers[0]["email"] == "alice@example.com"
    assert customers[0]["metadata"] == {"merchant": world.acme.public_id}
    sessions = list(billing_stripe.checkout.sessions.values())
    assert [(s["price"], s["customer"], s["client_reference_id"]) for s in sessions] == [
        (PRICE_GROWTH, customers[0]["id"], world.acme.public_id),
        ("price_scale_test", customers[0]["id"], world.acme.public_id),
    ]
    assert sessions[0]["cancel_url"] == "http://testserver/m/acme/billing/?checkout=cancelled"
    row = acme_row()
    assert row is not None
    assert (row.plan, row.stripe_customer_id) == ("free", customers[0]["id"])
    with tenancy.merchant_context(world.acme):
        assert AuditEvent.objects.filter(action="billing.checkout_started").count() == 2


@pytest.mark.parametrize("plan", ["free", "platinum", ""])
def test_checkout_of_something_we_do_not_sell_is_refused(
    client: Client, world: World, billing_stripe: BillingStripe, plan: str
) -> None:
    login(client, world.alice)
    response = client.post("/m/acme/billing/checkout/", {"plan": plan}, follow=True)
    assert "Choose a paid plan" in response.content.decode()
    assert billing_stripe.stripe_side.customers() == []


def test_checkout_of_a_plan_without_a_price_is_refused(
    client: Client, world: World, billing_stripe: BillingStripe, settings: Any
) -> None:
    settings.STRIPE_PRICE_SCALE = ""
    login(client, world.alice)
    response = client.post("/m/acme/billing/checkout/", {"plan": "scale"}, follow=True)
    assert "The Scale plan is not on sale yet." in response.content.decode()
    assert billing_stripe.checkout.sessions == {}


def test_a_live_subscriber_is_sent_to_the_portal_instead_of_a_second_checkout(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    login(client, world.alice)
    client.post("/m/acme/billing/checkout/", {"plan": "growth"})
    (session_id,) = billing_stripe.checkout.sessions
    deliver(client, billing_stripe.checkout.complete(session_id))
    assert acme_row().plan == "growth"  # type: ignore[union-attr]

    response = client.post("/m/acme/billing/checkout/", {"plan": "scale"}, follow=True)

    assert "change your plan in the billing portal" in response.content.decode()
    assert len(billing_stripe.checkout.sessions) == 1
    page = client.get("/m/acme/billing/").content.decode()
    assert "Switch to Scale" in page
    assert "Manage billing" in page


def test_stripe_down_during_checkout_is_a_message_not_a_500(
    client: Client, world: World, billing_stripe: BillingStripe, settings: Any
) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    login(client, world.alice)
    response = client.post("/m/acme/billing/checkout/", {"plan": "growth"}, follow=True)
    assert response.status_code == 200
    assert "Stripe could not start the checkout" in response.content.decode()
    assert acme_row().stripe_customer_id == ""  # type: ignore[union-attr]


def test_portal_needs_a_customer_then_opens_with_a_return_url(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    login(client, world.alice)
    refused = client.post("/m/acme/billing/portal/", follow=True)
    assert "nothing to manage yet" in refused.content.decode()
    assert billing_stripe.checkout.portal_sessions == []

    client.post("/m/acme/billing/checkout/", {"plan": "growth"})
    response = client.post("/m/acme/billing/portal/")

    assert response.status_code == 303
    assert response["Location"] == "https://billing.stripe.test/p/session/test_1"
    assert billing_stripe.checkout.portal_sessions == [
        {
            "customer": acme_row().stripe_customer_id,  # type: ignore[union-attr]
            "return_url": "http://testserver/m/acme/billing/",
        }
    ]


def test_invoices_are_listed_from_stripe(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    login(client, world.alice)
    assert "No invoices yet" in client.get("/m/acme/billing/invoices/").content.decode()
    client.post("/m/acme/billing/checkout/", {"plan": "growth"})
    (session_id,) = billing_stripe.checkout.sessions
    billing_stripe.checkout.complete(session_id)

    page = client.get("/m/acme/billing/invoices/").content.decode()

    assert page.count("data-invoice=") == 1
    assert "€49.00" in page
    assert 'class="badge badge-success">paid<' in page


def test_invoices_page_survives_stripe_being_down(
    client: Client, world: World, billing_stripe: BillingStripe, settings: Any
) -> None:
    login(client, world.alice)
    client.post("/m/acme/billing/checkout/", {"plan": "growth"})
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    response = client.get("/m/acme/billing/invoices/")
    assert response.status_code == 200
    assert "Stripe could not list your invoices right now" in response.content.decode()


def test_return_from_checkout_polls_until_the_plan_changes(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    login(client, world.alice)
    client.post("/m/acme/billing/checkout/", {"plan": "growth"})

    page = client.get("/m/acme/billing/?checkout=success").content.decode()
    assert "Stripe is confirming your payment" in page
    assert 'hx-trigger="every 2s"' in page
    assert response_headers_refresh(client) == ""  # still waiting: no reload yet

    (session_id,) = billing_stripe.checkout.sessions
    deliver(client, billing_stripe.checkout.complete(session_id))
    part = client.get(
        "/m/acme/billing/?checkout=success&part=plan", headers={"HX-Request": "true"}
    ).content.decode()
    assert part.lstrip().startswith('<section id="current-plan"')
    assert '<strong data-testid="current-plan">Growth</strong>' in part
    assert "hx-trigger" not in part  # polling stops
    assert response_headers_refresh(client) == "true"  # and the page reloads with the new plan


def response_headers_refresh(client: Client) -> str:
    response = client.get(
        "/m/acme/billing/?checkout=success&part=plan", headers={"HX-Request": "true"}
    )
    return str(response.get("HX-Refresh", ""))


def test_cancelled_checkout_says_nothing_was_charged(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    login(client, world.alice)
    page = client.get("/m/acme/billing/?checkout=cancelled").content.decode()
    assert "nothing was charged" in page
