"""`Referral.offer` (static/hosted/referral.js) on a shop's thank-you page, in Chromium
(DESIGN.md §3, "Post-purchase").

The tiny shop serves its page with a strict Content-Security-Policy (no 'unsafe-inline' for
scripts or styles; our origin allowed for the snippet, its API call and the QR image) and calls
`Referral.offer` from its own script file. From the key's allowed origin the buyer is enrolled
and the share panel is rendered inline, in the page's language, accessible (a named region, a
labelled link field, share links named by network), with no CSP violation (a console error
fails the test). From another origin: nothing rendered, a console warning, no enrolment.
Journey test: runs on PostgreSQL and on SQLite."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from accounts.services import api_key_create
from programs.models import Program
from referral_saas import tenancy
from tests.browser import CHROMIUM, CHROMIUM_ARGS, MOBILE, shot
from tests.factories import MerchantFactory, make_program
from tracking.models import Advocate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOP_HOST, OTHER_HOST = "shop.test", "other.test"
# What the shop serves (the test fills in the page, the script and the policy).
SHOP: dict[str, str] = {"page": "", "script": "", "csp": ""}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: run `make test` (it installs Debian's chromium).")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    rules = f"MAP {SHOP_HOST} 127.0.0.1, MAP {OTHER_HOST} 127.0.0.1"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"],
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
        if self.path.startswith("/shop.js"):
            body, kind = SHOP["script"].encode(), "text/javascript"
        else:
            body, kind = SHOP["page"].encode(), "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Security-Policy", SHOP["csp"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()


@pytest.fixture
def program(db: None, settings: Any, live_server: Any) -> Program:
    settings.PUBLIC_BASE_URL = live_server.url
    merchant = MerchantFactory(name="Torrefazione Aurora", slug="aurora")
    return make_program(merchant, slug="give-10")


def thank_you_page(live_server: Any, key: str, program: Program) -> None:
    api = live_server.url
    SHOP["csp"] = (
        f"default-src 'self'; script-src 'self' {api}; connect-src {api}; "
        f"img-src 'self' {api}; style-src 'self'; object-src 'none'; base-uri 'none'"
    )
    SHOP["page"] = (
        '<!doctype html><html lang="it"><head><meta charset="utf-8"><title>Grazie</title></head>'
        "<body><main><h1>Grazie per il tuo ordine</h1></main>"
        f'<script src="{api}/static/hosted/referral.js" data-key="{key}" '
        f'data-program="{program.public_id}"></script>'
        '<script src="/shop.js"></script></body></html>'
    )
    SHOP["script"] = (
        "window.__offer = Referral.offer({email: 'bea.conti@example.com', name: 'Bea', "
        "orderId: '1001'});"
    )


def new_page(browser: Any) -> tuple[Any, Any, list[str], list[str]]:
    context = browser.new_context(viewport=MOBILE, locale="it-IT")
    page = context.new_page()
    errors: list[str] = []
    warnings: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors, warnings


def buyers(program: Program) -> list[Advocate]:
    with tenancy.merchant_context(program.merchant):
        return list(Advocate.objects.filter(email="bea.conti@example.com"))


def test_offer_on_an_allowed_origin_enrols_the_buyer_and_renders_the_panel(
    browser: Any, live_server: Any, program: Program, shop_port: int
) -> None:
    origin = f"http://{SHOP_HOST}:{shop_port}"
    with tenancy.merchant_context(program.merchant):
        key = api_key_create(
            actor=None, kind="publishable", name="shop", allowed_origins=[origin]
        ).plaintext
    thank_you_page(live_server, key, program)
    mail.outbox.clear()
    context, page, errors, _warnings = new_page(browser)

    page.goto(f"{origin}/grazie")
    panel = page.get_by_role("region", name="Condividi con i tuoi amici")
    panel.wait_for()

    [buyer] = buyers(program)
    assert page.evaluate("window.__offer.then(a => a.code)") == buyer.code
    assert panel.get_by_label("Il tuo link").input_value() == f"{live_server.url}/r/{buyer.code}"
    assert panel.locator("[data-referral-offer-code]").inner_text() == buyer.code
    whatsapp = panel.get_by_role("link", name="Condividi su WhatsApp")
    assert buyer.code in (whatsapp.get_attribute("href") or "")
    assert panel.locator("[data-share]").count() == 7
    qr = panel.get_by_role("img", name="Codice QR del tuo link")
    qr.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    # The buyer is welcomed with their link (the API enrolment's welcome email).
    assert [m.to for m in mail.outbox] == [["bea.conti@example.com"]]
    # Asking again for the same order changes nothing: one advocate, one panel, one email.
    again = page.evaluate(
        "Referral.offer({email: 'bea.conti@example.com', name: 'Bea', orderId: '1001'})"
        ".then(a => a.code)"
    )
    assert again == buyer.code
    assert page.locator("[data-referral-offer]").count() == 1
    assert len(buyers(program)) == 1
    assert len(mail.outbox) == 1
    shot(page, "referral-offer-panel-mobile-it")
    assert errors == []  # no CSP violation: the page needed no inline script or style
    context.close()


def test_offer_from_another_origin_renders_nothing_and_enrols_nobody(
    browser: Any, live_server: Any, program: Program, shop_port: int
) -> None:
    with tenancy.merchant_context(program.merchant):
        key = api_key_create(
            actor=None,
            kind="publishable",
            name="shop",
            allowed_origins=[f"http://{SHOP_HOST}:{shop_port}"],
        ).plaintext
    thank_you_page(live_server, key, program)
    context, page, _errors, warnings = new_page(browser)

    page.goto(f"http://{OTHER_HOST}:{shop_port}/grazie")

    assert page.evaluate("window.__offer") is None
    assert page.locator("[data-referral-offer]").count() == 0
    assert any(w.startswith("[Referral] could not enrol the buyer") for w in warnings)
    assert buyers(program) == []
    context.close()
