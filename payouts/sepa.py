"""SEPA credit transfers: the merchant's bank pays the advocates from a pain.001.001.03 file.

`sepa_batch_create` starts every due SEPA payout of the current merchant into one
`PayoutBatch` (its public id is the file's `MsgId`); `sepa_document` writes the file with
`sepaxml` and validates it against the pain.001.001.03 XML schema that `sepaxml` ships (an
invalid file is never handed out); `sepa_csv` is the same list for people. Both are built
from the rows each time (the same file on every download; nothing with IBANs is stored but
the encrypted IBANs themselves). The merchant uploads the file to their bank, then marks the
payouts paid (`services.payout_mark_paid`).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone
from sepaxml import SepaTransfer  # type: ignore[import-untyped]

from payouts.models import Payout, PayoutBatch, PayoutDetails, PayoutMethod, PayoutStatus
from payouts.services import payout_account, payout_start
from programs.specs import SpecError
from referral_saas.money import major_text
from rewards.exports import csv_cell

SCHEMA = "pain.001.001.03"


def sepa_batch_create(*, now: datetime | None = None) -> PayoutBatch | None:
    """One file for every due SEPA payout (None when there is none)."""
    now = now or timezone.now()
    account = payout_account()
    if not account.sepa_configured:
        raise SpecError(
            {"sepa_debtor_iban": "Add the bank account the transfers are paid from first."}
        )
    due = Payout.objects.filter(
        status=PayoutStatus.DUE, method=PayoutMethod.SEPA_CREDIT_TRANSFER
    ).order_by("pk")
    started = [
        pk for pk in due.values_list("pk", flat=True) if payout_start(pk, now=now, lease_for=False)
    ]
    if not started:
        return None
    with transaction.atomic():
        batch = PayoutBatch.objects.create(
            method=PayoutMethod.SEPA_CREDIT_TRANSFER, status="file", execution_date=now.date()
        )
        Payout.objects.filter(pk__in=started, batch__isnull=True).update(batch=batch)
    return batch


def _payments(batch: PayoutBatch) -> list[tuple[Payout, PayoutDetails | None]]:
    payouts = list(batch.payouts.select_related("advocate").order_by("pk"))
    details = {
        d.advocate_id: d
        for d in PayoutDetails.objects.filter(advocate_id__in=[p.advocate_id for p in payouts])
    }
    return [(p, details.get(p.advocate_id)) for p in payouts]


def sepa_document(batch: PayoutBatch) -> bytes:
    """The pain.001.001.03 file of the batch, validated against its XML schema."""
    account = payout_account()
    config = {
        "name": account.sepa_debtor_name,
        "IBAN": account.sepa_debtor_iban,
        "batch": True,
        "currency": "EUR",
    }
    if account.sepa_debtor_bic:
        config["BIC"] = account.sepa_debtor_bic
    transfer = SepaTransfer(config, schema=SCHEMA, clean=True)
    _set_message_id(transfer, batch.public_id)
    execution = batch.execution_date or date.today()
    missing = []
    for payout, details in _payments(batch):
        if details is None or not details.iban:
            missing.append(payout.public_id)
            continue
        payment = {
            "name": details.account_holder,
            "IBAN": details.iban,
            "amount": int(payout.amount),
            "execution_date": execution,
            "description": f"Referral rewards {payout.public_id}",
            "endtoend_id": payout.public_id[:35],
        }
        if details.bic:
            payment["BIC"] = details.bic
        transfer.add_payment(payment)
    if missing:
        raise SpecError(
            {"iban": f"No IBAN on file for payout(s) {', '.join(missing)}: mark them failed."}
        )
    return bytes(transfer.export(validate=True, pretty_print=True))


def _set_message_id(transfer: SepaTransfer, message_id: str) -> None:
    transfer.msg_id = message_id
    header = transfer._xml.find(transfer.root_el).find("GrpHdr")
    header.find("MsgId").text = message_id


def sepa_csv(batch: PayoutBatch) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["payout", "advocate", "account_holder", "iban", "bic", "amount", "currency", "reference"]
    )
    for payout, details in _payments(batch):
        row = [
            payout.public_id,
            payout.advocate.public_id,
            details.account_holder if details else "",
            details.iban if details else "",
            details.bic if details else "",
            major_text(payout.amount, payout.currency),
            payout.currency,
            f"Referral rewards {payout.public_id}",
        ]
        writer.writerow([csv_cell(value) for value in row])  # formulas defused (CSV injection)
    return out.getvalue()
