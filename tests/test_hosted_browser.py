"""The hosted advocate and friend experience in a real headless Chromium.

An advocate joins in Italian on a phone, gets their link and QR code; a friend opens the link in a
fresh browser, sees the offer, has no cookie until they accept, and lands on the shop (a tiny
HTTP server on 127.0.0.1, reached as `shop.test` through Chromium's host resolver rules) with
`ref`; open-redirect attempts and script in merchant copy fail; the portal shows the click.
Screenshots go to test-results/ (gitignored). Console errors fail the tests: a CSP violation (an
inline style or script) shows up there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from programs.models import Program, ProgramCopy
from programs.services import program_update
from referral_saas import tenancy
from tests.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, MOBILE, RESULTS, shot
from tracking.models import Advocate, Click

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOP_HOST = "shop.test"
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
INJECTED = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The conftest's Chromium, plus a host rule that sends `shop.test` to 127.0.0.1 (the
    program's allowed domain must be a real domain name, not an IP address)."""
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


# What the shop serves at /store (the storefront snippet test sets it).
STOREFRONT: dict[str, bytes] = {"html": b""}


class _Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Shop</title><h1>Welcome to the shop</h1>"
        if self.path.startswith("/store"):
            body = STOREFRONT["html"]
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
def program(db: None, shop: str, settings: Any, live_server: Any) -> Program:
    from tests.factories import MerchantFactory, make_program

    settings.PUBLIC_BASE_URL = live_server.url
    merchant = MerchantFactory(
        name="Torrefazione Aurora", slug="aurora", privacy_policy_url=f"{shop}privacy"
    )
    from programs.specs import parse_config

    program = make_program(
        merchant,
        slug="give-10",
        default_locale="en",
        destination_url=shop,
        allowed_domains=[SHOP_HOST],
        # The friend's reward delivered by the merchant (no code before purchase): the friend
        # page that sends the friend to the shop with `ref`. The friend's own code before
        # purchase is walked in tests/test_friend_offer_browser.py.
        config=parse_config(
            {
                "advocate_reward": {"kind": "account_credit", "amount": 1000},
                "friend_reward": {"kind": "fixed_discount", "amount": 1000, "fulfilment": "manual"},
            },
            program_type="two_sided",
            currency="EUR",
            stripe_connected=False,
        ).to_dict(),
    )
    with tenancy.merchant_context(merchant):
        # Through the service, as the dashboard and API write it (tags stripped)...
        program_update(
            actor=None,
            program=program,
            data={
                "copy": {
                    "it": {
                        "description": f"Caffè appena tostato per i tuoi amici. {INJECTED}",
                        "terms": "Valido sul primo ordine di almeno 20 €.",
                    }
                }
            },
        )
        # ...and straight into the table, as if a tag had slipped past: the page must escape it.
        ProgramCopy.objects.filter(program=program, locale="it").update(
            terms=f"Valido sul primo ordine. {INJECTED}"
        )
        program.refresh_from_db()
    return program


def new_page(browser: Any, viewport: dict[str, int], **options: Any) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport=viewport, **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    return context, page, errors


def phone(browser: Any) -> tuple[Any, Any, list[str]]:
    return new_page(
        browser, MOBILE, locale="it-IT", user_agent=PHONE_UA, is_mobile=True, has_touch=True
    )


