"""The payout journey in a real headless Chromium: an advocate adds an IBAN in the portal in
Polish; the merchant sees the payout due, downloads the SEPA file (valid pain.001.001.03),
marks the payout paid; the advocate's portal shows it paid.

Screenshots: test-results/payouts-*.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema

from payouts.models import Payout, PayoutAccount, PayoutStatus
from referral_saas import tenancy
from tests.browser import DESKTOP, MOBILE, PASSWORD, shot
from tests.factories import MerchantFactory, UserFactory, add_member
from tests.test_payouts import cash_program, earn
from tests.test_pipeline import enrol
from tracking import links
from tracking.models import Advocate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMA = Path(__file__).parent / "data" / "pain.001.001.03.xsd"


def test_iban_in_polish_sepa_file_mark_paid_and_the_portal_shows_it_paid(  # type: ignore[no-untyped-def]
    browser, live_server, tmp_path: Path
) -> None:
    merchant = MerchantFactory(name="Acme Coffee Roasters", slug="acme")
    add_member(merchant, UserFactory(email="alice@example.com", password=PASSWORD), "owner")
    with tenancy.merchant_context(merchant):
        PayoutAccount.objects.create(
            sepa_debtor_name="Acme Coffee Roasters Srl",
            sepa_debtor_iban="IT60X0542811101000000123456",
        )
        advocate = enrol(cash_program(merchant), "ola@example.com")
        Advocate.objects.filter(pk=advocate.pk).update(locale="pl")
        advocate.refresh_from_db()
        token = links.portal_token(advocate)
    console_errors: list[str] = []

    # the advocate, on a phone, in Polish: a wrong IBAN is refused, the right one saved masked
    phone = browser.new_context(viewport=MOBILE, locale="pl-PL")
    portal = phone.new_page()
    portal.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    portal.goto(f"{live_server.url}/portal/{token}/")
    portal.get_by_role("link", name="Twoje wypłaty i sposób ich otrzymywania").click()
    portal.wait_for_url(f"**/portal/{token}/payouts/")
    portal.get_by_label("Przelew bankowy (SEPA)").check()
    portal.get_by_label("IBAN").fill("PL61 1090 1014 0000 0712 1981 2875")
    portal.get_by_label("Właściciel rachunku").fill("Ola Nowak")
    portal.get_by_role("button", name="Zapisz dane do wypłaty").click()
    assert "Ten numer IBAN jest nieprawidłowy" in portal.locator("[data-error='iban']").inner_text()
    assert console_errors == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]  # the refused form answers 400, as it should
    console_errors.clear()
    portal.get_by_label("IBAN").fill("PL61 1090 1014 0000 0712 1981 2874")
    portal.get_by_role("button", name="Zapisz dane do wypłaty").click()
    portal.locator("[data-saved]").wait_for()
    assert "PL•• •••• •••• 2874" in portal.locator("[data-current-method]").inner_text()
    shot(portal, "payouts-portal-iban-pl")

    # a friend's order earns the advocate €10 cash, paid by payout
    with tenancy.merchant_context(merchant):
        earn(advocate, "B-1")

    # the merchant: runs payouts, sees it due, makes and downloads the SEPA file, marks it paid
    desk = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = desk.new_page()
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/m/acme/")
    page.get_by_role("navigation", name="Acme Coffee Roasters").get_by_role(
        "link", name="Payouts"
    ).click()
    page.wait_for_url("**/m/acme/payouts/")
    page.get_by_role("button", name="Run payouts now").click()
    page.wait_for_url("**/m/acme/payouts/")
    row = page.locator("tr[data-payout]")
    assert row.locator("[data-status]").get_attribute("data-status") == "due"
    assert "€10" in row.inner_text()
    shot(page, "payouts-dashboard-due")
    page.locator("[data-sepa-create]").click()
    page.wait_for_url("**/m/acme/payouts/?status=processing")
    with page.expect_download() as download_info:
        page.locator("[data-sepa-xml]").first.click()
    path = tmp_path / "pain.xml"
    download_info.value.save_as(path)
    document = path.read_text()
    xmlschema.XMLSchema(str(SCHEMA)).validate(document)
    assert "PL61109010140000071219812874" in document
    page.locator("[data-mark-paid]").click()
    page.wait_for_url("**/m/acme/payouts/?status=processing")
    page.goto(f"{live_server.url}/m/acme/payouts/?status=paid")
    assert page.locator("tr[data-payout] [data-status]").get_attribute("data-status") == "paid"
    shot(page, "payouts-dashboard-paid")
    with tenancy.merchant_context(merchant):
        assert Payout.objects.get().status == PayoutStatus.PAID

    # the advocate's portal shows it paid, in Polish
    portal.reload()
    status = portal.locator("[data-payout-status]")
    assert status.get_attribute("data-payout-status") == "paid"
    assert status.inner_text() == "Wypłacono"
    shot(portal, "payouts-portal-paid-pl")
    assert console_errors == []
