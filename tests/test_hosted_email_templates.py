"""Merchants' own email subjects and bodies per program, kind and locale: placeholders only
(never a Django template), escaped in HTML, our footer always added; the dashboard page."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from accounts.models import AuditEvent
from hosted import email_overrides
from hosted.emails import render_email
from hosted.models import EmailTemplateOverride, HostedSettings
from hosted.tasks import email_advocate_welcome_task, email_friend_invitation_task
from programs.models import Program
from referral_saas import tenancy
from tests.conftest import World, login
from tests.factories import make_program
from tracking.models import Advocate
from tracking.services import advocate_enroll


@pytest.fixture
def program(world: World) -> Program:
    world.acme.privacy_policy_url = "https://acme.example.com/privacy"
    world.acme.save()
    return make_program(world.acme)


def enrol(program: Program, locale: str) -> Advocate:
    with tenancy.merchant_context(program.merchant):
        return advocate_enroll(
            program=program, email=f"maria-{locale}@example.com", name="Maria", locale=locale
        ).advocate


def override(program: Program, kind: str, locale: str, subject: str, body: str) -> None:
    with tenancy.merchant_context(program.merchant):
        EmailTemplateOverride.objects.create(
            program=program, kind=kind, locale=locale, subject=subject, body=body
        )


def url(program: Program, tail: str = "") -> str:
    return f"/m/acme/programs/{program.public_id}/emails/{tail}"


# --- Substitution -------------------------------------------------------------------------------


def test_placeholders_are_substituted_and_nothing_else_is_a_template() -> None:
    context = {"referral_url": "https://x/r/A", "code": "A-1", "advocate_name": "Maria"}
    text = "Hi {{advocate_name}}, {{  code }} {{ referral_link }} {% load x %} {{ code|upper }}"
    assert email_overrides.substitute("welcome", text, context) == (
        "Hi Maria, A-1 https://x/r/A {% load x %} {{ code|upper }}"
    )


def test_unknown_placeholders_are_errors_naming_field_and_placeholder() -> None:
    errors = email_overrides.validate("welcome", "Hi {{ opt_out_link }}", "{{ settings.SECRET }}")
    assert "Subject" in errors["subject"]
    assert "{{ opt_out_link }}" in errors["subject"]
    assert "Body" in errors["body"]
    assert "{{ settings.SECRET }}" in errors["body"]
    assert email_overrides.validate("friend_invitation", "{{ opt_out_link }}", "x") == {}
    assert "subject" in email_overrides.validate("welcome", "x" * 201, "x")
    assert "body" in email_overrides.validate("welcome", "x", "")


def test_override_is_escaped_in_html_and_keeps_our_footer(world: World, program: Program) -> None:
    override(
        program,
        "friend_invitation",
        "en",
        "{{ advocate_name }} says hi",
        "<script>alert(1)</script>\n\nJoin: {{ referral_link }}",
    )
    with tenancy.merchant_context(world.acme):
        context = email_overrides.sample_context("friend_invitation", "en", world.acme, program)
        context["advocate_name"] = "<b>Maria</b>"
        rendered = render_email("friend_invitation", "en", context)
    assert rendered.subject == "<b>Maria</b> says hi"  # plain text, not HTML
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<b>Maria</b>" not in rendered.html
    assert "/r/MARIA10</a>" in rendered.html  # links are clickable
    assert "<script>alert(1)</script>" in rendered.text  # the text version is plain text
    for version in (rendered.text, rendered.html):
        assert "/opt-out/example" in version
        assert "https://acme.example.com/privacy" in version
        assert "You receive this email because of Acme" in version
        assert "gave us your address" in version


# --- The real send path -------------------------------------------------------------------------


def test_sent_email_uses_the_override_in_its_locale_only(world: World, program: Program) -> None:
    override(program, "welcome", "it", "Ciao {{ advocate_name }}!", "Il tuo codice: {{ code }}")
    italian, polish = enrol(program, "it"), enrol(program, "pl")
    email_advocate_welcome_task(merchant_id=world.acme.pk, advocate_id=italian.pk)
    email_advocate_welcome_task(merchant_id=world.acme.pk, advocate_id=polish.pk)

    it_email, pl_email = mail.outbox
    assert it_email.subject == "Ciao Maria!"
    assert it_email.body.startswith(f"Il tuo codice: {italian.code}\n")
    assert "https://acme.example.com/privacy" in it_email.body
    html = str(it_email.alternatives[0][0])
    assert f"Il tuo codice: {italian.code}" in html
    assert 'lang="it"' in html
    assert "Ciao" not in pl_email.subject  # the default, in Polish
    assert polish.code in pl_email.body
    assert "Il tuo codice" not in pl_email.body


def test_friend_invitation_override_cannot_drop_the_opt_out(world: World, program: Program) -> None:
    with tenancy.merchant_context(world.acme):
        HostedSettings.objects.create(program=program, friend_emails_enabled=True)
    override(program, "friend_invitation", "en", "Hey", "Just {{ referral_link }}")
    advocate = enrol(program, "en")
    email_friend_invitation_task(
        merchant_id=world.acme.pk, advocate_id=advocate.pk, email="luca@example.com"
    )
    [email] = mail.outbox
    assert email.subject == "Hey"
    assert email.body.startswith("Just http://")
    assert "/opt-out/" in email.body
    assert "/opt-out/" in str(email.alternatives[0][0])


# --- The dashboard page -------------------------------------------------------------------------


def test_admin_saves_previews_and_resets_with_audit(
    client: Client, world: World, program: Program
) -> None:
    login(client, world.alice)
    page = client.get(url(program))
    assert page.status_code == 200
    assert page.content.decode().count("Default") >= 20

    form = client.get(url(program) + "?kind=reward_earned&locale=ro")
    assert "{{ reward_code }}" in form.content.decode()  # the available placeholders

    data = {"kind": "reward_earned", "locale": "ro", "subject": "Bravo {{ reward }}"}
    bad = client.post(url(program), {**data, "body": "{{ friend_name }}", "action": "save"})
    assert bad.status_code == 400
    assert "Body: unknown placeholder {{ friend_name }}" in bad.content.decode()

    preview = client.post(url(program), {**data, "body": "<i>{{ code }}</i>", "action": "preview"})
    assert preview.status_code == 200
    assert "&lt;i&gt;MARIA10&lt;/i&gt;" in preview.content.decode()
    with tenancy.merchant_context(world.acme):
        assert not EmailTemplateOverride.objects.exists()

    saved = client.post(url(program), {**data, "body": "Cod: {{ reward_code }}", "action": "save"})
    assert saved.status_code == 302
    html = client.get(url(program, "preview/") + "?kind=reward_earned&locale=ro")
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    assert "Cod: THANKS-7Q2X" in html.content.decode()
    assert "<html" in html.content.decode()
    assert "Customised" in client.get(url(program)).content.decode()

    reset = client.post(url(program), {**data, "body": "", "action": "reset"})
    assert reset.status_code == 302
    with tenancy.merchant_context(world.acme):
        assert not EmailTemplateOverride.objects.exists()
        actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["email_template.updated", "email_template.reset"]


def test_viewer_reads_but_cannot_edit(client: Client, world: World, program: Program) -> None:
    override(program, "welcome", "en", "Hello", "Body")
    login(client, world.bob)
    assert client.get(url(program) + "?kind=welcome&locale=en").status_code == 200
    assert client.get(url(program, "preview/") + "?kind=welcome&locale=en").status_code == 200
    data = {"kind": "welcome", "locale": "en", "subject": "x", "body": "y"}
    assert client.post(url(program), {**data, "action": "save"}).status_code == 403
    assert client.post(url(program), {**data, "action": "reset"}).status_code == 403
    with tenancy.merchant_context(world.acme):
        assert EmailTemplateOverride.objects.get().subject == "Hello"


def test_outsider_gets_404(client: Client, world: World, program: Program) -> None:
    login(client, world.charlie)
    for path in (url(program), url(program, "preview/?kind=welcome&locale=en")):
        assert client.get(path).status_code == 404
    data = {"kind": "welcome", "locale": "en", "subject": "x", "body": "y", "action": "save"}
    assert client.post(url(program), data).status_code == 404
    assert client.get(f"/m/globex/programs/{program.public_id}/emails/").status_code == 404


def test_locale_outside_the_program_is_refused(client: Client, world: World) -> None:
    program = make_program(world.acme, slug="en-only", locales=["en"])
    login(client, world.alice)
    data = {"kind": "welcome", "locale": "it", "subject": "x", "body": "y", "action": "save"}
    assert client.post(url(program), data).status_code == 400


def test_html_preview_allows_the_emails_inline_styles_but_no_script(
    client: Client, world: World, program: Program
) -> None:
    login(client, world.alice)
    response = client.get(url(program, "preview/") + "?kind=friend_invitation&locale=pl")
    assert response.status_code == 200
    assert 'lang="pl"' in response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self'" in policy
