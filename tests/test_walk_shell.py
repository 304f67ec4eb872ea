"""Issue 12's walk of a new merchant, the dashboard shell: findings 1, 2, 13 (audit) and 14.

1. A program's hosted-page settings and email templates are reachable (program page, sidebar).
2. Business name, privacy policy, sender name and reply-to are editable (Settings and API);
   hosted pages link the policy; emails are not from @localhost; allauth names the product.
13. The audit log reads in plain language.
14. The getting-started checklist follows real events.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Membership, Merchant, Role
from accounts.services import audit_record, invitation_create
from hosted.tasks import email_advocate_welcome_task
from programs.models import Program
from referral_saas import tenancy
from tests.conftest import World, login, make_key
from tests.factories import UserFactory, add_member, make_program
from tracking.services import advocate_enroll, click_record, conversion_record

ROOT = Path(__file__).resolve().parent.parent
POLICY = "https://shop.example.com/privacy"


def url(name: str, merchant: Merchant, **kwargs: str) -> str:
    return reverse(name, kwargs={"merchant_slug": merchant.slug, **kwargs})


def audit_of(merchant: Merchant, action: str) -> list[AuditEvent]:
    with tenancy.merchant_context(merchant):
        return list(AuditEvent.objects.filter(action=action).order_by("created_at"))


# --- Finding 1: hosted settings and email templates are linked ------------------------------


@pytest.fixture
def program(world: World) -> Program:
    return make_program(world.acme)


def test_program_page_links_its_hosted_settings_and_email_templates(
    alice_client: Client, world: World, program: Program
) -> None:
    body = alice_client.get(url("program_detail", world.acme, program_id=program.public_id))
    html = body.content.decode()
    block = html.split("data-program-links", 1)[1].split("</section>", 1)[0]
    hosted = url("program_hosted_settings", world.acme, program_id=program.public_id)
    emails = url("program_email_templates", world.acme, program_id=program.public_id)
    assert f'href="{hosted}"' in block
    assert f'href="{emails}"' in block


def test_viewer_is_linked_only_to_what_they_may_open(
    client: Client, world: World, program: Program
) -> None:
    viewer = login(client, world.bob)
    html = viewer.get(url("program_detail", world.acme, program_id=program.public_id))
    text = html.content.decode()
    hosted = url("program_hosted_settings", world.acme, program_id=program.public_id)
    emails = url("program_email_templates", world.acme, program_id=program.public_id)
    assert hosted not in text  # admins only: a link to a 403 is a broken step
    assert f'href="{emails}"' in text
    assert viewer.get(emails).status_code == 200


def _program_nav(html: str) -> str:
    match = re.search(r"<ul[^>]*data-program-nav>(.*?)</ul>", html, re.S)
    assert match is not None, "no program section in the sidebar"
    return match.group(1)


def test_sidebar_inside_a_program_links_hosted_pages_and_emails(
    alice_client: Client, world: World, program: Program
) -> None:
    hosted = url("program_hosted_settings", world.acme, program_id=program.public_id)
    emails = url("program_email_templates", world.acme, program_id=program.public_id)
    for page in (url("program_detail", world.acme, program_id=program.public_id), hosted, emails):
        response = alice_client.get(page)
        assert response.status_code == 200, page
        nav = _program_nav(response.content.decode())
        assert f'href="{hosted}"' in nav
        assert f'href="{emails}"' in nav
        # the page one is on is the one marked current
        assert re.search(rf'href="{re.escape(page)}" aria-current="page"', nav), page


def test_sidebar_outside_a_program_has_no_program_section(
    alice_client: Client, world: World, program: Program
) -> None:
    html = alice_client.get(url("merchant_overview", world.acme)).content.decode()
    assert "data-program-nav" not in html


# --- Finding 2: business details in Settings -------------------------------------------------


def test_owner_edits_business_details_in_settings(alice_client: Client, world: World) -> None:
    page = alice_client.get(url("merchant_settings", world.acme))
    assert page.status_code == 200
    assert 'name="privacy_policy_url"' in page.content.decode()

    response = alice_client.post(
        url("merchant_profile_update", world.acme),
        {
            "name": "Acme Coffee",
            "privacy_policy_url": POLICY,
            "sender_name": "Acme Rewards",
            "reply_to_email": "support@shop.example.com",
        },
    )

    assert response.status_code == 302
    world.acme.refresh_from_db()
    assert (world.acme.name, world.acme.slug) == ("Acme Coffee", "acme")  # links keep working
    assert world.acme.privacy_policy_url == POLICY
    assert world.acme.sender_name == "Acme Rewards"
    assert world.acme.reply_to_email == "support@shop.example.com"
    [event] = audit_of(world.acme, "merchant.profile_updated")
    assert event.data["changes"]["name"] == {"from": "Acme", "to": "Acme Coffee"}
    assert event.data["changes"]["privacy_policy_url"] == {"from": "", "to": POLICY}
    assert event.actor_label == "alice@example.com"


def test_settings_report_every_invalid_business_detail_at_once(
    alice_client: Client, world: World
) -> None:
    response = alice_client.post(
        url("merchant_profile_update", world.acme),
        {
            "name": "  ",
            "privacy_policy_url": "javascript:alert(1)",
            "sender_name": "Acme <billing@bank.example>",
            "reply_to_email": "not-an-address",
        },
    )

    assert response.status_code == 400
    form = response.context["profile_form"]
    assert set(form.errors) == {"name", "privacy_policy_url", "sender_name", "reply_to_email"}
    html = response.content.decode()
    assert "Give your business a name." in html
    assert "Enter the full address of your privacy policy" in html
    assert "support@shop.example.com" in html  # the reply-to error shows an example
    world.acme.refresh_from_db()
    assert (world.acme.name, world.acme.privacy_policy_url, world.acme.sender_name) == (
        "Acme",
        "",
        "",
    )
    assert audit_of(world.acme, "merchant.profile_updated") == []


def test_business_details_are_owner_only(client: Client, world: World) -> None:
    admin = UserFactory(email="adam@example.com")
    add_member(world.acme, admin, Role.ADMIN)
    response = login(client, admin).post(
        url("merchant_profile_update", world.acme), {"name": "Hijacked", "sender_name": "x"}
    )
    assert response.status_code == 403
    world.acme.refresh_from_db()
    assert world.acme.name == "Acme"


# --- Finding 2: the API ----------------------------------------------------------------------


def test_api_reads_and_updates_the_merchant(client: Client, world: World) -> None:
    key = make_key(world.acme)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.plaintext}"}

    before = client.get("/api/v1/merchant", **auth)
    assert before.status_code == 200
    assert before.json()["object"] == "merchant"
    assert before.json()["privacy_policy_url"] is None
    assert not before.json()["from_email"].endswith("@localhost>")

    patched = client.patch(
        "/api/v1/merchant",
        {"privacy_policy_url": POLICY, "sender_name": "Acme Rewards", "reply_to_email": "s@a.io"},
        content_type="application/json",
        **auth,
    )

    assert patched.status_code == 200, patched.content
    body = patched.json()
    assert body["id"] == world.acme.public_id
    assert (body["name"], body["privacy_policy_url"]) == ("Acme", POLICY)
    assert (body["sender_name"], body["reply_to_email"]) == ("Acme Rewards", "s@a.io")
    assert body["from_email"].startswith("Acme Rewards <")
    [event] = audit_of(world.acme, "merchant.profile_updated")
    assert event.actor_label == f"API key {key.key.masked}"

    cleared = client.patch(
        "/api/v1/merchant", {"sender_name": None}, content_type="application/json", **auth
    )
    assert cleared.json()["sender_name"] is None
    assert cleared.json()["from_email"].startswith("Acme <")


def test_api_lists_every_invalid_field_and_changes_nothing(client: Client, world: World) -> None:
    key = make_key(world.acme)
    response = client.patch(
        "/api/v1/merchant",
        {"name": "", "privacy_policy_url": "ftp://x.example/p", "reply_to_email": 7, "slug": "new"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.plaintext}",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert {problem["param"] for problem in error["errors"]} == {
        "name",
        "privacy_policy_url",
        "reply_to_email",
        "slug",
    }
    assert error["param"] == error["errors"][0]["param"]
    world.acme.refresh_from_db()
    assert (world.acme.name, world.acme.slug, world.acme.privacy_policy_url) == ("Acme", "acme", "")


def test_api_merchant_needs_a_secret_key(client: Client, world: World) -> None:
    key = make_key(world.acme, "publishable", ["https://shop.example.com"])
    response = client.patch(
        "/api/v1/merchant",
        {"name": "Hijacked"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.plaintext}",
        HTTP_ORIGIN="https://shop.example.com",
    )
    assert response.status_code == 403
    world.acme.refresh_from_db()
    assert world.acme.name == "Acme"


# --- Finding 2: hosted pages and emails ------------------------------------------------------


def test_hosted_page_links_the_policy_in_footer_and_consent_banner(
    alice_client: Client, client: Client, world: World, program: Program
) -> None:
    alice_client.post(
        url("merchant_profile_update", world.acme), {"name": "Acme", "privacy_policy_url": POLICY}
    )
    html = Client().get(f"/p/acme/{program.slug}/").content.decode()

    footer = html.split('<footer class="hosted-footer">', 1)[1].split("</footer>", 1)[0]
    banner = html.split("data-consent-banner", 1)[1].split("</section>", 1)[0]
    assert f'href="{POLICY}"' in footer
    assert f'href="{POLICY}"' in banner


def test_advocate_emails_carry_the_sender_name_and_reply_to(world: World, program: Program) -> None:
    Merchant.objects.filter(pk=world.acme.pk).update(
        sender_name="Acme Rewards", reply_to_email="support@shop.example.com"
    )
    with tenancy.merchant_context(world.acme):
        advocate = advocate_enroll(program=program, email="maria@example.com").advocate
    email_advocate_welcome_task(merchant_id=world.acme.pk, advocate_id=advocate.pk)

    [email] = mail.outbox
    assert email.from_email == "Acme Rewards <referrals@example.invalid>"
    assert email.reply_to == ["support@shop.example.com"]
    assert "localhost" not in email.message()["From"]


def test_without_a_sender_name_emails_come_from_the_business_name(
    world: World, program: Program
) -> None:
    with tenancy.merchant_context(world.acme):
        advocate = advocate_enroll(program=program, email="maria@example.com").advocate
    email_advocate_welcome_task(merchant_id=world.acme.pk, advocate_id=advocate.pk)

    [email] = mail.outbox
    assert email.from_email == "Acme <referrals@example.invalid>"
    assert email.reply_to == []


def test_invitation_replies_reach_the_inviter(
    world: World, django_capture_on_commit_callbacks: object
) -> None:
    with tenancy.merchant_context(world.acme):
        owner = Membership.objects.get(user=world.alice)
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            invitation_create(actor=owner, email="dana@example.com", role=Role.VIEWER)
    [email] = mail.outbox
    assert email.reply_to == ["alice@example.com"]
    assert "@localhost" not in email.from_email


def test_verification_email_names_the_product_not_the_host(db: None) -> None:
    client = Client(HTTP_HOST="127.0.0.1:8000")
    password = "a-long-Secret-passphrase-42"
    response = client.post(
        reverse("account_signup"),
        {
            "email": "dora@example.com",
            "password1": password,
            "password2": password,
            "business_name": "Dora's Donuts",
        },
    )
    assert response.status_code == 302

    [email] = mail.outbox
    assert "Hello from Referral SaaS!" in email.body
    assert "Hello from 127.0.0.1" not in email.body
    assert "@localhost" not in email.from_email


def _settings_value(env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    clean = {
        k: v
        for k, v in __import__("os").environ.items()
        if k not in {"DEFAULT_FROM_EMAIL", "PUBLIC_BASE_URL"}
    }
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "referral_saas.settings.test", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("public_base_url", "sender"),
    [
        ("https://referrals.example.com", "Referral SaaS <referrals@referrals.example.com>"),
        ("http://127.0.0.1:8000", "Referral SaaS <referrals@example.invalid>"),
        ("http://localhost:8000", "Referral SaaS <referrals@example.invalid>"),
    ],
)
def test_default_sender_is_the_public_domain_or_a_reserved_one(
    public_base_url: str, sender: str
) -> None:
    result = _settings_value({"PUBLIC_BASE_URL": public_base_url}, "settings.DEFAULT_FROM_EMAIL")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sender


def test_a_sender_without_an_address_stops_the_process() -> None:
    result = _settings_value({"DEFAULT_FROM_EMAIL": "Referrals"}, "1")
    assert result.returncode != 0
    assert "DEFAULT_FROM_EMAIL must be an address" in result.stderr


# --- Finding 13: the audit log in plain language --------------------------------------------


def test_audit_log_shows_what_changed_in_plain_language(alice_client: Client, world: World) -> None:
    with tenancy.merchant_context(world.acme):
        audit_record(
            action="program.updated",
            actor=world.alice,
            data={"fields": ["copy", "friend_reward"], "version": 2},
        )
        audit_record(
            action="member.role_changed",
            actor=world.alice,
            data={"user": "bob@example.com", "from": "viewer", "to": "admin"},
        )
        audit_record(
            action="merchant.profile_updated",
            actor=world.alice,
            data={"changes": {"privacy_policy_url": {"from": "", "to": POLICY}}},
        )
        audit_record(
            action="program.paused", actor=world.alice, data={"from": "active", "to": "paused"}
        )

    html = alice_client.get(url("audit_log", world.acme)).content.decode()

    assert "Program edited" in html
    assert "Changed: Texts (headline, description, terms), Reward for the friend" in html
    assert "Configuration version: 2" in html
    assert "Role: Viewer → Admin" in html
    assert "Person: bob@example.com" in html
    assert f"Privacy policy URL: (none) → {POLICY}" in html
    assert "Status: active → paused" in html
    assert "[&#x27;copy" not in html  # no Python reprs
    assert "['copy" not in html


def test_unknown_actions_still_read_as_words(alice_client: Client, world: World) -> None:
    with tenancy.merchant_context(world.acme):
        audit_record(action="widget.colour_changed", actor=world.alice, data={"shade_name": "teal"})
    html = alice_client.get(url("audit_log", world.acme)).content.decode()
    assert "Widget: colour changed" in html
    assert "Shade name: teal" in html


# --- Finding 14: the getting-started checklist ----------------------------------------------


def _checklist(client: Client, merchant: Merchant) -> dict[str, bool]:
    response = client.get(url("merchant_overview", merchant))
    assert response.status_code == 200
    html = response.content.decode()
    steps = dict(re.findall(r'data-step="(\w+)" data-done="(true|false)"', html))
    return {step: done == "true" for step, done in steps.items()}


def test_checklist_includes_tracking_and_first_conversion_and_follows_real_events(
    alice_client: Client, world: World
) -> None:
    # given a new merchant: only the account exists
    steps = _checklist(alice_client, world.acme)
    assert {"tracking", "conversion", "activate", "privacy"} <= set(steps)
    assert steps["account"] is True
    assert not any(steps[s] for s in ("program", "activate", "api_key", "tracking", "conversion"))

    # a draft program is created: not yet live
    program = make_program(world.acme, status="draft", slug="draft")
    steps = _checklist(alice_client, world.acme)
    assert (steps["program"], steps["activate"]) == (True, False)

    # it goes live, a key is created, a referral link is clicked, an order comes in
    make_key(world.acme)
    with tenancy.merchant_context(world.acme):
        Program.objects.filter(pk=program.pk).update(status="active")
        program.refresh_from_db()
        advocate = advocate_enroll(program=program, email="maria@example.com").advocate
        click_record(code=advocate.code)
    steps = _checklist(alice_client, world.acme)
    assert (steps["activate"], steps["api_key"], steps["tracking"]) == (True, True, True)
    assert steps["conversion"] is False
    with tenancy.merchant_context(world.acme):
        conversion_record(
            order_id="ORD-1", amount=5000, currency="EUR", customer={"email": "luca@example.com"}
        )
    assert _checklist(alice_client, world.acme)["conversion"] is True


def test_checklist_privacy_step_follows_the_merchants_policy(
    alice_client: Client, world: World
) -> None:
    assert _checklist(alice_client, world.acme)["privacy"] is False
    Merchant.objects.filter(pk=world.acme.pk).update(privacy_policy_url=POLICY)
    assert _checklist(alice_client, world.acme)["privacy"] is True


def test_checklist_shows_how_to_report_a_conversion(alice_client: Client, world: World) -> None:
    html = alice_client.get(url("merchant_overview", world.acme)).content.decode()
    assert "Report your first conversion" in html
    assert "POST /api/v1/conversions" in html
    assert f'href="{reverse("api_docs")}"' in html
