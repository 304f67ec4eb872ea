"""The merchant path in a real headless Chromium, end to end:

sign up → verify the email → create a program in the wizard and activate it → create an API
key → post conversions through the API with it (one flagged: the friend's address is on a
throwaway mail domain, which the default fraud settings send to review) → see them on the
overview and the conversions list → a viewer is refused the approval → the owner approves the
flagged one from the review queue → export rewards to CSV and check its rows.

Screenshots of the review queue and the advocate profile (desktop and mobile) go to
test-results/. Console errors fail the test: a CSP violation shows up there.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from accounts.models import AuditEvent, Merchant
from referral_saas import tenancy
from rewards.models import Reward
from tests.browser import DESKTOP, MOBILE, PASSWORD, shot
from tests.factories import UserFactory, add_member
from tracking.models import Conversion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api(base: str, key: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 (our own live server, http)
        f"{base}/api/v1/{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def sign_up_and_verify(page: Any, base: str) -> Merchant:
    page.goto(f"{base}/accounts/signup/")
    page.get_by_label("Email").fill("pat@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_label("Business name").fill("Pat's Pastries")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    assert len(mail.outbox) == 1
    match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[0].body)
    assert match is not None
    page.goto(base + match.group(1))
    page.get_by_role("button", name="Confirm").click()
    merchant = Merchant.objects.get(name="Pat's Pastries")
    page.wait_for_url(f"**/m/{merchant.slug}/")
    return merchant


def create_and_activate_program(page: Any, nav: Any) -> None:
    nav.get_by_role("link", name="Programs").click()
    page.get_by_role("link", name="Create your first program").click()
    page.get_by_label("Program name").fill("Give 10, get 10")
    page.get_by_label("Two-sided").check()
    page.get_by_label("Destination URL").fill("https://shop.example.com/")
    page.get_by_label("Allowed redirect domains").fill("shop.example.com")
    page.get_by_role("button", name="Create draft and continue").click()
    page.wait_for_url("**/edit/rewards/")
    page.locator("fieldset", has_text="Advocate reward").get_by_label("Amount (EUR)").fill("10")
    friend = page.locator("fieldset", has_text="Friend reward")
    friend.get_by_label("Reward").select_option("fixed_discount")
    friend.get_by_label("Amount (EUR)").fill("10")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/edit/rules/")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/edit/copy/")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/programs/prg_*/")
    page.get_by_role("button", name="Activate").click()
    assert page.get_by_text("“Give 10, get 10” is live.").is_visible()


def create_key(page: Any, nav: Any) -> str:
    nav.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("Shop server")
    page.get_by_role("button", name="Create key").click()
    plaintext = str(page.locator("#new-key-value").inner_text()).strip()
    assert plaintext.startswith("sk_live_")
    return plaintext


def test_merchant_path_from_sign_up_to_rewards_csv(browser: Any, live_server: Any) -> None:
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    # sign up, verify, build the program, get a key — all through the dashboard
    merchant = sign_up_and_verify(page, base)
    nav = page.get_by_role("navigation", name="Pat's Pastries")
    create_and_activate_program(page, nav)
    key = create_key(page, nav)
    program_id = only_program_id(merchant)

    # the storefront: enrol an advocate, then two referred orders, one of them suspicious
    status, advocate = api(
        base,
        key,
        "advocates",
        {"program": program_id, "email": "maria@example.com", "name": "Maria Rossi"},
    )
    assert status == 201
    code = advocate["code"]
    for order_id, email in (("ORD-1001", "luca@example.com"), ("ORD-1002", "gio@mailinator.com")):
        status, body = api(
            base,
            key,
            "conversions",
            {
                "order_id": order_id,
                "amount": 5000,
                "currency": "EUR",
                "customer": {"email": email},
                "code": code,
            },
        )
        assert (status, body["status"]) == (202, "received")
    with tenancy.merchant_context(merchant):
        decided = dict(Conversion.objects.values_list("order_id", "status"))
        flagged = Conversion.objects.get(order_id="ORD-1002")
    assert decided == {"ORD-1001": "qualified", "ORD-1002": "review"}

    # the numbers: the overview, then the conversions list with each decision
    nav.get_by_role("link", name="Overview").click()
    assert page.get_by_role("heading", level=1).first.inner_text() == "Pat's Pastries"
    shot(page, "merchant-path-overview")
    nav.get_by_role("link", name="Conversions").click()
    page.get_by_label("Status").select_option("all")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tr[data-conversion]")
    assert rows.count() == 2
    assert page.locator("tr", has_text="ORD-1001").locator("[data-status]").inner_text() == (
        "Qualified"
    )
    assert page.locator("tr", has_text="ORD-1002").locator("[data-status]").inner_text() == (
        "Review"
    )
    assert "throwaway mail service" in page.locator("tr", has_text="ORD-1002").inner_text()

    # a viewer reads the queue but is refused the approval
    viewer = UserFactory(email="vic@example.com", password=PASSWORD)
    add_member(merchant, viewer, "viewer")
    viewer_context = browser.new_context(viewport=DESKTOP)
    viewer_page = viewer_context.new_page()
    viewer_page.goto(f"{base}/accounts/login/")
    viewer_page.get_by_label("Email").fill("vic@example.com")
    viewer_page.get_by_label("Password").fill(PASSWORD)
    viewer_page.get_by_role("button", name="Sign In").click()
    viewer_page.wait_for_url(f"**/m/{merchant.slug}/")
    viewer_page.goto(f"{base}/m/{merchant.slug}/review/")
    assert viewer_page.get_by_text("deciding needs the reviewer role").is_visible()
    assert viewer_page.get_by_role("button", name="Approve").count() == 0
    token = next(c["value"] for c in viewer_context.cookies() if c["name"] == "csrftoken")
    forged = viewer_context.request.post(
        f"{base}/m/{merchant.slug}/review/decide/",
        form={"csrfmiddlewaretoken": token, "conversion": flagged.public_id, "decision": "approve"},
        headers={"Referer": f"{base}/m/{merchant.slug}/review/"},
        max_redirects=0,
    )
    assert forged.status == 403
    with tenancy.merchant_context(merchant):
        assert Conversion.objects.get(pk=flagged.pk).status == "review"
    viewer_context.close()

    # the owner approves it from the review queue, with the evidence in front of them
    nav.get_by_role("link", name="Review queue").click()
    item = page.locator(f"[data-conversion='{flagged.public_id}']")
    assert "gio@mailinator.com" in item.inner_text()
    assert item.locator("[data-rule='disposable_email']").is_visible()
    assert "disposable domain" in item.locator("[data-compare='email']").inner_text()
    shot(page, "review-queue-desktop")
    page.set_viewport_size(MOBILE)
    shot(page, "review-queue-mobile")
    page.set_viewport_size(DESKTOP)
    item.get_by_label("Note for ORD-1002").fill("Known customer, new address")
    item.get_by_role("button", name="Approve").click()
    assert page.get_by_text("1 conversion approved.").is_visible()
    assert page.get_by_text("Nothing to review").is_visible()
    with tenancy.merchant_context(merchant):
        approved = Conversion.objects.get(pk=flagged.pk)
        assert (approved.status, approved.review_note) == (
            "qualified",
            "Known customer, new address",
        )
        event = AuditEvent.objects.get(action="conversion.review_approved")
        assert event.actor_label == "pat@example.com"
        rewards = {r.public_id: (r.recipient, r.amount, r.status) for r in Reward.objects.all()}
    assert sorted(rewards.values()) == [
        ("advocate", 1000, "pending"),
        ("advocate", 1000, "pending"),
        ("friend", 1000, "pending"),
        ("friend", 1000, "pending"),
    ]

    # the advocate's profile: joined, friends, orders and rewards on one timeline
    nav.get_by_role("link", name="Advocates").click()
    page.get_by_role("link", name="maria@example.com").click()
    timeline = page.locator(".timeline")
    assert timeline.locator("[data-event='conversion']").count() == 2
    assert timeline.locator("[data-event='reward']").count() == 4
    assert timeline.locator("[data-event='joined']").count() == 1
    shot(page, "advocate-profile-desktop")
    page.set_viewport_size(MOBILE)
    shot(page, "advocate-profile-mobile")
    page.set_viewport_size(DESKTOP)

    # export rewards to CSV and read it back
    nav.get_by_role("link", name="Exports").click()
    shot(page, "exports-desktop")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download rewards CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"{merchant.slug}-rewards-")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert {
        # CSV amounts are in major units beside their currency (EUR: two decimals)
        row["reward_id"]: (row["recipient"], int(Decimal(row["amount"]) * 100), row["status"])
        for row in table
    } == rewards
    assert {row["order_id"] for row in table} == {"ORD-1001", "ORD-1002"}
    assert {row["advocate_email"] for row in table} == {"maria@example.com"}
    assert console_errors == []
    context.close()


def only_program_id(merchant: Merchant) -> str:
    from programs.models import Program

    with tenancy.merchant_context(merchant):
        return str(Program.objects.get().public_id)


def test_operations_pages_at_desktop_and_mobile(browser: Any, live_server: Any) -> None:
    """Every operations page with realistic data, at both widths, without console errors."""
    from tests.factories import MerchantFactory
    from tests.test_pipeline import enrol, order, program_with
    from tracking.models import Click

    merchant = MerchantFactory(name="Acme Coffee Roasters", slug="acme")
    owner = UserFactory(email="alice@example.com", password=PASSWORD)
    add_member(merchant, owner, "owner")
    with tenancy.merchant_context(merchant):
        program = program_with(merchant, fraud={"thresholds": {"velocity_per_advocate_per_day": 2}})
        maria = enrol(program)
        Click.objects.create(
            program=program,
            advocate=maria,
            user_agent="Firefox/140",
            referer="https://blog.example/",
        )
        order(maria, "ORD-1", email="luca@example.com")
        order(maria, "ORD-2", email="gio@mailinator.com")
        order(maria, "ORD-3", email="Maria+shop@example.com")  # herself: rejected
        order(maria, "ORD-4", email="nina@example.com")  # the 4th today: velocity review
        Reward.objects.filter(conversion__order_id="ORD-1", recipient="friend").update(
            status="failed", attempts=8, last_error="Code pool 'Spring' is empty."
        )
        advocate_id = maria.public_id
        failed_id = Reward.objects.get(status="failed").public_id
        statuses = dict(Conversion.objects.values_list("order_id", "status"))
    assert statuses == {
        "ORD-1": "qualified",
        "ORD-2": "review",
        "ORD-3": "rejected",
        "ORD-4": "review",
    }
    pages = {
        "review-queue": "/m/acme/review/",
        "conversions": "/m/acme/conversions/?status=all",
        "rewards": "/m/acme/rewards/",
        "rewards-failed": "/m/acme/rewards/?status=failed",
        "advocates": "/m/acme/advocates/",
        "leaderboard": "/m/acme/advocates/leaderboard/",
        "advocate-profile": f"/m/acme/advocates/{advocate_id}/",
        "what-if": f"/m/acme/review/what-if/?program={program.public_id}",
        "exports": "/m/acme/exports/",
        "reward-failed": f"/m/acme/rewards/{failed_id}/",
    }
    for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        errors: list[str] = []
        page.on(
            "console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None
        )
        # straight to the queue: the overview belongs to another page's tests
        page.goto(f"{live_server.url}/accounts/login/?next=/m/acme/review/")
        page.get_by_label("Email").fill("alice@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url("**/m/acme/review/")
        for name, path in pages.items():
            page.goto(live_server.url + path)
            assert page.locator("h1").count() == 1, name
            shot(page, f"ops-{name}-{label}")
        page.goto(live_server.url + "/m/acme/rewards/?status=failed")
        assert "Code pool 'Spring' is empty." in page.locator("[data-last-error]").inner_text()
        assert errors == []
        context.close()
    # bulk: "select all" (static/js/ops.js) ticks both held orders, one click rejects them
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/?next=/m/acme/review/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/m/acme/review/")
    page.get_by_label("Select all on this page").check()
    assert page.locator("input[name='conversion']:checked").count() == 2
    page.get_by_label("Note for the selected").fill("Batch of suspicious orders")
    page.get_by_role("button", name="Reject selected").click()
    assert page.get_by_text("2 conversions rejected.").is_visible()
    with tenancy.merchant_context(merchant):
        assert dict(Conversion.objects.values_list("order_id", "status")) == {
            "ORD-1": "qualified",
            "ORD-2": "rejected",
            "ORD-3": "rejected",
            "ORD-4": "rejected",
        }
    context.close()
