"""Joining from the landing page: the form, its protections (no CSRF cookie before consent:
signed token, same origin, honeypot, rate limit), the page after joining, "send my link again"."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from hosted.models import SentEmail
from programs.models import Program
from referral_saas import tenancy
from tests.conftest import World
from tests.factories import make_program
from tracking import links
from tracking.models import Advocate

# Emails are enqueued after commit: real transactions, so they run as each request commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def program(world: World) -> Program:
    world.acme.privacy_policy_url = "https://acme.example.com/privacy"
    world.acme.save()
    return make_program(world.acme, slug="give-10")


def form_token(client: Client, path: str = "/p/acme/give-10/") -> str:
    html = client.get(path).content.decode()
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, "the landing page has no form token"
    return match.group(1)


def join(client: Client, **fields: str) -> object:
    data = {"email": "maria@example.com", "name": "Maria", "consent": "yes", "lang": "it"}
    data.update(fields)
    if "token" not in data:
        data["token"] = form_token(client)
    return client.post("/p/acme/give-10/join", data)


def advocates(world: World) -> list[Advocate]:
    with tenancy.merchant_context(world.acme):
        return list(Advocate.objects.all())


def test_landing_page_has_the_join_form_and_sets_no_cookie(
    client: Client, program: Program
) -> None:
    response = client.get("/p/acme/give-10/?lang=it")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'action="/p/acme/give-10/join"' in html
    assert 'name="website"' in html  # the honeypot
    assert 'href="https://acme.example.com/privacy"' in html
    assert "data-consent-banner" in html
    assert response.cookies == {}
    assert "csrfmiddlewaretoken" not in html


def test_join_creates_the_advocate_emails_them_and_shows_link_code_qr_and_portal(
    client: Client, world: World, program: Program
) -> None:
    response = join(client)

    assert response.status_code == 302
    [advocate] = advocates(world)
    assert (advocate.email, advocate.name, advocate.locale) == ("maria@example.com", "Maria", "it")
    assert len(advocate.ip_hash) == 64
    assert advocate.visitor_id == ""
    assert response.cookies == {}
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert page["Content-Language"] == "it"
    assert f"/r/{advocate.code}" in html
    assert advocate.code in html
    assert f"/r/{advocate.code}/qr.svg" in html
    assert f"/r/{advocate.code}/qr.png" in html
    assert links.portal_url(advocate).split("/portal/")[1].split("/")[0][:20] in html
    for network in ("whatsapp", "email", "sms", "telegram", "facebook", "x", "linkedin"):
        assert f'data-share="{network}"' in html
    assert "wa.me/?text=" in html
    [email] = mail.outbox
    assert email.to == ["maria@example.com"]
    assert advocate.code in email.body
    assert "/portal/" in email.body
    assert email.alternatives
    assert advocate.code in str(email.alternatives[0][0])
    with tenancy.merchant_context(world.acme):
        assert SentEmail.objects.get().key == f"welcome:{advocate.public_id}"


def test_joining_twice_is_the_same_advocate_and_never_shows_their_portal(
    client: Client, world: World, program: Program
) -> None:
    join(client)
    mail.outbox.clear()

    again = join(client, email="MARIA@example.com", name="Someone else")

    [advocate] = advocates(world)
    assert advocate.name == "Maria"
    html = client.get(again["Location"]).content.decode()
    assert "data-portal-emailed" in html
    assert "data-portal-link" not in html
    assert "/portal/" not in html
    [email] = mail.outbox  # the portal link goes to the address owner instead
    assert email.to == ["maria@example.com"]
    assert "/portal/" in email.body
    join(client)  # within the hour: no second email
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "not-an-email"}, 'id="join-email-error"'),
        ({"consent": ""}, 'id="join-consent-error"'),
        ({"website": "http://spam.example"}, 'data-form-error="expired"'),
        ({"token": "forged"}, 'data-form-error="expired"'),
    ],
)
def test_bad_joins_change_nothing(
    client: Client, world: World, program: Program, fields: dict[str, str], error: str
) -> None:
    response = join(client, **fields)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert advocates(world) == []
    assert mail.outbox == []


def test_a_token_of_another_program_is_refused(
    client: Client, world: World, program: Program
) -> None:
    make_program(world.acme, slug="other")
    response = join(client, token=form_token(client, "/p/acme/other/"))
    assert response.status_code == 400
    assert advocates(world) == []


def test_cross_site_posts_are_refused(client: Client, world: World, program: Program) -> None:
    token = form_token(client)
    data = {"email": "maria@example.com", "consent": "yes", "token": token}
    foreign = client.post("/p/acme/give-10/join", data, HTTP_ORIGIN="https://evil.example.org")
    fetched = client.post("/p/acme/give-10/join", data, HTTP_SEC_FETCH_SITE="cross-site")
    assert (foreign.status_code, fetched.status_code) == (400, 400)
    assert advocates(world) == []
    ours = client.post("/p/acme/give-10/join", data, HTTP_ORIGIN="http://testserver")
    assert ours.status_code == 302


def test_joins_are_rate_limited_per_ip(client: Client, world: World, program: Program) -> None:
    token = form_token(client)
    statuses = [
        join(client, email=f"friend{n}@example.com", token=token).status_code  # type: ignore[attr-defined]
        for n in range(11)
    ]
    assert statuses == [302] * 10 + [429]
    assert len(advocates(world)) == 10


def test_joining_a_paused_program_is_refused(
    client: Client, world: World, program: Program
) -> None:
    token = form_token(client)
    with tenancy.merchant_context(world.acme):
        Program.objects.filter(pk=program.pk).update(status="paused")
    response = join(client, token=token)
    assert response.status_code == 410
    assert advocates(world) == []


def test_send_my_link_again_answers_the_same_for_strangers(
    client: Client, world: World, program: Program
) -> None:
    join(client)
    mail.outbox.clear()
    token = form_token(client)

    known = client.post("/p/acme/give-10/link", {"email": "maria@example.com", "token": token})
    stranger = client.post("/p/acme/give-10/link", {"email": "nobody@example.com", "token": token})

    assert known.status_code == stranger.status_code == 200
    assert "data-resend-done" in known.content.decode()
    assert "data-resend-done" in stranger.content.decode()
    [email] = mail.outbox
    assert email.to == ["maria@example.com"]
    assert "/portal/" in email.body


def test_welcome_page_with_a_bad_token_is_404(client: Client, program: Program) -> None:
    assert client.get("/p/acme/give-10/welcome/forged").status_code == 404
