"""Issue 12's walk of a new merchant, on the pages advocates and friends see (en/it/ro/pl):
the tier ladder and steps that fit the program (finding 4), an expired or damaged portal link
(9), the friend page that speaks to the friend, with its title and share preview (10), and the
small ones (13): language names, the Polish share label, welcome-email punctuation, and the
welcome email for advocates enrolled through the API."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core import mail, signing
from django.test import Client
from django.utils import timezone
from PIL import Image

from accounts.services import IssuedKey
from hosted.models import HostedSettings
from hosted.tasks import email_advocate_welcome_task
from programs.models import Program, ProgramCopy
from programs.specs import parse_config
from referral_saas import tenancy
from tests.conftest import World, login
from tests.factories import make_program
from tests.test_hosted_i18n import untranslated, visible_text
from tracking import links
from tracking.models import Advocate, Click
from tracking.services import advocate_enroll

Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]
HOST = "http://127.0.0.1:8000"
LADDER = {
    "tiers": [
        {"threshold": 1, "reward": {"kind": "account_credit", "amount": 1000}},
        {"threshold": 5, "reward": {"kind": "account_credit", "amount": 7500}},
        {"threshold": 10, "reward": {"kind": "free_product", "label": "year of premium"}},
    ]
}


def program_with(world: World, program_type: str, config: dict[str, Any], **fields: Any) -> Program:
    parsed = parse_config(config, program_type=program_type, currency="EUR", stripe_connected=False)
    return make_program(world.acme, type=program_type, config=parsed.to_dict(), **fields)


def enrol(program: Program, email: str = "maria@example.com", **fields: Any) -> Advocate:
    with tenancy.merchant_context(program.merchant):
        return advocate_enroll(program=program, email=email, name="Maria", **fields).advocate


def page(response: Any) -> str:
    return str(response.content.decode()).replace("\xa0", " ").replace("&nbsp;", " ")


def rungs(html: str) -> list[str]:
    ladder = re.search(r"<ol[^>]*data-ladder>(.*?)</ol>", html, re.S)
    assert ladder, "no ladder on the page"
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
        for item in re.findall(r"<li[^>]*>(.*?)</li>", ladder.group(1), re.S)
    ]


def portal_path(advocate: Advocate) -> str:
    return links.portal_url(advocate).replace(HOST, "")


# --- Finding 4: the ladder and the steps ---------------------------------------------------------


@pytest.fixture
def tiered(world: World) -> Program:
    return program_with(world, "tiered", LADDER, slug="tiers")


def test_tiered_landing_page_shows_the_ladder_with_money_in_the_visitors_locale(
    client: Client, tiered: Program
) -> None:
    english = rungs(page(client.get("/p/acme/tiers/?lang=en")))
    assert english == [
        "1 qualified friend → €10 account credit",
        "5 qualified friends → €75 account credit",
        "10 qualified friends → a free year of premium",
    ]
    italian = rungs(page(client.get("/p/acme/tiers/?lang=it")))
    assert italian[0] == "1 amico con ordine valido → 10 € di credito sul conto"
    assert italian[1].startswith("5 amici con ordine valido → 75 €")
    polish = rungs(page(client.get("/p/acme/tiers/?lang=pl")))
    assert polish[1].startswith("5 znajomych z zaliczonym zamówieniem → 75 €")


def test_a_repeating_top_tier_says_so_on_the_ladder(client: Client, world: World) -> None:
    tier = {"threshold": 3, "reward": {"kind": "cash", "amount": 500}, "repeat": True}
    config = {"tiers": [tier]}
    program_with(world, "tiered", config, slug="again")
    [rung] = rungs(page(client.get("/p/acme/again/?lang=en")))
    assert rung == "3 qualified friends → €5 cash (then again for every 3 more)"


def test_programs_without_tiers_show_no_ladder(client: Client, world: World) -> None:
    make_program(world.acme, slug="two")
    assert "data-ladder" not in page(client.get("/p/acme/two/?lang=en"))


def step_three(html: str) -> str:
    match = re.search(r"data-step-reward>(.*?)</span>", html)
    assert match
    return match.group(1)


def test_how_it_works_fits_the_program_type(client: Client, world: World) -> None:
    make_program(world.acme, slug="one", type="one_sided")
    make_program(world.acme, slug="two", type="two_sided")
    program_with(
        world,
        "tiered",
        {**LADDER, "friend_reward": {"kind": "percent_discount", "percent": 15}},
        slug="tiers-and-gift",
    )
    program_with(world, "tiered", LADDER, slug="tiers")

    steps = {
        slug: step_three(page(client.get(f"/p/acme/{slug}/?lang=en")))
        for slug in ("one", "two", "tiers-and-gift", "tiers")
    }

    assert steps == {
        "one": "When a friend orders, you get your reward.",
        "two": "Your friends get their gift, and you get your reward when they order.",
        "tiers-and-gift": "Your friends get their gift, and every friend who orders brings you "
        "closer to the next reward level.",
        "tiers": "Every friend who orders brings you closer to the next reward level.",
    }
    assert not any("both" in text for text in steps.values())


def test_portal_shows_the_ladder_with_the_advocates_progress(
    client: Client, tiered: Program
) -> None:
    advocate = enrol(tiered)
    with tenancy.merchant_context(tiered.merchant):
        Advocate.objects.filter(pk=advocate.pk).update(qualified_conversions=6)

    html = page(client.get(portal_path(advocate) + "?lang=en"))

    assert re.search(r"data-tier-count>\s*6 qualified friends so far\s*<", html)
    assert "4 more friends to a free year of premium" in html
    reached = re.findall(r'data-rung="(\d+)"[^>]*data-reached', html)
    upcoming = re.findall(r'data-rung="(\d+)"[^>]*data-next', html)
    assert (reached, upcoming) == (["1", "5"], ["10"])
    assert rungs(html)[2].startswith("10 qualified friends → a free year of premium")
    assert "Your next reward" in rungs(html)[2]


# --- Finding 9: a portal link that no longer works ------------------------------------------------


@pytest.fixture
def polish_advocate(tiered: Program) -> Advocate:
    return enrol(tiered, locale="pl")


def expire(monkeypatch: Any) -> None:
    later = timezone.now().timestamp() + (links.PORTAL_LINK_DAYS + 1) * 86400
    monkeypatch.setattr(signing.time, "time", lambda: later)


def new_link_form(html: str) -> tuple[str, str]:
    action = re.search(r'<form method="post" action="([^"]+)"[^>]*data-new-link-form', html)
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert action, "no 'send me a new link' form"
    assert token
    return action.group(1), token.group(1)


def test_an_expired_portal_link_answers_in_the_advocates_language_with_a_new_link_form(
    client: Client, polish_advocate: Advocate, monkeypatch: Any
) -> None:
    path = portal_path(polish_advocate)
    expire(monkeypatch)

    response = client.get(path, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")

    html = page(response)
    assert response.status_code == 404
    assert response["Content-Language"] == "pl"
    assert 'data-link-problem="expired"' in html
    assert "Ten link do Twojej strony nagród wygasł" in html
    assert "Not Found" not in html
    assert "Page not found" not in html
    new_link_form(html)
    assert "maria@example.com" not in html  # the link proves nothing: nothing personal shown
    assert untranslated(visible_text(html), "pl") == []


def test_a_damaged_portal_link_still_answers_in_the_advocates_language(
    client: Client, polish_advocate: Advocate
) -> None:
    cut = portal_path(polish_advocate).rstrip("/")[:-12] + "/"  # the signature cut short

    response = client.get(cut)

    html = page(response)
    assert response.status_code == 404
    assert response["Content-Language"] == "pl"
    assert 'data-link-problem="invalid"' in html
    new_link_form(html)


def test_an_unreadable_portal_link_answers_in_the_browsers_language(
    client: Client, world: World
) -> None:
    response = client.get("/portal/not-a-token/", HTTP_ACCEPT_LANGUAGE="ro-RO,ro;q=0.9")

    html = page(response)
    assert response.status_code == 404
    assert response["Content-Language"] == "ro"
    assert "Acest link către pagina ta de recompense nu funcționează" in html
    assert "data-new-link-form" not in html  # no program to send a link for
    assert untranslated(visible_text(html), "ro") == []


def test_send_me_a_new_link_emails_the_advocate_and_answers_strangers_the_same(
    client: Client,
    polish_advocate: Advocate,
    monkeypatch: Any,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    path = portal_path(polish_advocate)
    expire(monkeypatch)
    action, token = new_link_form(page(client.get(path)))
    monkeypatch.undo()  # the new link is minted now, and must work now

    with django_capture_on_commit_callbacks(execute=True):
        known = client.post(action, {"token": token, "email": "Maria@Example.com"})
        stranger = client.post(action, {"token": token, "email": "nobody@example.com"})

    assert known.status_code == stranger.status_code == 200
    notice = "właśnie wysłaliśmy na niego nowy link"
    assert notice in page(known)
    assert notice in page(stranger)
    [email] = mail.outbox
    assert email.to == ["maria@example.com"]
    fresh = re.search(r"http://127\.0\.0\.1:8000(/portal/[^/\s]+/)", email.body)
    assert fresh
    assert client.get(fresh.group(1)).status_code == 200


def test_send_me_a_new_link_refuses_a_forged_form_and_sends_nothing(
    client: Client,
    polish_advocate: Advocate,
    monkeypatch: Any,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    path = portal_path(polish_advocate)
    expire(monkeypatch)
    action, _token = new_link_form(page(client.get(path)))

    with django_capture_on_commit_callbacks(execute=True):
        forged = client.post(action, {"token": "forged", "email": "maria@example.com"})
        invalid = client.post(action, {"token": _token, "email": "not-an-address"})
        cross_site = client.post(
            action,
            {"token": _token, "email": "maria@example.com"},
            HTTP_ORIGIN="https://evil.example.org",
        )

    assert (forged.status_code, invalid.status_code, cross_site.status_code) == (400, 400, 400)
    assert "Podaj prawidłowy adres e-mail." in page(invalid)
    assert mail.outbox == []


def test_inviting_with_an_expired_link_is_the_same_helpful_page(
    client: Client, polish_advocate: Advocate, monkeypatch: Any
) -> None:
    path = portal_path(polish_advocate)
    expire(monkeypatch)
    response = client.post(f"{path}invite", {"emails": "a@example.com"})
    assert response.status_code == 404
    assert 'data-link-problem="expired"' in page(response)


# --- Finding 10: the friend page ------------------------------------------------------------------


@pytest.fixture
def gift(world: World) -> Program:
    program = program_with(
        world,
        "two_sided",
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "percent_discount", "percent": 15, "expires_after_days": 30},
            "rules": {"min_order_amount": 3000},
        },
        slug="gift",
    )
    with tenancy.merchant_context(world.acme):
        ProgramCopy.objects.create(
            program=program,
            locale="it",
            headline="Regala 15%, ricevi tu 10 € di credito",
            description="Porta i tuoi amici e guadagna credito.",
            terms="Gli ambasciatori ricevono 10 € di credito per ogni amico.",
        )
    return program


def meta(html: str, key: str) -> str:
    match = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', html)
    assert match, f"no {key}"
    return match.group(1)


def test_the_friend_page_offers_the_friends_reward_in_the_friends_words(
    client: Client, gift: Program
) -> None:
    advocate = enrol(gift)

    html = page(client.get(f"/r/{advocate.code}", HTTP_ACCEPT_LANGUAGE="it"))

    offer = re.search(r"data-friend-offer>(.*?)</h1>", html)
    assert offer
    assert offer.group(1) == "Ricevi il 15% di sconto sul tuo primo ordine"
    conditions = re.findall(r"<li>(.*?)</li>", html.split("data-conditions>")[1].split("</ul>")[0])
    assert conditions == [
        "Per ordini di almeno 30 €.",
        "Per i nuovi clienti di Acme.",
        "Il tuo regalo è valido per 30 giorni.",
    ]
    # Nothing the merchant wrote for advocates: not their reward, headline, pitch or terms.
    assert "di credito" not in html
    assert "ricevi tu" not in html
    assert "Porta i tuoi amici" not in html
    assert "Gli ambasciatori" not in html
    assert f"{HOST}/p/acme/gift/?lang=it#terms" in html  # the full terms are one link away
    title = re.search(r"<title>(.*?)</title>", html)
    assert title
    assert title.group(1) == "Ricevi il 15% di sconto sul tuo primo ordine · Acme"


def test_the_friend_page_has_a_share_preview(client: Client, gift: Program) -> None:
    advocate = enrol(gift)

    html = page(client.get(f"/r/{advocate.code}?lang=en"))

    assert meta(html, "og:title") == "Maria invites you to Acme"
    assert meta(html, "og:description") == "Get 15% off your first order."
    assert meta(html, "og:url") == f"{HOST}/r/{advocate.code}"
    assert meta(html, "og:type") == "website"
    assert meta(html, "twitter:card") == "summary_large_image"
    image = meta(html, "og:image").replace("&amp;", "&")
    assert image.startswith(f"{HOST}/p/acme/gift/share-en.png?v=")
    assert meta(html, "twitter:image").replace("&amp;", "&") == image

    response = client.get(image.replace(HOST, ""))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "public, max-age=86400"
    picture = Image.open(io.BytesIO(response.content))
    assert (picture.format, picture.size) == ("PNG", (1200, 630))
    # Drawn from the brand colour: the corner is the default brand purple.
    assert picture.convert("RGB").getpixel((5, 5)) == (0x3B, 0x2F, 0xC9)


def test_the_share_picture_is_per_language_and_refuses_others(
    client: Client, gift: Program
) -> None:
    italian = client.get("/p/acme/gift/share-it.png")
    english = client.get("/p/acme/gift/share-en.png")
    assert italian.status_code == english.status_code == 200
    assert italian.content != english.content
    assert client.get("/p/acme/gift/share-de.png").status_code == 404
    assert client.get("/p/acme/nope/share-en.png").status_code == 404
    with tenancy.merchant_context(gift.merchant):
        Program.objects.filter(pk=gift.pk).update(status="draft")
    assert client.get("/p/acme/gift/share-en.png").status_code == 404


def test_the_share_picture_carries_the_programs_logo(client: Client, gift: Program) -> None:
    from django.core.files.base import ContentFile

    logo = io.BytesIO()
    Image.new("RGB", (200, 60), (250, 0, 0)).save(logo, format="PNG")
    with tenancy.merchant_context(gift.merchant):
        gift.logo.save("logo.png", ContentFile(logo.getvalue()))
    response = client.get("/p/acme/gift/share-en.png")
    picture = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert picture.getpixel((120, 110)) == (250, 0, 0)  # the logo, at the top left


def test_link_preview_bots_get_the_preview_and_count_as_no_visit(
    client: Client, gift: Program
) -> None:
    advocate = enrol(gift)
    for agent in (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "WhatsApp/2.23.20.0 A",
        "Twitterbot/1.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like "
        "Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    ):
        response = client.get(f"/r/{advocate.code}", HTTP_USER_AGENT=agent)
        assert response.status_code == 200
        assert meta(page(response), "og:image")
    with tenancy.merchant_context(gift.merchant):
        assert Click.objects.filter(advocate=advocate).count() == 0


def test_a_friend_of_a_tiered_program_without_a_gift_sees_no_advocate_offer(
    client: Client, tiered: Program
) -> None:
    advocate = enrol(tiered)

    html = page(client.get(f"/r/{advocate.code}?lang=en"))

    assert "Refer 10 friends" not in html  # the advocate's headline
    offer = re.search(r"data-friend-offer>(.*?)</h1>", html)
    assert offer
    assert offer.group(1) == "Discover Acme"
    assert "Maria recommends this shop" in html
    assert "gift" not in visible_text(html).lower()
    assert meta(html, "og:description") == "Discover Acme, recommended by a friend."


def test_a_variant_advocates_friend_sees_the_variants_gift(client: Client, world: World) -> None:
    program = program_with(
        world,
        "two_sided",
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "fixed_discount", "amount": 1000},
            "variants": [
                {"key": "a", "name": "Control", "weight": 50},
                {
                    "key": "b",
                    "name": "Bigger gift",
                    "weight": 50,
                    "friend_reward": {"kind": "fixed_discount", "amount": 2000},
                },
            ],
        },
        slug="ab",
    )
    advocate = enrol(program)
    with tenancy.merchant_context(world.acme):
        Advocate.objects.filter(pk=advocate.pk).update(variant_key="b")

    html = page(client.get(f"/r/{advocate.code}?lang=en"))

    offer = re.search(r"data-friend-offer>(.*?)</h1>", html)
    assert offer
    assert offer.group(1) == "Get €20 off your first order"
    assert "variant=b" in meta(html, "og:image")


@pytest.mark.parametrize("locale", ["it", "ro", "pl"])
def test_the_new_friend_and_ladder_pages_are_fully_translated(
    client: Client, gift: Program, tiered: Program, locale: str
) -> None:
    friend_of_gift = enrol(gift, email="ada@example.com")
    friend_of_tiers = enrol(tiered, email="eva@example.com")
    with tenancy.merchant_context(tiered.merchant):
        HostedSettings.objects.create(program=tiered, friend_email_capture=True)
        Advocate.objects.filter(pk=friend_of_tiers.pk).update(qualified_conversions=5)
    paths = [
        f"/r/{friend_of_gift.code}?lang={locale}",
        f"/r/{friend_of_tiers.code}?lang={locale}",
        f"/p/acme/tiers/?lang={locale}",
        portal_path(friend_of_tiers) + f"?lang={locale}",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        text = visible_text(response.content.decode())
        assert untranslated(text, locale) == [], (path, text[:300])


# --- Finding 13: the small ones -------------------------------------------------------------------


def language_menu(html: str) -> list[str]:
    nav = re.search(r'<nav class="landing-langs"[^>]*>(.*?)</nav>', html, re.S)
    assert nav
    return re.findall(r">([^<]+)</a>", nav.group(1))


def test_language_names_are_the_same_on_every_hosted_page(client: Client, gift: Program) -> None:
    advocate = enrol(gift)
    expected = ["English", "Italiano", "Română", "Polski"]
    for path in ("/p/acme/gift/?lang=it", f"/r/{advocate.code}?lang=pl", portal_path(advocate)):
        assert language_menu(page(client.get(path))) == expected, path


def test_the_polish_email_share_button_says_e_mail(client: Client, gift: Program) -> None:
    advocate = enrol(gift)
    html = page(client.get(portal_path(advocate) + "?lang=pl"))
    assert re.search(r'data-share="email">E-mail</a>', html)
    assert "Adres e-mail</a>" not in html
    romanian = page(client.get(portal_path(advocate) + "?lang=ro"))
    assert re.search(r'data-share="email">E-mail</a>', romanian)


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        ("en", "Thank you for joining the Acme referral program. Give €15 off, get €10 credit."),
        ("it", "Grazie per esserti iscritto al programma di referral di Acme. Regala "),
    ],
)
def test_the_welcome_email_reads_as_sentences(world: World, locale: str, sentence: str) -> None:
    program = program_with(
        world,
        "two_sided",
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "fixed_discount", "amount": 1500},
        },
        slug="welcome",
    )
    advocate = enrol(program, locale=locale)

    email_advocate_welcome_task(merchant_id=world.acme.pk, advocate_id=advocate.pk)

    [email] = mail.outbox
    body = email.body
    assert sentence in body.replace("\xa0", " ")
    lines = body.splitlines()
    link_line = next(line for line in lines if advocate.code in line and "/r/" in line)
    assert re.match(r"^[^:]+: http://127\.0\.0\.1:8000/r/", link_line)  # "Your personal link: …"
    assert not re.search(r"\s[:.,]", body.replace(" .", "").split("--")[0].replace("...", ""))
    assert ".." not in body
    html = str(email.alternatives[0][0])
    assert re.search(r"<p><strong>[^<]+\.</strong></p>", html)  # the offer, as a sentence


def test_an_advocate_enrolled_through_the_api_gets_the_welcome_email(
    client: Client,
    world: World,
    acme_secret: IssuedKey,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    program = make_program(world.acme, slug="api")
    body = {"program": program.public_id, "email": "bea@example.com", "name": "Bea"}
    auth = {"HTTP_AUTHORIZATION": f"Bearer {acme_secret.plaintext}"}

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/v1/advocates", body, content_type="application/json", **auth)
        again = client.post("/api/v1/advocates", body, content_type="application/json", **auth)

    assert (first.status_code, again.status_code) == (201, 200)
    [email] = mail.outbox  # once: enrolling the same email again is the same advocate
    assert email.to == ["bea@example.com"]
    assert first.json()["code"] in email.body
    assert "/portal/" in email.body


def test_the_api_welcome_email_is_a_program_setting(
    client: Client,
    world: World,
    acme_secret: IssuedKey,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    program = make_program(world.acme, slug="api")
    with tenancy.merchant_context(world.acme):
        assert HostedSettings(program=program).welcome_email_for_api_enrolments is True
    owner = login(Client(), world.alice)
    settings_url = f"/m/acme/programs/{program.public_id}/hosted/"
    assert 'name="welcome_email_for_api_enrolments" checked' in page(owner.get(settings_url))
    saved = owner.post(settings_url, {"action": "settings"})  # every box unticked
    assert saved.status_code == 302
    body = {"program": program.public_id, "email": "bea@example.com"}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/advocates",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {acme_secret.plaintext}",
        )

    assert response.status_code == 201
    assert mail.outbox == []
    with tenancy.merchant_context(world.acme):
        stored = HostedSettings.objects.get(program=program)
    assert stored.welcome_email_for_api_enrolments is False
