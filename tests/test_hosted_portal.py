"""The advocate portal (magic link), friend invitations and opt-outs, and consent choices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from hosted.consent import CONSENT_TEXT_VERSION
from hosted.models import ConsentRecord, FriendOptOut, HostedSettings
from programs.models import Program
from referral_saas import tenancy
from rewards.models import Reward
from tests.conftest import World
from tests.factories import make_program
from tracking import links
from tracking.models import Advocate, Click, Conversion, Referral
from tracking.services import advocate_enroll, click_record, referral_record

IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def enrol(program: Program, email: str = "maria@example.com") -> Advocate:
    with tenancy.merchant_context(program.merchant):
        return advocate_enroll(
            program=program, email=email, name="Maria Rossi", locale="it"
        ).advocate


@pytest.fixture
def tiered(world: World) -> Program:
    return make_program(world.acme, type="tiered", slug="tiers")


def add_history(advocate: Advocate) -> None:
    """Two clicks, a friend, a qualified and a rejected order, an issued and a pending reward."""
    now = timezone.now()
    with tenancy.merchant_context(advocate.merchant):
        click_record(
            code=advocate.code,
            ip="198.51.100.4",
            user_agent=IPHONE_UA,
        )
        click_record(code=advocate.code, ip="198.51.100.5")
        referral_record(code=advocate.code, email="luca.bianchi@example.com", name="Luca Bianchi")
        good = Conversion.objects.create(
            program=advocate.program,
            advocate=advocate,
            order_id="o-1",
            amount=4500,
            currency="EUR",
            customer_email="luca.bianchi@example.com",
            customer_name="Luca Bianchi",
            status="qualified",
        )
        Conversion.objects.create(
            program=advocate.program,
            advocate=advocate,
            order_id="o-2",
            amount=900,
            currency="EUR",
            customer_email="self@example.com",
            status="rejected",
            reasons=[
                {"rule": "attribution_window", "outcome": "pass", "detail": "ok"},
                {"rule": "self_referral", "outcome": "reject", "detail": "same email"},
            ],
        )
        Reward.objects.create(
            recipient="advocate",
            advocate=advocate,
            conversion=good,
            tier=1,
            kind="account_credit",
            amount=1000,
            currency="EUR",
            status="issued",
            fulfilment_method="generated_code",
            fulfilment_code="THANKS-7Q2X",
            issued_at=now,
        )
        second = Conversion.objects.create(
            program=advocate.program,
            advocate=advocate,
            order_id="o-3",
            amount=5000,
            currency="EUR",
            customer_email="anna@example.com",
            status="qualified",
        )
        Reward.objects.create(
            recipient="advocate",
            advocate=advocate,
            conversion=second,
            tier=0,
            kind="account_credit",
            amount=1000,
            currency="EUR",
            status="pending",
            fulfilment_method="generated_code",
            fulfilment_code="NOT-YET",
            available_at=now + timedelta(days=30),
        )
        # The pipeline's tier counter, as it keeps it for qualified orders.
        Advocate.objects.filter(pk=advocate.pk).update(qualified_conversions=2)
        advocate.refresh_from_db()


def test_portal_shows_clicks_friends_orders_reasons_rewards_and_tier_progress(
    client: Client, world: World, tiered: Program
) -> None:
    advocate = enrol(tiered)
    add_history(advocate)

    response = client.get(
        links.portal_url(advocate).replace("http://127.0.0.1:8000", "") + "?lang=en"
    )

    html = response.content.decode().replace("\xa0", " ")
    assert response.status_code == 200
    assert 'data-stat="clicks">2<' in html
    assert 'data-stat="friends">1<' in html
    assert 'data-stat="qualified">2<' in html
    assert "Luca B." in html
    assert "luca.bianchi" not in html
    assert "You cannot refer yourself." in html  # the rejected order's reason
    assert "same email" not in html  # the detail is for the merchant
    assert "THANKS-7Q2X" in html
    assert "NOT-YET" not in html
    assert "available from" in html
    assert "3 more friends to €75 account credit" in html  # 2 of 5
    assert "Mobile Safari on iOS" in html
    assert response.cookies == {}


def test_portal_is_in_the_advocates_language_and_formats_money_per_locale(
    client: Client, world: World, tiered: Program
) -> None:
    advocate = enrol(tiered)
    add_history(advocate)
    html = client.get(
        links.portal_url(advocate).replace("http://127.0.0.1:8000", "")
    ).content.decode()
    assert '<html lang="it">' in html
    assert "45 €" in html.replace("\xa0", " ")


@pytest.mark.parametrize("token", ["forged", "x" * 600])
def test_bad_portal_tokens_are_404(client: Client, world: World, token: str) -> None:
    assert client.get(f"/portal/{token}/").status_code == 404


def test_expired_portal_token_is_404(
    client: Client, world: World, tiered: Program, monkeypatch: Any
) -> None:
    advocate = enrol(tiered)
    path = links.portal_url(advocate).replace("http://127.0.0.1:8000", "")
    later = timezone.now().timestamp() + (links.PORTAL_LINK_DAYS + 1) * 86400
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert client.get(path).status_code == 404


def test_a_portal_token_cannot_reach_another_merchants_advocate(
    client: Client, world: World, tiered: Program
) -> None:
    theirs = enrol(make_program(world.globex, slug="g"))
    forged = signing.dumps([world.acme.pk, theirs.public_id], salt="hosted.portal", compress=True)
    assert client.get(f"/portal/{forged}/").status_code == 404


# --- Invitations and opt-outs -------------------------------------------------------------------


def invite(client: Client, advocate: Advocate, emails: str) -> Any:
    path = links.portal_url(advocate).replace("http://127.0.0.1:8000", "")
    return client.post(
        path + "invite", {"emails": emails, "token": links.form_token(advocate.program)}
    )


@pytest.mark.django_db(transaction=True)
def test_invitations_only_when_the_merchant_turned_them_on(
    client: Client, world: World, tiered: Program
) -> None:
    advocate = enrol(tiered)
    refused = invite(client, advocate, "luca@example.com")
    assert refused.status_code == 400
    assert mail.outbox == []

    with tenancy.merchant_context(world.acme):
        HostedSettings.objects.create(program=tiered, friend_emails_enabled=True)
        FriendOptOut.objects.create(email="gone@example.com")
    sent = invite(
        client, advocate, "luca@example.com, GONE@example.com; maria@example.com luca@example.com"
    )

    assert sent.status_code == 302
    assert sent["Location"].endswith("?invited=1#invite")
    [email] = mail.outbox
    assert email.to == ["luca@example.com"]
    assert "Maria Rossi" in email.body
    assert f"/r/{advocate.code}" in email.body
    assert "/opt-out/" in email.body
    assert "Privacy" not in email.subject
    # one invitation per friend, ever
    invite(client, advocate, "luca@example.com")
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_opt_out_needs_a_click_and_then_stops_every_friend_email(
    client: Client, world: World, tiered: Program
) -> None:
    token = links.opt_out_token(world.acme.pk, "Luca@example.com")
    shown = client.get(f"/opt-out/{token}?lang=pl")
    assert shown.status_code == 200
    assert shown["Content-Language"] == "pl"
    with tenancy.merchant_context(world.acme):
        assert FriendOptOut.objects.count() == 0  # a mail scanner's GET changes nothing
    done = client.post(f"/opt-out/{token}")
    again = client.post(f"/opt-out/{token}")
    assert done.status_code == again.status_code == 200
    assert "data-opted-out" in done.content.decode()
    with tenancy.merchant_context(world.acme):
        assert list(FriendOptOut.objects.values_list("email", flat=True)) == ["luca@example.com"]
    assert client.get("/opt-out/forged").status_code == 404


# --- Consent ------------------------------------------------------------------------------------


def test_accepting_records_consent_and_gives_the_click_a_visitor_id(
    client: Client, world: World, tiered: Program
) -> None:
    advocate = enrol(tiered)
    page = client.get(f"/r/{advocate.code}")
    with tenancy.merchant_context(world.acme):
        click = Click.objects.get()
    assert page.cookies == {}

    response = client.post(
        "/consent",
        {
            "program": tiered.public_id,
            "choice": "granted",
            "next": f"/r/{advocate.code}?k=x",
            "click": links.click_token(click.public_id),
            "lang": "ro",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"/r/{advocate.code}?k=x"
    visitor = response.cookies["rs_vid"].value
    assert visitor.startswith("v_")
    assert response.cookies["rs_consent"].value == f"granted.{CONSENT_TEXT_VERSION}"
    with tenancy.merchant_context(world.acme):
        record = ConsentRecord.objects.get()
        click.refresh_from_db()
    assert (record.choice, record.text_version, record.visitor_id) == (
        "granted",
        CONSENT_TEXT_VERSION,
        visitor,
    )
    assert record.locale == "ro"
    assert record.click_id == click.pk
    assert click.visitor_id == visitor
    # the next visit carries the visitor id, and the banner is gone
    client.cookies.load({"rs_vid": visitor, "rs_consent": f"granted.{CONSENT_TEXT_VERSION}"})
    again = client.get(f"/r/{advocate.code}")
    assert "data-consent-banner" not in again.content.decode()
    assert "data-consent-withdraw" in again.content.decode()
    with tenancy.merchant_context(world.acme):
        assert Click.objects.order_by("-created_at")[0].visitor_id == visitor


def test_withdrawing_is_one_click_and_deletes_the_visitor_cookie(
    client: Client, world: World, tiered: Program
) -> None:
    client.cookies.load(
        {"rs_vid": "v_abcdefghijklmnopqrstuvwx", "rs_consent": f"granted.{CONSENT_TEXT_VERSION}"}
    )
    response = client.post(
        "/consent", {"program": tiered.public_id, "choice": "withdrawn", "next": "/p/acme/tiers/"}
    )
    assert response.status_code == 302
    assert response.cookies["rs_vid"].value == ""
    assert response.cookies["rs_vid"]["max-age"] == 0
    assert response.cookies["rs_consent"].value.startswith("denied.")
    with tenancy.merchant_context(world.acme):
        record = ConsentRecord.objects.get()
    assert (record.choice, record.visitor_id) == ("withdrawn", "v_abcdefghijklmnopqrstuvwx")


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ({"program": "prg_nope", "choice": "granted"}, {}),
        ({"program": "", "choice": "granted"}, {}),
        ({"choice": "maybe"}, {}),
        ({"choice": "granted"}, {"HTTP_ORIGIN": "https://evil.example.org"}),
    ],
)
def test_bad_consent_posts_change_nothing(
    client: Client, world: World, tiered: Program, data: dict[str, str], headers: dict[str, str]
) -> None:
    data = {"program": tiered.public_id, "next": "/", **data}
    response = client.post("/consent", data, **headers)
    assert response.status_code == 400
    assert response.cookies == {}
    with tenancy.merchant_context(world.acme):
        assert ConsentRecord.objects.count() == 0


def test_consent_never_redirects_off_site(client: Client, world: World, tiered: Program) -> None:
    for target in ("https://evil.example.org/", "//evil.example.org", "/\\evil.example.org"):
        response = client.post(
            "/consent", {"program": tiered.public_id, "choice": "denied", "next": target}
        )
        assert response["Location"] == "/"


def test_friend_email_capture_records_the_referral_and_goes_to_the_shop(
    client: Client, world: World, tiered: Program
) -> None:
    from programs.specs import parse_config

    # A friend reward the merchant delivers (no code before purchase, which
    # tests/test_friend_offer_api.py covers): the capture sends the friend to the shop.
    manual = parse_config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "fixed_discount", "amount": 1000, "fulfilment": "manual"},
        },
        program_type="two_sided",
        currency="EUR",
        stripe_connected=False,
    ).to_dict()
    program = make_program(world.acme, slug="capture", config=manual)
    with tenancy.merchant_context(world.acme):
        HostedSettings.objects.create(program=program, friend_email_capture=True)
    advocate = enrol(program)
    page = client.get(f"/r/{advocate.code}").content.decode()
    assert 'action="/r/' in page
    assert 'name="email"' in page
    with tenancy.merchant_context(world.acme):
        click = Click.objects.get()
    data = {
        "email": "luca@example.com",
        "token": links.form_token(program),
        "click": links.click_token(click.public_id),
    }
    response = client.post(f"/r/{advocate.code}/claim", data)
    assert response.status_code == 302
    assert response["Location"].startswith("https://shop.example.com/?ref=")
    with tenancy.merchant_context(world.acme):
        referral = Referral.objects.get()
    assert (referral.email, referral.advocate_id, referral.click_id) == (
        "luca@example.com",
        advocate.pk,
        click.pk,
    )
    own = client.post(f"/r/{advocate.code}/claim", {**data, "email": "maria@example.com"})
    assert own.status_code == 400
    assert "own referral link" in own.content.decode()


# --- The merchant's switches --------------------------------------------------------------------


def test_admins_turn_friend_emails_on_and_set_vanity_codes(
    alice_client: Client, world: World, tiered: Program
) -> None:
    advocate = enrol(tiered)
    url = f"/m/acme/programs/{tiered.public_id}/hosted/"
    assert alice_client.get(url).status_code == 200

    saved = alice_client.post(url, {"action": "settings", "friend_emails_enabled": "on"})
    vanity = alice_client.post(
        url, {"action": "vanity", "current_code": advocate.code.lower(), "new_code": "maria10"}
    )
    taken = alice_client.post(
        url, {"action": "vanity", "current_code": "MARIA10", "new_code": "MARIA10X!"}
    )

    assert saved.status_code == vanity.status_code == 302
    assert taken.status_code == 400
    with tenancy.merchant_context(world.acme):
        settings = HostedSettings.objects.get(program=tiered)
        advocate.refresh_from_db()
    assert (settings.friend_emails_enabled, settings.friend_email_capture) == (True, False)
    assert advocate.code == "MARIA10"


def test_viewers_cannot_change_hosted_settings(
    client: Client, world: World, tiered: Program
) -> None:
    from tests.conftest import login

    login(client, world.bob)
    url = f"/m/acme/programs/{tiered.public_id}/hosted/"
    response = client.post(url, {"action": "settings", "friend_emails_enabled": "on"})
    assert response.status_code == 403
    with tenancy.merchant_context(world.acme):
        assert HostedSettings.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_friend_named_by_two_advocates_gets_one_invitation(
    client: Client, world: World, tiered: Program
) -> None:
    with tenancy.merchant_context(world.acme):
        HostedSettings.objects.create(program=tiered, friend_emails_enabled=True)
    first = enrol(tiered)
    second = enrol(tiered, email="paolo@example.com")
    invite(client, first, "luca@example.com")
    invite(client, second, "luca@example.com")
    assert [email.to for email in mail.outbox] == [["luca@example.com"]]