def test_join_in_italian_share_and_a_friend_lands_on_the_shop(
    browser: Any, live_server: Any, program: Program, shop: str
) -> None:
    # An advocate joins on a phone; the browser asks for Italian.
    context, page, errors = phone(browser)
    page.goto(f"{live_server.url}/p/aurora/give-10/")
    assert page.locator("html").get_attribute("lang") == "it"
    headline = page.locator("[data-headline]").inner_text().replace("\xa0", " ")
    assert headline == "Regala 10 € di sconto, ricevi 10 € di credito"
    assert context.cookies() == []
    shot(page, "hosted-landing-mobile-it")
    page.screenshot(path=str(RESULTS / "hosted-landing-mobile-it-viewport.png"))
    join = page.get_by_role("region", name="Ottieni il tuo link personale")
    join.get_by_label("La tua email").fill("giulia@example.com")
    join.get_by_label("Il tuo nome").fill("Giulia")
    join.get_by_role("checkbox").check()
    join.get_by_role("button", name="Iscriviti e ottieni il mio link").click()
    page.wait_for_url("**/welcome/**")

    link = page.locator("[data-referral-link]").input_value()
    with tenancy.merchant_context(program.merchant):
        advocate = Advocate.objects.get(email="giulia@example.com")
    assert link == f"{live_server.url}/r/{advocate.code}"
    assert advocate.locale == "it"
    assert page.locator("[data-referral-code]").inner_text() == advocate.code
    qr = page.locator("[data-qr]")
    qr.scroll_into_view_if_needed()
    assert page.evaluate("img => img.complete && img.naturalWidth > 100", qr.element_handle())
    whatsapp = page.locator('[data-share="whatsapp"]').get_attribute("href") or ""
    assert whatsapp.startswith("https://wa.me/?text=")
    assert advocate.code in whatsapp
    portal = page.locator("[data-portal-link]").get_attribute("href") or ""
    assert context.cookies() == []  # joining stored nothing in the browser either
    shot(page, "hosted-welcome-mobile-it")
    assert errors == []
    context.close()

    # A friend opens the link in a fresh browser: the offer, no cookie before consent.
    context, page, errors = phone(browser)
    page.goto(link)
    offer = page.locator("[data-friend-offer]").inner_text().replace("\xa0", " ")
    assert offer == "Ricevi uno sconto di 10 € sul tuo primo ordine"
    assert page.locator("[data-friend-code]").inner_text() == advocate.code
    assert context.cookies() == []
    with tenancy.merchant_context(program.merchant):
        click = Click.objects.get(advocate=advocate)
    assert click.visitor_id == ""
    assert click.ip_prefix == "127.0.0.0/24"
    shot(page, "hosted-friend-mobile-it")
    page.screenshot(path=str(RESULTS / "hosted-friend-mobile-it-viewport.png"))

    page.locator("[data-consent-accept]").click()
    page.wait_for_load_state()
    names = {cookie["name"] for cookie in context.cookies()}
    assert names == {"rs_consent", "rs_vid"}
    assert page.locator("[data-consent-banner]").count() == 0
    with tenancy.merchant_context(program.merchant):
        click.refresh_from_db()
        assert Click.objects.filter(advocate=advocate).count() == 1  # the return trip is no visit
    assert click.visitor_id.startswith("v_")

    page.locator("[data-claim]").click()
    page.wait_for_url(f"http://{SHOP_HOST}:*/**")
    landed = urlsplit(page.url)
    assert landed.hostname == SHOP_HOST
    assert parse_qs(landed.query) == {"ref": [advocate.code], "ref_click": [click.public_id]}
    assert page.locator("h1").inner_text() == "Welcome to the shop"
    assert errors == []
    context.close()

    # An open-redirect attempt through the link's parameters still lands on the shop.
    context, page, errors = new_page(browser, DESKTOP)
    page.goto(f"{link}?to=https://evil.example.org/&next=https://evil.example.org/")
    href = page.locator("[data-claim]").get_attribute("href") or ""
    assert urlsplit(href).hostname == SHOP_HOST
    page.locator("[data-claim]").click()
    page.wait_for_url(f"http://{SHOP_HOST}:*/**")
    assert urlsplit(page.url).hostname == SHOP_HOST
    context.close()

    # The advocate's portal shows the new clicks.
    context, page, errors = phone(browser)
    page.goto(portal)
    assert page.locator('[data-stat="clicks"]').inner_text() == "2"
    assert page.locator("[data-click]").count() == 2
    assert "Chrome Mobile su Android" in page.locator("[data-clicks]").inner_text()
    shot(page, "hosted-portal-mobile-it")
    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, "hosted-portal-desktop-it")
    assert errors == []
    context.close()


