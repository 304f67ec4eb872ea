"""The Shopify install and the Integrations page in a real headless Chromium, against the
Shopify fake: the menu link, the install form, Shopify's consent redirect (the page's CSP must
let the form's redirect leave for Shopify), the callback, the status after a paid order, and
disconnecting. Screenshots go to test-results/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client, override_settings

from integrations.models import Integration
from tests.browser import DESKTOP, PASSWORD, shot
from tests.factories import MerchantFactory, UserFactory, add_member
from tests.integrations_helpers import SHOP, shopify_order, shopify_server
from tests.store_fakes import FakeShopify

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    with shopify_server() as fake:
        yield fake


def test_install_shopify_see_status_and_disconnect(browser, live_server, shopify) -> None:  # type: ignore[no-untyped-def]
    merchant = MerchantFactory(name="Acme Coffee Roasters", slug="acme")
    add_member(merchant, UserFactory(email="alice@example.com", password=PASSWORD), "owner")
    with override_settings(PUBLIC_BASE_URL=live_server.url):
        page = browser.new_context(viewport=DESKTOP).new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill("alice@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url("**/m/*/")
        page.get_by_role("link", name="Integrations").click()
        page.wait_for_url("**/m/acme/integrations/")
        assert page.get_by_text("No store connected yet.").is_visible()
        shot(page, "integrations-empty")
        page.get_by_label("Shop domain").fill("evil.example.com")
        page.get_by_role("button", name="Install on Shopify").click()
        assert page.get_by_text("not a custom domain").is_visible()
        page.get_by_label("Shop domain").fill(SHOP)
        page.get_by_role("button", name="Install on Shopify").click()
        # The fake's consent screen answers at once with the signed redirect back to us.
        page.wait_for_url("**/m/acme/integrations/")
        assert page.get_by_text(f"{SHOP} is connected.").is_visible()
        assert page.get_by_test_id("webhooks").inner_text().split() == [
            "orders/paid",
            "refunds/create",
            "app/uninstalled",
        ]
        assert page.get_by_test_id("last-event").inner_text() == "None yet"
        # A paid order arrives from the shop.
        body, headers = shopify.webhook("orders/paid", shopify_order(1))
        answer = Client().post("/hooks/shopify/", body, content_type="application/json", **headers)
        assert answer.status_code == 200
        page.reload()
        assert page.get_by_test_id("last-event").inner_text() != "None yet"
        assert page.get_by_text("recorded shopify-1").is_visible()
        shot(page, "integrations-connected")
        page.get_by_role("button", name="Disconnect").click()
        page.wait_for_url("**/m/acme/integrations/")
        assert page.get_by_text(f"{SHOP} is disconnected.").is_visible()
        assert page.get_by_text("Disconnected from the dashboard.").is_visible()
        shot(page, "integrations-disconnected")
    (integration,) = Integration.unscoped_all_merchants.all()
    assert integration.status == "disconnected"
    assert shopify.webhooks == {}
    assert shopify.tokens == {}
