"""The dashboard in a real headless Chromium: sign up, verify, land, create a key.

Screenshots (the walk, plus overview/team/keys at desktop and mobile widths) go to test-results/.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail

from accounts.models import ApiKey, Merchant
from accounts.services import hash_token
from referral_saas import tenancy
from tests.browser import DESKTOP, MOBILE, PASSWORD, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_verify_and_create_a_key(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    # sign up with a business name
    page.goto(f"{live_server.url}/accounts/signup/")
    shot(page, "signup")
    page.get_by_label("Email").fill("pat@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_label("Business name").fill("Pat's Pastries")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    assert page.get_by_role("heading", level=1).inner_text() == "Verify Your Email Address"

    # follow the verification link from the email and confirm
    assert len(mail.outbox) == 1
    match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[0].body)
    assert match is not None
    page.goto(live_server.url + match.group(1))
    page.get_by_role("button", name="Confirm").click()

    # land on the new merchant's overview
    merchant = Merchant.objects.get(name="Pat's Pastries")
    page.wait_for_url(f"**/m/{merchant.slug}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Pat's Pastries"
    assert page.locator("[data-stat='programs']").inner_text() == "0"
    shot(page, "overview-desktop")

    # create a secret key: the plaintext is shown once
    page.get_by_role("navigation", name="Pat's Pastries").get_by_role(
        "link", name="API keys"
    ).click()
    page.get_by_label("Name").fill("Shop server")
    page.get_by_role("button", name="Create key").click()
    plaintext = page.locator("#new-key-value").inner_text().strip()
    assert plaintext.startswith("sk_live_")
    with tenancy.merchant_context(merchant):
        key = ApiKey.objects.get()
    assert key.key_hash == hash_token(plaintext)
    assert page.get_by_role("button", name="Copy").is_visible()
    shot(page, "api-key-created")

    # and never again
    page.get_by_role("navigation", name="Pat's Pastries").get_by_role(
        "link", name="API keys"
    ).click()
    assert plaintext not in page.content()
    assert key.masked in page.content()
    assert console_errors == []
    context.close()


def test_screenshots_at_desktop_and_mobile(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import MerchantFactory, UserFactory, add_member, make_program

    merchant = MerchantFactory(name="Acme Coffee Roasters", slug="acme")
    owner = UserFactory(email="alice@example.com", password=PASSWORD)
    add_member(merchant, owner, "owner")
    add_member(merchant, UserFactory(email="bob@example.com"), "viewer")
    add_member(merchant, UserFactory(email="rita.reviewer@example.com"), "reviewer")
    add_member(MerchantFactory(name="Globex", slug="globex"), owner, "admin")
    make_program(merchant)
    with tenancy.merchant_context(merchant):
        from accounts.services import api_key_create

        api_key_create(actor=owner, kind="secret", name="Production server")
        api_key_create(
            actor=owner,
            kind="publishable",
            name="Storefront",
            allowed_origins=["https://shop.example.com", "https://www.example.com"],
        )

    for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        shot(page, f"login-{label}")
        page.get_by_label("Email").fill("alice@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url("**/m/*/")
        for name, path in (
            ("overview", ""),
            ("team", "team/"),
            ("audit", "audit/"),
            ("settings", "settings/"),
            ("keys", "api-keys/"),
        ):
            page.goto(f"{live_server.url}/m/acme/{path}")
            assert page.locator("h1").count() == 1
            shot(page, f"{name}-{label}")
        page.locator("details.switcher > summary").click()
        shot(page, f"switcher-{label}")
        page.keyboard.press("Escape")
        page.get_by_label("Publishable (browser)").check()
        assert page.get_by_label("Allowed origins").is_visible()
        page.locator("tr", has_text="Storefront").locator("summary", has_text="Roll").click()
        assert page.get_by_role("button", name="Roll key").is_visible()
        shot(page, f"keys-roll-{label}")
        page.goto(f"{live_server.url}/accounts/2fa/totp/activate/")
        # activating a second factor asks for the password again first
        shot(page, f"reauthenticate-{label}")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()
        assert page.locator("img.qr").is_visible()
        shot(page, f"mfa-activate-{label}")
        context.close()
