"""PayPal payouts for the current merchant: one batch per run, statuses followed after.

1. **Resume**: a batch whose payouts are processing but whose PayPal id we never stored (the
   worker died after sending) is sent again when the lease ends: same `sender_batch_id`, same
   `PayPal-Request-Id`, so PayPal hands back the batch it made.
2. **New batch**: every due PayPal payout is started (`payout_start`) and attached to one new
   `PayoutBatch` in one transaction, committed *before* the request, so what we asked for is
   on record whatever happens next.
3. **Follow**: each open batch is read back; an item `SUCCESS` pays its payout, a final failure
   (`FAILED`, `RETURNED`, `BLOCKED`, …) fails it with PayPal's reason, the rest wait.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from payouts import paypal_gateway as gateway
from payouts.models import Payout, PayoutBatch, PayoutDetails, PayoutMethod, PayoutStatus
from payouts.services import lease, payout_account, payout_fail, payout_paid, payout_start
from referral_saas.money import major_text

logger = logging.getLogger(__name__)


def _lines(batch: PayoutBatch) -> list[gateway.PayoutLine]:
    payouts = list(batch.payouts.filter(status=PayoutStatus.PROCESSING).order_by("pk"))
    emails = dict(
        PayoutDetails.objects.filter(advocate_id__in=[p.advocate_id for p in payouts]).values_list(
            "advocate_id", "paypal_email"
        )
    )
    lines = []
    for payout in payouts:
        email = emails.get(payout.advocate_id) or ""
        if not email:
            payout_fail(payout, reason="The advocate removed their PayPal email.")
            continue
        lines.append(
            gateway.PayoutLine(
                sender_item_id=payout.public_id,
                receiver=email,
                amount=major_text(payout.amount, payout.currency),
                currency=payout.currency,
                note=f"Referral rewards ({payout.public_id})",
            )
        )
    return lines


def _send(batch: PayoutBatch, now: datetime) -> str:
    account = payout_account()
    lines = _lines(batch)
    if not lines:
        return "empty"
    try:
        made = gateway.batch_create(
            client_id=account.paypal_client_id,
            client_secret=account.paypal_client_secret,
            sender_batch_id=batch.public_id,
            lines=lines,
            email_subject="You have a payout",
        )
    except gateway.PayPalError as error:
        if error.retriable:
            batch.payouts.filter(status=PayoutStatus.PROCESSING).update(
                lease_until=now + lease(), failure_reason=error.message[:500]
            )
            return "retry"
        for payout in batch.payouts.filter(status=PayoutStatus.PROCESSING):
            payout_fail(payout, reason=error.message, now=now)
        return "failed"
    PayoutBatch.objects.filter(pk=batch.pk).update(
        provider_batch_id=made.payout_batch_id, status=made.batch_status
    )
    batch.payouts.filter(status=PayoutStatus.PROCESSING).update(lease_until=None)
    return "sent"


def _new_batch(now: datetime) -> PayoutBatch | None:
    """Start every due PayPal payout and attach them to one new batch. A payout started by a
    run that died before attaching it (processing, no batch, lease over) joins this batch: it
    was never sent, since only a batch is sent."""
    due = Payout.objects.filter(status=PayoutStatus.DUE, method=PayoutMethod.PAYPAL)
    started = [
        pk for pk in due.order_by("pk").values_list("pk", flat=True) if payout_start(pk, now=now)
    ]
    orphans = Payout.objects.filter(
        status=PayoutStatus.PROCESSING,
        method=PayoutMethod.PAYPAL,
        batch__isnull=True,
        lease_until__lte=now,
    ).values_list("pk", flat=True)
    ids = started + list(orphans)
    if not ids:
        return None
    with transaction.atomic():
        batch = PayoutBatch.objects.create(status="creating")
        Payout.objects.filter(pk__in=ids, batch__isnull=True).update(
            batch=batch, lease_until=now + lease()
        )
    return batch


def _follow(batch: PayoutBatch, now: datetime) -> tuple[int, int]:
    account = payout_account()
    try:
        found = gateway.batch_get(
            client_id=account.paypal_client_id,
            client_secret=account.paypal_client_secret,
            payout_batch_id=batch.provider_batch_id,
        )
    except gateway.PayPalError as error:
        logger.warning("PayPal batch %s not read: %s", batch.public_id, error.message)
        return 0, 0
    PayoutBatch.objects.filter(pk=batch.pk).update(status=found.batch_status)
    by_id = {p.public_id: p for p in batch.payouts.filter(status=PayoutStatus.PROCESSING)}
    paid = failed = 0
    for item in found.items:
        payout = by_id.get(item.sender_item_id)
        if payout is None:
            continue
        if item.transaction_status == gateway.SUCCESS:
            paid += payout_paid(payout, external_id=item.payout_item_id, now=now)
        elif item.transaction_status in gateway.FAILED_STATUSES:
            reason = f"PayPal: {item.transaction_status}" + (
                f" ({item.error})" if item.error else ""
            )
            failed += payout_fail(payout, reason=reason, now=now)
    return paid, failed


def paypal_run(*, now: datetime) -> dict[str, int]:
    outcome = {"sent": 0, "paid": 0, "failed": 0}
    stranded = PayoutBatch.objects.filter(
        provider_batch_id="",
        payouts__status=PayoutStatus.PROCESSING,
        payouts__lease_until__lte=now,
    ).distinct()
    for batch in list(stranded):
        outcome["sent"] += _send(batch, now) == "sent"
    batch = _new_batch(now)
    if batch is not None:
        outcome["sent"] += _send(batch, now) == "sent"
    open_batches = PayoutBatch.objects.filter(
        ~Q(provider_batch_id=""), payouts__status=PayoutStatus.PROCESSING
    ).distinct()
    for batch in list(open_batches):
        paid, failed = _follow(batch, now)
        outcome["paid"] += paid
        outcome["failed"] += failed
    return outcome
