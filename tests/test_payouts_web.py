"""Payouts on the web: the API (`/api/v1/payouts`, documented in OpenAPI), the dashboard page
(reachable from the menu; due, processing, paid, failed with the reason; SEPA files; roles),
Stripe Connect from Settings (state nonce bound to the session, audited connect/disconnect)
and the advocate's payout details in the portal (in their language)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import xmlschema
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent, Merchant
from payouts import services
from payouts.details import payout_details_set
from payouts.models import Payout, PayoutAccount, PayoutDetails, PayoutMethod, PayoutStatus
from programs.specs import SpecError, parse_config
from referral_saas import tenancy
from rewards.models import Reward, RewardStatus
from tests.conftest import World, login, make_key
from tests.payouts_stripe_fake import OAUTH_CODE, FakeStripeConnect, serve_fake_stripe_connect
from tests.test_payouts import IBAN_PL, cash_program, earn
from tests.test_pipeline import enrol
from tracking import links
from tracking.models import Advocate

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = Path(__file__).parent / "data" / "pain.001.001.03.xsd"


def due_payouts(merchant: Merchant, count: int = 2) -> list[Payout]:
    with tenancy.merchant_context(merchant):
        program = cash_program(merchant)
        for n in range(count):
            advocate = enrol(program, f"web{n}@example.com")
            earn(advocate, f"web-{n}")
        return services.payouts_create_due()


def api(client: Client, key: Any, method: str, path: str, body: Any = None) -> Any:
    return getattr(client, method)(
        path,
        json.dumps(body) if body is not None else None,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.plaintext}",
    )


# --- API -----------------------------------------------------------------------------------------


def test_api_lists_and_retrieves_payouts_in_the_contract_shape(
    client: Client, world: World
) -> None:
    payouts = due_payouts(world.acme, count=3)
    key = make_key(world.acme)
    with CaptureQueriesContext(connection) as queries:
        response = api(client, key, "get", "/api/v1/payouts")
    assert response.status_code == 200
    body = response.json()
    assert [p["id"] for p in body["data"]] == [p.public_id for p in reversed(payouts)]
    first = body["data"][-1]
    with tenancy.merchant_context(world.acme):
        reward = Reward.objects.get(advocate=payouts[0].advocate)
    assert first == {
        "id": payouts[0].public_id,
        "object": "payout",
        "advocate": payouts[0].advocate.public_id,
        "amount": 1000,
        "currency": "EUR",
        "method": "manual",
        "status": "due",
        "failure_reason": None,
        "rewards": [reward.public_id],
        "created_at": first["created_at"],
        "paid_at": None,
        "livemode": True,
    }
    # warm (the key's last use is written at most once a minute): the key, the page, and
    # every payout's rewards in one query
    with CaptureQueriesContext(connection) as queries:
        api(client, key, "get", "/api/v1/payouts")
    assert len(queries) == 3
    with tenancy.merchant_context(world.acme):
        program = cash_program(world.acme, slug="more")
        for n in range(3):
            earn(enrol(program, f"more{n}@example.com"), f"more-{n}")
        services.payouts_create_due()
    with CaptureQueriesContext(connection) as queries:
        assert len(api(client, key, "get", "/api/v1/payouts").json()["data"]) == 6
    assert len(queries) == 3  # not one query per payout
    detail = api(client, key, "get", f"/api/v1/payouts/{payouts[0].public_id}")
    assert detail.json() == first
    assert api(client, key, "get", "/api/v1/payouts?status=paid").json()["data"] == []
    bad = api(client, key, "get", "/api/v1/payouts?status=sent")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "status"


def test_api_mark_paid_and_its_refusals(client: Client, world: World) -> None:
    manual, other = due_payouts(world.acme)
    key = make_key(world.acme)
    unknown = api(
        client, key, "post", f"/api/v1/payouts/{manual.public_id}/mark-paid", {"amount": 1}
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "amount"
    paid = api(
        client,
        key,
        "post",
        f"/api/v1/payouts/{manual.public_id}/mark-paid",
        {"reference": "BANK-1"},
    )
    assert paid.status_code == 200
    assert paid.json()["status"] == "paid"
    assert paid.json()["paid_at"] is not None
    again = api(client, key, "post", f"/api/v1/payouts/{manual.public_id}/mark-paid", {})
    assert again.json() == paid.json()
    with tenancy.merchant_context(world.acme):
        Payout.objects.filter(pk=other.pk).update(method=PayoutMethod.PAYPAL)
    refused = api(client, key, "post", f"/api/v1/payouts/{other.public_id}/mark-paid", {})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "method"
    with tenancy.merchant_context(world.acme):
        assert Payout.objects.get(pk=other.pk).status == PayoutStatus.DUE
        assert AuditEvent.objects.filter(action="payout.marked_paid").count() == 1


def test_outsiders_key_finds_no_payout(client: Client, world: World) -> None:
    (payout,) = due_payouts(world.acme, count=1)
    outsider = make_key(world.globex)
    assert api(client, outsider, "get", "/api/v1/payouts").json()["data"] == []
    for method, path in (
        ("get", f"/api/v1/payouts/{payout.public_id}"),
        ("post", f"/api/v1/payouts/{payout.public_id}/mark-paid"),
    ):
        response = api(client, outsider, method, path, {} if method == "post" else None)
        assert response.status_code == 404
    with tenancy.merchant_context(world.acme):
        assert Payout.objects.get().status == PayoutStatus.DUE


def test_openapi_documents_the_payout_operations(client: Client) -> None:
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert {
        "/api/v1/payouts",
        "/api/v1/payouts/{payout_id}",
        "/api/v1/payouts/{payout_id}/mark-paid",
    } <= set(schema["paths"])
    components = schema["components"]["schemas"]
    payout = components["PayoutOutput"]

    def enum(name: str) -> list[str]:
        prop = payout["properties"][name]
        ref = prop.get("$ref") or prop.get("allOf", [{}])[0].get("$ref", "")
        return list(prop.get("enum") or components[ref.rsplit("/", 1)[-1]]["enum"])

    assert enum("status") == ["due", "processing", "paid", "failed"]
    assert set(enum("method")) == {
        "stripe_transfer",
        "paypal",
        "sepa_credit_transfer",
        "manual",
    }


# --- Dashboard ----------------------------------------------------------------------------------


def test_dashboard_shows_payouts_by_status_with_the_failure_reason(
    client: Client, world: World
) -> None:
    due, failed = due_payouts(world.acme)
    with tenancy.merchant_context(world.acme):
        services.payout_fail(failed, reason="PayPal: RETURNED (Receiver's account is locked.)")
    login(client, world.bob)  # a viewer reads
    page = client.get(f"/m/{world.acme.slug}/")
    assert f'href="/m/{world.acme.slug}/payouts/"' in page.content.decode()
    response = client.get(f"/m/{world.acme.slug}/payouts/")
    html = response.content.decode()
    assert response.status_code == 200
    assert due.public_id in html
    assert "Receiver&#x27;s account is locked." in html
    assert "data-mark-paid" not in html  # viewers do not act
    failed_tab = client.get(f"/m/{world.acme.slug}/payouts/?status=failed").content.decode()
    assert failed.public_id in failed_tab
    assert due.public_id not in failed_tab
    denied = client.post(f"/m/{world.acme.slug}/payouts/{due.public_id}/mark-paid/")
    assert denied.status_code == 403
    with tenancy.merchant_context(world.acme):
        assert Payout.objects.get(pk=due.pk).status == PayoutStatus.DUE


def test_admin_makes_a_valid_sepa_file_and_marks_its_payouts_paid(
    client: Client, world: World
) -> None:
    with tenancy.merchant_context(world.acme):
        program = cash_program(world.acme)
        PayoutAccount.objects.create(
            sepa_debtor_name="Acme Srl", sepa_debtor_iban="DE89370400440532013000"
        )
        advocate = enrol(program, "ola@example.com")
        payout_details_set(
            advocate=advocate,
            method="sepa_credit_transfer",
            iban=IBAN_PL,
            account_holder="Ola Nowak",
        )
        earn(advocate, "sepa-web")
    login(client, world.alice)
    client.post(f"/m/{world.acme.slug}/payouts/run/")
    with tenancy.merchant_context(world.acme):
        payout = Payout.objects.get()
    assert payout.method == PayoutMethod.SEPA_CREDIT_TRANSFER
    client.post(f"/m/{world.acme.slug}/payouts/sepa/")
    with tenancy.merchant_context(world.acme):
        payout.refresh_from_db()
        assert payout.batch is not None
        batch_id = payout.batch.public_id
    assert payout.status == PayoutStatus.PROCESSING
    xml = client.get(f"/m/{world.acme.slug}/payouts/files/{batch_id}/pain.xml")
    assert xml.status_code == 200
    assert xml["Content-Disposition"] == f'attachment; filename="{batch_id}.xml"'
    xmlschema.XMLSchema(str(SCHEMA)).validate(xml.content.decode())
    csv = client.get(f"/m/{world.acme.slug}/payouts/files/{batch_id}/payouts.csv").content.decode()
    assert "PL61109010140000071219812874" in csv
    client.post(f"/m/{world.acme.slug}/payouts/{payout.public_id}/mark-paid/")
    with tenancy.merchant_context(world.acme):
        payout.refresh_from_db()
        assert payout.status == PayoutStatus.PAID
        assert Reward.objects.get(advocate=advocate).status == RewardStatus.ISSUED
        assert AuditEvent.objects.filter(action="payouts.sepa_downloaded").count() == 2


def test_program_minimum_is_set_from_the_page_in_major_units(client: Client, world: World) -> None:
    with tenancy.merchant_context(world.acme):
        program = cash_program(world.acme)
    login(client, world.alice)
    client.post(f"/m/{world.acme.slug}/payouts/minimum/{program.public_id}/", {"minimum": "25.50"})
    with tenancy.merchant_context(world.acme):
        assert services.minimum_for(program.pk) == 2550
    response = client.post(
        f"/m/{world.acme.slug}/payouts/minimum/{program.public_id}/",
        {"minimum": "lots"},
        follow=True,
    )
    assert "Enter the minimum as an amount" in response.content.decode()
    with tenancy.merchant_context(world.acme):
        assert services.minimum_for(program.pk) == 2550


# --- Stripe Connect from Settings ----------------------------------------------------------------


@pytest.fixture
def stripe() -> Iterator[FakeStripeConnect]:
    with (
        serve_fake_stripe_connect() as server,
        override_settings(
            STRIPE_SECRET_KEY="sk_test_fake",
            STRIPE_API_BASE=server.url,
            STRIPE_CONNECT_BASE=server.url,
            STRIPE_CONNECT_CLIENT_ID="ca_fake",
        ),
    ):
        yield server


def test_merchant_connects_stripe_with_a_state_bound_to_the_session(
    client: Client, world: World, stripe: FakeStripeConnect
) -> None:
    login(client, world.alice)
    settings_page = client.get(f"/m/{world.acme.slug}/settings/").content.decode()
    assert 'data-testid="stripe-not-connected"' in settings_page
    start = client.post(f"/m/{world.acme.slug}/settings/stripe/connect/")
    assert start.status_code == 302
    authorize = urlparse(start["Location"])
    query = parse_qs(authorize.query)
    assert authorize.path == "/oauth/authorize"
    assert query["client_id"] == ["ca_fake"]
    assert query["scope"] == ["read_write"]
    state = query["state"][0]
    # a forged or replayed state is refused, and nothing is connected
    forged = client.get("/stripe/connect/callback/", {"code": OAUTH_CODE, "state": "forged"})
    assert forged.status_code == 400
    world.acme.refresh_from_db()
    assert world.acme.stripe_account_id == ""
    client.post(f"/m/{world.acme.slug}/settings/stripe/connect/")  # a new state for this session
    state = parse_qs(
        urlparse(client.post(f"/m/{world.acme.slug}/settings/stripe/connect/")["Location"]).query
    )["state"][0]
    other = Client()
    login(other, world.alice)  # the same person in another session: not this nonce
    assert (
        other.get("/stripe/connect/callback/", {"code": OAUTH_CODE, "state": state}).status_code
        == 400
    )
    done = client.get("/stripe/connect/callback/", {"code": OAUTH_CODE, "state": state})
    assert done.status_code == 302
    world.acme.refresh_from_db()
    assert world.acme.stripe_account_id == "acct_1MerchantConnect"
    assert (
        client.get("/stripe/connect/callback/", {"code": OAUTH_CODE, "state": state}).status_code
        == 400
    )
    page = client.get(f"/m/{world.acme.slug}/settings/").content.decode()
    assert "acct_1MerchantConnect" in page
    # Stripe fulfilment methods are available only now
    spec = {"advocate_reward": {"kind": "cash", "amount": 500, "fulfilment": "stripe_transfer"}}
    with pytest.raises(SpecError):
        parse_config(spec, program_type="one_sided", currency="EUR", stripe_connected=False)
    parse_config(
        spec, program_type="one_sided", currency="EUR", stripe_connected=world.acme.stripe_connected
    )
    client.post(f"/m/{world.acme.slug}/settings/stripe/disconnect/")
    world.acme.refresh_from_db()
    assert world.acme.stripe_account_id == ""
    assert stripe.deauthorized == ["acct_1MerchantConnect"]
    with tenancy.merchant_context(world.acme):
        actions = list(
            AuditEvent.objects.filter(action__startswith="stripe.").values_list("action", flat=True)
        )
    assert sorted(actions) == ["stripe.connected", "stripe.disconnected"]


def test_only_owners_connect_stripe(
    client: Client, world: World, stripe: FakeStripeConnect
) -> None:
    login(client, world.bob)
    assert client.post(f"/m/{world.acme.slug}/settings/stripe/connect/").status_code == 403
    world.acme.refresh_from_db()
    assert world.acme.stripe_account_id == ""


# --- The advocate's portal ----------------------------------------------------------------------


def portal_advocate(merchant: Merchant, locale: str = "pl") -> tuple[Advocate, str]:
    with tenancy.merchant_context(merchant):
        program = cash_program(merchant)
        advocate = enrol(program, "ola@example.com")
        Advocate.objects.filter(pk=advocate.pk).update(locale=locale)
        advocate.refresh_from_db()
    return advocate, links.portal_token(advocate)


def form_token_of(html: str) -> str:
    marker = 'name="form_token" value="'
    return html.split(marker, 1)[1].split('"', 1)[0]


def test_advocate_adds_an_iban_in_polish_and_sees_it_masked(client: Client, world: World) -> None:
    _advocate, token = portal_advocate(world.acme)
    page = client.get(f"/portal/{token}/payouts/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Twoje wypłaty" in html
    bad = client.post(
        f"/portal/{token}/payouts/",
        {
            "form_token": form_token_of(html),
            "method": "sepa_credit_transfer",
            "iban": "PL00 1234",
            "account_holder": "Ola",
        },
    )
    assert bad.status_code == 400
    assert "Ten numer IBAN jest nieprawidłowy" in bad.content.decode()
    with tenancy.merchant_context(world.acme):
        assert not PayoutDetails.objects.exists()
    ok = client.post(
        f"/portal/{token}/payouts/",
        {
            "form_token": form_token_of(html),
            "method": "sepa_credit_transfer",
            "iban": IBAN_PL,
            "account_holder": "Ola Nowak",
        },
        follow=True,
    )
    text = ok.content.decode()
    assert "PL•• •••• •••• 2874" in text
    assert "1090 1014" not in text
    assert "10901014" not in text
    expired = client.post(
        f"/portal/{token}/payouts/",
        {"form_token": "x", "method": "paypal", "paypal_email": "a@b.pl"},
    )
    assert expired.status_code == 400
    with tenancy.merchant_context(world.acme):
        assert PayoutDetails.objects.get().method == "sepa_credit_transfer"


def test_advocate_onboards_with_stripe_express(
    client: Client, world: World, stripe: FakeStripeConnect
) -> None:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_account_id="acct_merchant1")
    advocate, token = portal_advocate(world.acme, locale="en")
    html = client.get(f"/portal/{token}/payouts/").content.decode()
    started = client.post(f"/portal/{token}/payouts/stripe/", {"form_token": form_token_of(html)})
    assert started.status_code == 302
    assert started["Location"].startswith("https://connect.stripe.com/setup/e/acct_")
    link = next(c for c in stripe.calls if c.path == "/v1/account_links")
    assert link.form["refresh_url"].endswith(f"/portal/{token}/payouts/stripe/")
    assert link.form["return_url"].endswith(f"/portal/{token}/payouts/stripe/return/")
    assert link.account == "acct_merchant1"
    # a second start (refresh URL) makes no second account
    client.get(f"/portal/{token}/payouts/stripe/")
    assert len(stripe.created("account")) == 1
    client.get(f"/portal/{token}/payouts/stripe/return/")
    with tenancy.merchant_context(world.acme):
        details = PayoutDetails.objects.get(advocate=advocate)
    assert details.stripe_account_id == stripe.created("account")[0]["id"]
    assert details.stripe_payouts_enabled is True
    assert details.method == PayoutMethod.STRIPE_TRANSFER


# --- Privacy ------------------------------------------------------------------------------------


def test_privacy_export_has_the_payout_details_and_erasure_removes_them(
    client: Client, world: World
) -> None:
    with tenancy.merchant_context(world.acme):
        program = cash_program(world.acme)
        advocate = enrol(program, "ola@example.com")
        payout_details_set(
            advocate=advocate, method="sepa_credit_transfer", iban=IBAN_PL, account_holder="Ola N"
        )
        earn(advocate, "priv-1")
        (payout,) = services.payouts_create_due()
    key = make_key(world.acme)
    exported = api(client, key, "post", "/api/v1/privacy/export", {"email": "ola@example.com"})
    assert exported.status_code == 200
    (section,) = exported.json()["payouts"]
    assert section["advocate"] == advocate.public_id
    assert section["details"] == {
        "method": "sepa_credit_transfer",
        "stripe_account": None,
        "paypal_email": None,
        "iban": "PL61109010140000071219812874",
        "bic": None,
        "account_holder": "Ola N",
    }
    assert [p["id"] for p in section["payouts"]] == [payout.public_id]
    erased = api(client, key, "post", "/api/v1/privacy/erase", {"email": "ola@example.com"})
    assert erased.status_code == 200
    with tenancy.merchant_context(world.acme):
        assert not PayoutDetails.objects.exists()
        assert Payout.objects.get().amount == 1000  # what was owed is kept (amounts only)
