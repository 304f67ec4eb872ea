"""Every hosted page and every advocate/friend email in it, ro and pl: no message of the English
catalogue left untranslated in what the visitor sees, and the compiled catalogues up to date."""

from __future__ import annotations

import html as html_lib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from hosted.emails import KINDS, render_email
from hosted.models import HostedSettings
from hosted.tasks import (
    email_advocate_welcome_task,
    email_friend_invitation_task,
    email_portal_link_task,
    email_reward_earned_task,
    email_tier_reached_task,
)
from programs.models import Program
from referral_saas import tenancy
from rewards.models import Reward
from tests.conftest import World
from tests.factories import make_program
from tests.test_hosted_portal import add_history
from tracking import links
from tracking.models import Advocate
from tracking.services import advocate_enroll

LOCALE_DIR = Path(__file__).resolve().parent.parent / "hosted" / "locale"
LOCALES = ("it", "ro", "pl")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s")


def catalogue(locale: str) -> list[tuple[str, list[str]]]:
    """(msgid, [msgstr...]) of the locale's .po, msgids joined across lines."""
    text = (LOCALE_DIR / locale / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    entries = []
    for block in text.split("\n\n")[1:]:
        fields: dict[str, list[str]] = {}
        key = ""
        for line in block.splitlines():
            match = re.match(r'^(msgid_plural|msgid|msgstr(?:\[\d\])?) "(.*)"$', line)
            if match:
                key = match.group(1)
                fields[key] = [match.group(2)]
            elif line.startswith('"') and key:
                fields[key].append(line[1:-1])
        joined = {k: "".join(v).replace('\\"', '"') for k, v in fields.items()}
        strs = [v for k, v in joined.items() if k.startswith("msgstr")]
        if "msgid" in joined:
            entries.append((joined["msgid"], strs))
            if "msgid_plural" in joined:
                entries.append((joined["msgid_plural"], strs))
    return entries


def english_patterns(locale: str) -> list[tuple[str, re.Pattern[str]]]:
    """A pattern per English message whose `locale` translation is other words ("SMS" is
    "SMS" everywhere, "Email" in Italian), its placeholders matching anything."""
    patterns = []
    for msgid, strs in catalogue("it" if locale == "en" else locale):
        if locale != "en" and any(msgid in translated for translated in strs):
            continue
        pieces = [re.escape(p.strip()) for p in PLACEHOLDER.split(msgid)]
        if sum(len(p) for p in pieces) < 5:
            continue
        body = r"\s*.*?\s*".join(p for p in pieces if p)
        patterns.append((msgid, re.compile(rf"(?<!\w){body}(?!\w)")))
    return patterns


def visible_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    attributes = " ".join(
        re.findall(r'(?:alt|placeholder|aria-label|content|title)="([^"]*)"', markup)
    )
    text = re.sub(r"<[^>]+>", " ", markup) + " " + attributes
    return re.sub(r"\s+", " ", html_lib.unescape(text)).replace("\xa0", " ")


def untranslated(text: str, locale: str) -> list[str]:
    return [msgid for msgid, pattern in english_patterns(locale) if pattern.search(text)]


def test_every_message_is_translated_and_compiled() -> None:
    for locale in LOCALES:
        po = LOCALE_DIR / locale / "LC_MESSAGES" / "django.po"
        mo = po.with_suffix(".mo")
        empty = [msgid for msgid, strs in catalogue(locale) if msgid and not all(strs)]
        assert empty == [], f"{locale}: untranslated {empty}"
        assert "#, fuzzy" not in po.read_text(encoding="utf-8").split("\n\n", 1)[1]
        compiled = subprocess.run(
            ["msgfmt", "--check", "-o", "-", str(po)], capture_output=True, check=True
        ).stdout
        assert mo.read_bytes() == compiled, f"{mo} is not the compiled {po.name}: run msgfmt"


# --- Pages --------------------------------------------------------------------------------------


@pytest.fixture
def program(world: World) -> Program:
    world.acme.privacy_policy_url = "https://acme.example.com/privacy"
    world.acme.save()
    program = make_program(world.acme, type="tiered", slug="tiers", config=None)
    with tenancy.merchant_context(world.acme):
        HostedSettings.objects.create(program=program, friend_emails_enabled=True)
    return program


@pytest.fixture
def advocate(program: Program) -> Advocate:
    with tenancy.merchant_context(program.merchant):
        advocate = advocate_enroll(
            program=program, email="maria@example.com", name="Maria"
        ).advocate
    add_history(advocate)
    return advocate


def pages(client: Client, program: Program, advocate: Advocate, locale: str) -> dict[str, str]:
    two_sided = make_program(program.merchant, slug=f"two-{locale}")
    with tenancy.merchant_context(program.merchant):
        friend_of = advocate_enroll(program=two_sided, email="ada@example.com", name="Ada").advocate
        capture = make_program(program.merchant, slug=f"cap-{locale}")
        HostedSettings.objects.create(program=capture, friend_email_capture=True)
        captured = advocate_enroll(program=capture, email="eva@example.com", name="Eva").advocate
    portal = links.portal_url(advocate).split("8000", 1)[1]
    welcome = links.welcome_token(advocate, created=True)
    opt_out = links.opt_out_token(program.merchant_id, "x@example.com")
    paths = {
        "landing": f"/p/acme/tiers/?lang={locale}",
        "friend": f"/r/{friend_of.code}?lang={locale}",
        "friend-capture": f"/r/{captured.code}?lang={locale}",
        "welcome": f"/p/acme/tiers/welcome/{welcome}?lang={locale}",
        "portal": f"{portal}?lang={locale}&invited=2",
        "unknown-link": "/r/NOPE-000000",
        "opt-out": f"/opt-out/{opt_out}?lang={locale}",
    }
    rendered = {}
    for name, path in paths.items():
        response = client.get(path, HTTP_ACCEPT_LANGUAGE=locale)
        assert response.status_code in {200, 404}, (name, response.status_code)
        rendered[name] = visible_text(response.content.decode())
    with tenancy.merchant_context(program.merchant):
        Program.objects.filter(pk=two_sided.pk).update(status="paused")
    ended = client.get(f"/r/{friend_of.code}?lang={locale}")
    assert ended.status_code == 410
    rendered["ended"] = visible_text(ended.content.decode())
    return rendered


def test_the_english_pages_do_show_catalogue_messages(
    client: Client, program: Program, advocate: Advocate
) -> None:
    """The check below can fail: in English it finds the catalogue's messages."""
    rendered = pages(client, program, advocate, "en")
    found = untranslated(" ".join(rendered.values()), "en")
    assert len(found) > 40, found


@pytest.mark.parametrize("locale", LOCALES)
def test_every_hosted_page_is_fully_translated(
    client: Client, program: Program, advocate: Advocate, locale: str
) -> None:
    for name, text in pages(client, program, advocate, locale).items():
        assert untranslated(text, locale) == [], f"{name} in {locale}: {text[:300]}"


# --- Emails -------------------------------------------------------------------------------------


def send_every_email(world: World, program: Program, advocate: Advocate) -> None:
    merchant_id = world.acme.pk
    email_advocate_welcome_task(merchant_id=merchant_id, advocate_id=advocate.pk)
    email_portal_link_task(merchant_id=merchant_id, advocate_id=advocate.pk, window="h")
    with tenancy.merchant_context(world.acme):
        rewards = list(Reward.objects.filter(advocate=advocate).order_by("tier"))
        friend = Reward.objects.create(
            recipient="friend",
            advocate=advocate,
            conversion=rewards[0].conversion,
            tier=0,
            kind="fixed_discount",
            amount=1000,
            currency="EUR",
            status="pending",
            fulfilment_method="generated_code",
            fulfilment_code="FRIEND-1",
        )
    for reward in (*rewards, friend):
        email_reward_earned_task(merchant_id=merchant_id, reward_id=reward.pk)
    email_tier_reached_task(merchant_id=merchant_id, reward_id=rewards[-1].pk)
    email_friend_invitation_task(
        merchant_id=merchant_id, advocate_id=advocate.pk, email="f@example.com"
    )


@pytest.mark.parametrize("locale", ["en", *LOCALES])
def test_every_email_is_fully_translated(
    world: World, program: Program, advocate: Advocate, locale: str
) -> None:
    with tenancy.merchant_context(world.acme):
        Advocate.objects.filter(pk=advocate.pk).update(locale=locale)
    send_every_email(world, program, advocate)

    assert len(mail.outbox) == 7  # welcome, portal link, 2 advocate + 1 friend reward, tier, invite
    texts = []
    for email in mail.outbox:
        assert email.extra_headers["Content-Language"] == locale
        texts.append(
            " ".join([email.subject, email.body, visible_text(str(email.alternatives[0][0]))])
        )
    found = untranslated(" ".join(texts), locale)
    if locale == "en":
        assert len(found) > 15, found
    else:
        assert found == [], found


def test_every_email_kind_has_its_three_templates() -> None:
    for kind in KINDS:
        for locale in ("en", *LOCALES):
            rendered = render_email(kind, locale, _minimal_context())
            assert rendered.subject
            assert rendered.text.strip()
            assert "<html" in rendered.html


def _minimal_context() -> dict[str, Any]:
    class Named:
        name = "Acme"
        public_id = "x"

    return {
        "merchant": Named(),
        "program": Named(),
        "advocate": Named(),
        "headline": "Give €10",
        "referral_url": "https://x/r/A",
        "code": "A-1",
        "portal_url": "https://x/p",
        "reward_text": "€10",
        "threshold": 1,
        "advocate_name": "Maria",
    }
