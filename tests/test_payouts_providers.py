"""PayPal Payouts against a local fake written from PayPal's docs (OAuth2 client credentials,
one batch per run, our ids as sender_batch_id / sender_item_id, item statuses followed, a
re-sent batch paying once), and the SEPA credit transfer file: pain.001.001.03 checked against
the XML schema kept in tests/data, plus the CSV."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from django.test import override_settings
from django.utils import timezone

from accounts.models import Merchant
from payouts import paypal, paypal_gateway, sepa, services
from payouts.details import payout_details_set
from payouts.models import Payout, PayoutAccount, PayoutBatch, PayoutMethod, PayoutStatus
from programs.specs import SpecError
from referral_saas import tenancy
from rewards.models import Reward, RewardStatus
from tests.conftest import World
from tests.paypal_fake import CLIENT_ID, CLIENT_SECRET, FakePayPal, serve_fake_paypal
from tests.test_payouts import cash_program, earn
from tests.test_pipeline import enrol
from tracking.models import Advocate

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = Path(__file__).parent / "data" / "pain.001.001.03.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


@pytest.fixture
def acme(world: World) -> Iterator[Merchant]:
    with tenancy.merchant_context(world.acme):
        yield world.acme


@pytest.fixture
def fake() -> Iterator[FakePayPal]:
    paypal_gateway.forget_tokens()
    with serve_fake_paypal() as server, override_settings(PAYPAL_API_BASE=server.url):
        yield server
    paypal_gateway.forget_tokens()


def paypal_advocates(merchant: Merchant, count: int = 2) -> list[Advocate]:
    PayoutAccount.objects.create(paypal_client_id=CLIENT_ID, paypal_client_secret=CLIENT_SECRET)
    program = cash_program(merchant)
    advocates = []
    for n in range(count):
        advocate = enrol(program, f"advocate{n}@example.com")
        payout_details_set(advocate=advocate, method="paypal", paypal_email=f"pp{n}@example.com")
        earn(advocate, f"pp-{n}")
        advocates.append(advocate)
    return advocates


def test_one_batch_per_run_with_our_ids_then_item_statuses_are_followed(
    acme: Merchant, fake: FakePayPal
) -> None:
    first, second = paypal_advocates(acme)
    outcome = services.payouts_run()
    assert outcome["created"] == 2
    assert outcome["paypal_sent"] == 1
    (batch,) = PayoutBatch.objects.all()
    payouts = {p.advocate_id: p for p in Payout.objects.all()}
    ((_, _, headers, body),) = fake.posts("/v1/payments/payouts")
    sent = __import__("json").loads(body)
    assert headers["PayPal-Request-Id"] == batch.public_id
    assert sent["sender_batch_header"]["sender_batch_id"] == batch.public_id
    assert sorted(
        (i["sender_item_id"], i["receiver"], i["amount"]["value"]) for i in sent["items"]
    ) == sorted(
        [
            (payouts[first.pk].public_id, "pp0@example.com", "10.00"),
            (payouts[second.pk].public_id, "pp1@example.com", "10.00"),
        ]
    )
    assert {p.status for p in payouts.values()} == {PayoutStatus.PROCESSING}
    # PayPal still pending: nothing changes on the next run, and no second batch is sent
    services.payouts_run()
    assert len(fake.posts("/v1/payments/payouts")) == 1
    fake.settle(payouts[first.pk].public_id, "SUCCESS")
    fake.settle(payouts[second.pk].public_id, "RETURNED", "Receiver's account is locked.")
    outcome = services.payouts_run()
    assert (outcome["paypal_paid"], outcome["paypal_failed"]) == (1, 1)
    paid, failed = Payout.objects.get(advocate=first), Payout.objects.get(advocate=second)
    assert paid.status == PayoutStatus.PAID
    assert paid.external_id.startswith("8AELMXH8UB2P")
    assert failed.status == PayoutStatus.FAILED
    assert failed.failure_reason == "PayPal: RETURNED (Receiver's account is locked.)"
    assert Reward.objects.get(advocate=first).status == RewardStatus.ISSUED
    assert Reward.objects.get(advocate=second).status == RewardStatus.APPROVED  # owed again
    # the OAuth2 token was fetched once (cached) with the client credentials
    assert len(fake.posts("/v1/oauth2/token")) == 1


def test_a_batch_resent_after_a_crash_pays_once(
    acme: Merchant, fake: FakePayPal, monkeypatch: pytest.MonkeyPatch
) -> None:
    paypal_advocates(acme, count=1)
    real_update = PayoutBatch.objects.filter

    def crash_after_paypal_answered(*args: Any, **kwargs: Any) -> Any:
        if "pk" in kwargs and fake.posts("/v1/payments/payouts"):
            raise SystemExit("worker killed after PayPal answered")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(PayoutBatch.objects, "filter", crash_after_paypal_answered)
    with pytest.raises(SystemExit):
        services.payouts_run()
    monkeypatch.undo()
    payout = Payout.objects.get()
    assert payout.status == PayoutStatus.PROCESSING
    assert PayoutBatch.objects.get().provider_batch_id == ""
    services.payouts_run()  # lease still running: not re-sent
    assert len(fake.posts("/v1/payments/payouts")) == 1
    later = timezone.now() + timedelta(seconds=301)
    paypal.paypal_run(now=later)
    assert len(fake.posts("/v1/payments/payouts")) == 2  # re-sent, same ids
    assert len(fake.batches) == 1  # ...and PayPal made one batch
    assert PayoutBatch.objects.get().provider_batch_id == next(iter(fake.batches))
    fake.settle(payout.public_id, "SUCCESS")
    paypal.paypal_run(now=later)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID


def test_a_reused_sender_batch_id_is_found_not_paid_again(acme: Merchant, fake: FakePayPal) -> None:
    paypal_advocates(acme, count=1)
    services.payouts_run()
    batch = PayoutBatch.objects.get()
    fake.responses.clear()  # PayPal forgot the request id: only the sender_batch_id protects
    PayoutBatch.objects.filter(pk=batch.pk).update(provider_batch_id="")
    Payout.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    paypal.paypal_run(now=timezone.now())
    assert len(fake.batches) == 1
    assert PayoutBatch.objects.get().provider_batch_id == next(iter(fake.batches))


def test_wrong_paypal_credentials_fail_the_payouts_with_paypals_reason(
    acme: Merchant, fake: FakePayPal
) -> None:
    paypal_advocates(acme, count=1)
    PayoutAccount.objects.update(paypal_client_secret="wrong")
    services.payouts_run()
    payout = Payout.objects.get()
    assert payout.status == PayoutStatus.FAILED
    assert "invalid_client" in payout.failure_reason
    assert fake.posts("/v1/payments/payouts") == []


# --- SEPA ---------------------------------------------------------------------------------------

IBANS = ("PL61 1090 1014 0000 0712 1981 2874", "IT60 X054 2811 1010 0000 0123 456")


def sepa_payouts(merchant: Merchant) -> list[Payout]:
    PayoutAccount.objects.create(
        sepa_debtor_name="Acme Srl",
        sepa_debtor_iban="DE89370400440532013000",
        sepa_debtor_bic="COBADEFFXXX",
    )
    program = cash_program(merchant)
    for n, iban in enumerate(IBANS):
        advocate = enrol(program, f"sepa{n}@example.com")
        payout_details_set(
            advocate=advocate,
            method="sepa_credit_transfer",
            iban=iban,
            account_holder=f"Zoë Łukasiewicz {n}",
        )
        earn(advocate, f"sepa-{n}")
    return services.payouts_create_due()


def test_sepa_file_is_valid_pain_001_001_03_with_every_payout(acme: Merchant) -> None:
    payouts = sepa_payouts(acme)
    assert {p.method for p in payouts} == {PayoutMethod.SEPA_CREDIT_TRANSFER}
    batch = sepa.sepa_batch_create()
    assert batch is not None
    document = sepa.sepa_document(batch)
    xmlschema.XMLSchema(str(SCHEMA)).validate(document.decode())  # raises if invalid
    tree = ET.fromstring(document)  # noqa: S314 - our own file
    assert tree.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS) == batch.public_id
    assert tree.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
    assert tree.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS) == "20.00"
    ibans = [e.text or "" for e in tree.findall(".//p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:IBAN", NS)]
    assert sorted(ibans) == sorted(i.replace(" ", "") for i in IBANS)
    ends = [e.text or "" for e in tree.findall(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", NS)]
    assert sorted(ends) == sorted(p.public_id for p in payouts)
    assert {p.status for p in Payout.objects.all()} == {PayoutStatus.PROCESSING}
    # the same file on every download; no second file for payouts already in one
    assert sepa.sepa_document(batch).count(b"<CdtTrfTxInf>") == 2
    assert sepa.sepa_batch_create() is None
    rows = sepa.sepa_csv(batch).splitlines()
    assert rows[0].startswith("payout,advocate,account_holder,iban")
    assert len(rows) == 3


def test_the_merchant_marks_the_sepa_payouts_paid(acme: Merchant, world: World) -> None:
    payouts = sepa_payouts(acme)
    sepa.sepa_batch_create()
    for payout in payouts:
        services.payout_mark_paid(payout=payout, actor=world.alice)
    assert {p.status for p in Payout.objects.all()} == {PayoutStatus.PAID}
    assert {r.status for r in Reward.objects.all()} == {RewardStatus.ISSUED}


def test_a_schema_violation_is_caught_by_the_xsd(acme: Merchant) -> None:
    sepa_payouts(acme)
    batch = sepa.sepa_batch_create()
    assert batch is not None
    document = sepa.sepa_document(batch).replace(
        b"<CtrlSum>20.00</CtrlSum>", b"<CtrlSum>twenty</CtrlSum>", 1
    )
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xmlschema.XMLSchema(str(SCHEMA)).validate(document.decode())


def test_no_sepa_file_without_the_merchants_bank_account(acme: Merchant) -> None:
    with pytest.raises(SpecError) as error:
        sepa.sepa_batch_create()
    assert list(error.value.errors) == ["sepa_debtor_iban"]


def test_the_csv_defuses_a_formula_in_a_holders_name(acme: Merchant) -> None:
    PayoutAccount.objects.create(sepa_debtor_name="Acme", sepa_debtor_iban="DE89370400440532013000")
    advocate = enrol(cash_program(acme), "evil@example.com")
    payout_details_set(
        advocate=advocate,
        method="sepa_credit_transfer",
        iban=IBANS[0],
        account_holder='=HYPERLINK("http://x.example")',
    )
    earn(advocate, "csv-1")
    services.payouts_create_due()
    batch = sepa.sepa_batch_create()
    assert batch is not None
    (row,) = sepa.sepa_csv(batch).splitlines()[1:]
    assert ",\"'=HYPERLINK(" in row