def test_script_in_merchant_copy_never_runs(
    browser: Any, live_server: Any, program: Program
) -> None:
    context, page, errors = new_page(browser, {"width": 1280, "height": 800}, locale="it-IT")
    page.goto(f"{live_server.url}/p/aurora/give-10/?lang=it")
    assert page.evaluate("window.__pwned") is None
    description = page.locator("[data-description]").inner_text()
    assert "Caffè appena tostato" in description
    assert "<script" not in description
    terms = page.locator("[data-terms]").inner_text()
    assert "<script>window.__pwned = 1</script>" in terms  # shown as text, never run
    assert page.locator("main script, main img[src=x]").count() == 0
    shot(page, "hosted-landing-desktop-it")
    page.goto(f"{live_server.url}/p/aurora/give-10/?lang=en")
    shot(page, "hosted-landing-desktop-en")
    page.set_viewport_size(MOBILE)
    page.goto(f"{live_server.url}/p/aurora/give-10/?lang=pl")
    shot(page, "hosted-landing-mobile-pl")
    assert page.evaluate("window.__pwned") is None
    assert errors == []
    context.close()


def test_storefront_snippet_records_the_click_and_signs_the_friend_up(
    browser: Any, live_server: Any, program: Program, shop: str
) -> None:
    from accounts.services import api_key_create
    from tracking.models import Referral
    from tracking.services import advocate_enroll

    origin = shop.rstrip("/")
    with tenancy.merchant_context(program.merchant):
        key = api_key_create(
            actor=None, kind="publishable", name="shop", allowed_origins=[origin]
        ).plaintext
        advocate = advocate_enroll(program=program, email="giulia@example.com").advocate
    STOREFRONT["html"] = (
        "<!doctype html><title>Store</title><h1>Store</h1>"
        f'<script src="{live_server.url}/static/hosted/referral.js" data-key="{key}" async>'
        "</script>"
    ).encode()
    context, page, errors = new_page(browser, DESKTOP)

    # A visit with ?ref= but without our redirect: the snippet records the click.
    page.goto(f"{shop}store?ref={advocate.code.lower()}")
    page.wait_for_function("window.Referral !== undefined")
    assert page.evaluate("Referral.ready") == advocate.code
    with tenancy.merchant_context(program.merchant):
        [click] = Click.objects.filter(advocate=advocate)
    assert click.visitor_id == ""
    # Nothing stored before consent.
    assert page.evaluate("Object.keys(localStorage)") == []
    assert context.cookies() == []

    referral = page.evaluate(
        "Referral.signup({email: 'luca@example.com', name: 'Luca', customerId: 42})"
    )
    with tenancy.merchant_context(program.merchant):
        row = Referral.objects.get()
    assert referral["id"] == row.public_id
    assert (row.email, row.customer_id, row.click_id) == ("luca@example.com", "42", click.pk)

    # Consent granted by the shop's banner: the visit is kept, with a visitor id.
    page.evaluate("Referral.consent(true)")
    assert sorted(page.evaluate("Object.keys(localStorage)")) == ["rs_referral", "rs_vid"]
    assert {c["name"] for c in context.cookies()} == {"rs_vid"}
    page.evaluate("Referral.consent(false)")
    assert page.evaluate("Object.keys(localStorage)") == []

    # Through our /r/ redirect the click is already counted: the snippet does not count it again.
    page.goto(f"{shop}store?ref={advocate.code}&ref_click={click.public_id}")
    page.wait_for_function("window.Referral !== undefined")
    assert page.evaluate("Referral.ready") == advocate.code
    with tenancy.merchant_context(program.merchant):
        assert Click.objects.filter(advocate=advocate).count() == 1
    assert errors == []
    context.close()
