"""`/r/<code>`: the referral link (the hot path), the friend page, QR codes, vanity codes."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hosted.models import CodeAlias
from hosted.services import advocate_set_vanity_code
from programs.models import Program
from programs.specs import SpecError
from referral_saas import tenancy
from tests.conftest import World
from tests.factories import make_program
from tracking.models import Advocate, Click
from tracking.services import advocate_enroll

PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


def enrol(program: Program, email: str = "maria@example.com", name: str = "Maria") -> Advocate:
    with tenancy.merchant_context(program.merchant):
        return advocate_enroll(program=program, email=email, name=name).advocate


def clicks(merchant: object) -> list[Click]:
    with tenancy.merchant_context(merchant):  # type: ignore[arg-type]
        return list(Click.objects.order_by("created_at"))


@pytest.fixture
def one_sided(world: World) -> Program:
    return make_program(world.acme, type="one_sided", slug="one")


@pytest.fixture
def two_sided(world: World) -> Program:
    return make_program(world.acme, slug="give-10")


def test_one_sided_link_records_the_click_and_redirects_with_ref(
    client: Client, world: World, one_sided: Program
) -> None:
    advocate = enrol(one_sided)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(
            f"/r/{advocate.code}",
            HTTP_USER_AGENT=PHONE_UA,
            HTTP_REFERER="https://wa.me/",
            REMOTE_ADDR="203.0.113.77",
        )

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example.com", "/")
    [click] = clicks(world.acme)
    assert parse_qs(target.query) == {"ref": [advocate.code], "ref_click": [click.public_id]}
    assert click.advocate_id == advocate.pk
    assert click.program_id == one_sided.pk
    assert click.ip_prefix == "203.0.113.0/24"
    assert len(click.ip_hash) == 64
    assert "203.0.113.77" not in click.ip_hash
    assert click.user_agent == PHONE_UA
    assert click.referer == "https://wa.me/"
    assert click.visitor_id == ""  # no consent, no identifier
    assert response.cookies == {}  # nothing stored in the browser before consent
    # The hot path: one SELECT (advocate + program + merchant), one INSERT.
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["SELECT", "INSERT"], queries.captured_queries


def test_code_is_case_insensitive(client: Client, world: World, one_sided: Program) -> None:
    advocate = enrol(one_sided)
    response = client.get(f"/r/{advocate.code.lower()}")
    assert response.status_code == 302
    assert len(clicks(world.acme)) == 1


@pytest.mark.parametrize(
    "attempt",
    [
        "https://evil.example.org/",
        "//evil.example.org/",
        "https://shop.example.com.evil.example.org/",
        "https://shop.example.com@evil.example.org/",
        "javascript:alert(1)",
        "https:/\\evil.example.org",
        "http://shop.example.com:99999/",
        "/relative/path",
    ],
)
def test_open_redirect_attempts_land_on_the_program_destination(
    client: Client, world: World, one_sided: Program, attempt: str
) -> None:
    advocate = enrol(one_sided)
    response = client.get(f"/r/{advocate.code}", {"to": attempt, "next": attempt, "url": attempt})
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example.com", "/")


def test_deep_link_into_an_allowed_domain_is_kept(
    client: Client, world: World, one_sided: Program
) -> None:
    advocate = enrol(one_sided)
    response = client.get(
        f"/r/{advocate.code}", {"to": "https://www.shop.example.com/p/grinder?colour=red&ref=X"}
    )
    target = urlsplit(response["Location"])
    assert (target.netloc, target.path) == ("www.shop.example.com", "/p/grinder")
    query = parse_qs(target.query)
    assert query["colour"] == ["red"]
    assert query["ref"] == [advocate.code]


def test_link_preview_bots_are_not_counted(
    client: Client, world: World, one_sided: Program
) -> None:
    advocate = enrol(one_sided)
    response = client.get(f"/r/{advocate.code}", HTTP_USER_AGENT="WhatsApp/2.23.20.0")
    assert response.status_code == 302
    assert "ref_click" not in response["Location"]
    assert clicks(world.acme) == []


def test_two_sided_link_shows_the_friend_offer_without_cookies(
    client: Client, world: World, two_sided: Program
) -> None:
    advocate = enrol(two_sided)
    response = client.get(f"/r/{advocate.code}", HTTP_ACCEPT_LANGUAGE="it-IT,it;q=0.9")
    assert response.status_code == 200
    html = response.content.decode().replace("\xa0", " ")
    assert response["Content-Language"] == "it"
    assert "Maria" in html
    assert "10 €" in html
    assert advocate.code in html
    assert "data-consent-banner" in html
    assert response.cookies == {}
    assert "Set-Cookie" not in response
    [click] = clicks(world.acme)
    # The friend's own code is asked for first (tests/test_friend_offer_hosted.py); the form
    # carries the click, signed.
    import re

    from tracking.links import read_click_token

    assert "data-get-code" in html
    token = re.search(r'name="click" value="([^"]+)"', html)
    assert token is not None
    assert read_click_token(token.group(1)) == click.public_id


def test_returning_from_the_consent_form_does_not_count_a_second_click(
    client: Client, world: World, two_sided: Program
) -> None:
    from tracking.links import click_token

    advocate = enrol(two_sided)
    client.get(f"/r/{advocate.code}")
    [click] = clicks(world.acme)
    response = client.get(f"/r/{advocate.code}", {"k": click_token(click.public_id)})
    assert response.status_code == 200
    assert len(clicks(world.acme)) == 1
    forged = client.get(f"/r/{advocate.code}", {"k": click.public_id})  # unsigned: a new visit
    assert forged.status_code == 200
    assert len(clicks(world.acme)) == 2


@pytest.mark.parametrize("code", ["NOPE-123456", "x", "a" * 60, "%00", "MARIA-<script>"])
def test_unknown_code_is_a_helpful_404(client: Client, world: World, code: str) -> None:
    response = client.get(f"/r/{code}")
    assert response.status_code == 404
    assert "does not work" in response.content.decode()


def test_draft_program_link_is_404(client: Client, world: World) -> None:
    program = make_program(world.acme, type="one_sided", slug="d")
    advocate = enrol(program)
    with tenancy.merchant_context(world.acme):
        Program.objects.filter(pk=program.pk).update(status="draft")
    assert client.get(f"/r/{advocate.code}").status_code == 404
    assert clicks(world.acme) == []


@pytest.mark.parametrize("change", ["paused", "archived", "ended", "not_started"])
def test_paused_ended_or_archived_program_is_410_with_a_way_to_the_shop(
    client: Client, world: World, one_sided: Program, change: str
) -> None:
    advocate = enrol(one_sided)
    now = timezone.now()
    updates = {
        "paused": {"status": "paused"},
        "archived": {"status": "archived"},
        "ended": {"ends_at": now - timedelta(days=1)},
        "not_started": {"starts_at": now + timedelta(days=1)},
    }[change]
    with tenancy.merchant_context(world.acme):
        Program.objects.filter(pk=one_sided.pk).update(**updates)
    response = client.get(f"/r/{advocate.code}")
    assert response.status_code == 410
    html = response.content.decode()
    assert "has ended" in html
    assert 'href="https://shop.example.com/"' in html
    assert clicks(world.acme) == []


def test_two_merchants_cannot_hold_the_same_code(client: Client, world: World) -> None:
    # Issue 20 finding 2: a shared code made `/r/<code>` a 404 for both; the database refuses it.
    ours = enrol(make_program(world.acme, type="one_sided", slug="one"))
    theirs_program = make_program(
        world.globex,
        type="one_sided",
        slug="one",
        destination_url="https://globex.example.com/",
        allowed_domains=["globex.example.com"],
    )
    theirs = enrol(theirs_program)
    with (
        tenancy.merchant_context(world.globex),
        pytest.raises(IntegrityError),
        transaction.atomic(),
    ):
        Advocate.objects.filter(pk=theirs.pk).update(code=ours.code)

    response = client.get(f"/r/{ours.code}")
    assert response.status_code == 302
    assert response["Location"].startswith("https://shop.example.com/")
    assert len(clicks(world.acme)) == 1
    assert clicks(world.globex) == []


def test_vanity_code_keeps_old_links_working(
    client: Client, world: World, one_sided: Program
) -> None:
    advocate = enrol(one_sided)
    old = advocate.code
    with tenancy.merchant_context(world.acme):
        advocate_set_vanity_code(advocate=advocate, code="maria10")
        advocate.refresh_from_db()
    assert advocate.code == "MARIA10"
    for code in ("MARIA10", old):
        response = client.get(f"/r/{code}")
        assert response.status_code == 302
        assert "ref=MARIA10" in response["Location"]
    assert len(clicks(world.acme)) == 2


def test_vanity_code_must_be_free_across_merchants(world: World) -> None:
    ours = enrol(make_program(world.acme, type="one_sided", slug="one"))
    theirs = enrol(make_program(world.globex, type="one_sided", slug="one"), email="x@example.com")
    before = theirs.code
    with tenancy.merchant_context(world.globex):
        with pytest.raises(SpecError) as error:
            advocate_set_vanity_code(advocate=theirs, code=ours.code)
        assert error.value.errors == {"code": "This code is already taken."}
        with pytest.raises(SpecError):
            advocate_set_vanity_code(advocate=theirs, code="no spaces")
        assert CodeAlias.objects.count() == 0
        theirs.refresh_from_db()
    assert theirs.code == before


def test_qr_codes_encode_the_referral_link(
    client: Client, world: World, one_sided: Program, settings: object
) -> None:
    advocate = enrol(one_sided)
    svg = client.get(f"/r/{advocate.code}/qr.svg")
    png = client.get(f"/r/{advocate.code}/qr.png", {"download": "1"})
    assert svg.status_code == 200
    assert svg["Content-Type"] == "image/svg+xml"
    assert svg.content.startswith(b"<svg")
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")
    assert "attachment" in png["Content-Disposition"]
    assert client.get("/r/NOPE-ABCDEF/qr.svg").status_code == 404
    assert clicks(world.acme) == []  # a QR code is not a visit
