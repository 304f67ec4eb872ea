"""The friend's offer in a real headless Chromium, on a phone (DESIGN.md §3, "Friend offer").

An Italian friend follows `/r/<code>` (no cookie before consent), asks for the offer, sees their
own code with a copy button and receives it by email in Italian; the storefront reports the
order with that code: the advocate's reward is created and the friend reward is `redeemed`; a
second order with the same code earns no friend reward and says `friend_code_reused`.
Journey test: runs on PostgreSQL and on SQLite. Console errors fail the test (a CSP violation
shows up there)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client

from accounts.models import Merchant
from programs.models import Program
from programs.specs import parse_config
from referral_saas import tenancy
from rewards.models import Reward, RewardRecipient, RewardStatus
from tests.browser import CHROMIUM, CHROMIUM_ARGS, MOBILE, shot
from tests.conftest import make_key
from tests.factories import MerchantFactory, make_program
from tracking.models import Advocate, Conversion
from tracking.services import advocate_enroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOP_HOST = "shop.test"
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium with `shop.test` sent to 127.0.0.1 (an allowed domain must be a name)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: run `make test` (it installs Debian's chromium).")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {SHOP_HOST} 127.0.0.1"],
            )
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class _Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Negozio</title><h1>Benvenuto nel negozio</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{SHOP_HOST}:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture
def merchant(db: None) -> Merchant:
    return MerchantFactory(name="Torrefazione Aurora", slug="aurora")


@pytest.fixture
def program(merchant: Merchant, shop: str, settings: Any, live_server: Any) -> Program:
    settings.PUBLIC_BASE_URL = live_server.url
    config = parse_config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {
                "kind": "percent_discount",
                "percent": 15,
                "fulfilment": "generated_code",
                "expires_after_days": 30,
            },
        },
        program_type="two_sided",
        currency="EUR",
        stripe_connected=False,
    ).to_dict()
    return make_program(
        merchant,
        slug="give-15",
        destination_url=shop,
        allowed_domains=[SHOP_HOST],
        config=config,
    )


@pytest.fixture
def giulia(program: Program) -> Advocate:
    with tenancy.merchant_context(program.merchant):
        return advocate_enroll(
            program=program, email="giulia@example.com", name="Giulia", locale="it"
        ).advocate


def phone(browser: Any) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(
        viewport=MOBILE, locale="it-IT", user_agent=PHONE_UA, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


def report_order(merchant: Merchant, order_id: str, email: str, code: str) -> None:
    """The storefront's server tells us about the order, with the code used at checkout."""
    key = make_key(merchant).plaintext
    response = Client().post(
        "/api/v1/conversions",
        json.dumps(
            {
                "order_id": order_id,
                "amount": 4000,
                "currency": "EUR",
                "customer": {"email": email},
                "code": code,
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 202, response.json()


def test_an_italian_friend_gets_their_own_code_and_it_attributes_the_order_once(
    browser: Any, live_server: Any, program: Program, giulia: Advocate, shop: str
) -> None:
    mail.outbox.clear()
    # The friend follows the link on a phone: the offer in Italian, no cookie before consent.
    context, page, errors = phone(browser)
    page.goto(f"{live_server.url}/r/{giulia.code}")
    assert page.locator("html").get_attribute("lang") == "it"
    offer = page.locator("[data-friend-offer]").inner_text().replace("\xa0", " ")
    assert offer == "Ricevi il 15% di sconto sul tuo primo ordine"
    assert context.cookies() == []
    shot(page, "friend-offer-mobile-it")

    # They ask for the offer: their own code, on the page, with a copy button.
    page.get_by_label("La tua email").fill("luca.bianchi@example.com")
    page.get_by_role("button", name="Ricevi il mio codice").click()
    shown = page.locator("[data-offer-code] [data-friend-code]")
    shown.wait_for()
    with tenancy.merchant_context(program.merchant):
        offer_reward = Reward.objects.get(recipient=RewardRecipient.FRIEND)
    code = offer_reward.fulfilment_code
    assert shown.inner_text() == code
    assert code
    assert code != giulia.code
    assert offer_reward.status == RewardStatus.ISSUED
    assert offer_reward.friend_locale == "it"
    copy = page.locator("[data-offer-code] [data-copy-text]")
    assert copy.get_attribute("data-copy-text") == code
    assert copy.inner_text() == "Copia il codice"
    go = page.locator("[data-offer-code] a.hosted-button")
    assert urlsplit(go.get_attribute("href") or "").hostname == SHOP_HOST
    assert context.cookies() == []  # asking for the offer stored nothing in the browser
    shot(page, "friend-offer-code-mobile-it")

    # The email with the code, in Italian, to the address they gave.
    [email] = [m for m in mail.outbox if m.to == ["luca.bianchi@example.com"]]
    assert email.extra_headers["Content-Language"] == "it"
    assert email.subject == "Hai ottenuto uno sconto del 15% da Torrefazione Aurora"
    assert code in email.body
    # Asking again (another spelling, same person) shows the same code and sends nothing new.
    page.goto(f"{live_server.url}/r/{giulia.code}")
    page.get_by_label("La tua email").fill("Luca.Bianchi+negozio@example.com")
    page.get_by_role("button", name="Ricevi il mio codice").click()
    page.locator("[data-offer-code]").wait_for()
    assert page.locator("[data-offer-code] [data-friend-code]").inner_text() == code
    assert len([m for m in mail.outbox if m.to == ["luca.bianchi@example.com"]]) == 1
    assert errors == []
    context.close()

    # The storefront reports the order with that code.
    report_order(program.merchant, "ORD-1", "luca.bianchi@example.com", code)
    with tenancy.merchant_context(program.merchant):
        first = Conversion.objects.get(order_id="ORD-1")
        offer_reward.refresh_from_db()
        advocate_rewards = list(Reward.objects.filter(recipient=RewardRecipient.ADVOCATE))
    assert (first.status, first.attributed_by, first.advocate_id) == (
        "qualified",
        "friend_code",
        giulia.pk,
    )
    assert [r.conversion_id for r in advocate_rewards] == [first.pk]
    assert offer_reward.status == RewardStatus.REDEEMED
    assert offer_reward.conversion_id == first.pk

    # A second order with the same code: recorded, no second friend reward, and why.
    report_order(program.merchant, "ORD-2", "sara@example.com", code)
    with tenancy.merchant_context(program.merchant):
        second = Conversion.objects.get(order_id="ORD-2")
        friend_rewards = list(Reward.objects.filter(recipient=RewardRecipient.FRIEND))
    assert friend_rewards == [offer_reward]
    assert "friend_code_reused" in [r["rule"] for r in second.reasons]
