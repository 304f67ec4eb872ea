"""Payouts: grouping what advocates are owed, then paying it exactly once.

**Grouping** (`payouts_create_due`, periodic): an advocate's balance is the sum of their cash
rewards fulfilled by `payout` that are `approved` and in no live payout (earnings), minus the
rewards that were already paid and then refunded (voided or clawed back; deductions), and minus
what a partial refund took off a commission already given by another method (a Stripe
transfer or balance credit, by hand: `Reward.given_amount`, set by `commission_adjust`). Once the
balance reaches the program's minimum (`ProgramPayoutPolicy`, any positive amount without one),
one `Payout` is created with a ledger line per reward. The lines' partial unique constraint is
the backstop: a reward is earned into at most one live payout, so two concurrent runs cannot
pay it twice (the second insert fails and that run changes nothing); deductions never exceed
what was paid for the reward (`_owed_back`, under the advocate's lock). A negative balance
simply waits for the next earnings: carried, never lost.

**Paying**: the method is fixed when the payout is created, from the advocate's details and the
merchant's setup (`method_for`). Starting a payout (`payout_start`) re-reads its rewards under
row locks and drops those refunded meanwhile, then claims it `due → processing` with a lease.
Stripe transfers carry the idempotency key `<payout id>:transfer`, PayPal batches our batch id
as `sender_batch_id` and `PayPal-Request-Id` and the payout id as `sender_item_id`: a worker
killed after the provider answered leaves the payout `processing` with its lease; when the lease
ends the next run repeats the same call and gets the first answer back (`payouts_sweep`).
SEPA payouts are claimed into a file (`sepa.py`) the merchant uploads to their bank, then marks
paid (`payout_mark_paid`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.http import HttpRequest
from django.utils import timezone

import events
from accounts.models import Merchant, User
from payouts.models import (
    Payout,
    PayoutAccount,
    PayoutDetails,
    PayoutItem,
    PayoutItemKind,
    PayoutMethod,
    PayoutStatus,
    ProgramPayoutPolicy,
)
from payouts.transitions import payout_payload, payout_transition
from programs.specs import SpecError
from referral_saas import stripe_gateway, tenancy
from referral_saas.db import xact_lock
from rewards.models import Reward, RewardRecipient, RewardStatus
from tracking.models import Advocate

logger = logging.getLogger(__name__)

PAYOUT_FULFILMENT = "payout"
# Paid, then refunded: what the next payout deducts.
REFUNDED_AFTER_PAY = (RewardStatus.VOIDED, RewardStatus.CLAWED_BACK)
MERCHANT_PAID_METHODS = (PayoutMethod.SEPA_CREDIT_TRANSFER, PayoutMethod.MANUAL)
BACKOFF_SECONDS = (60, 300, 1800, 7200, 21600)


def lease() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "PAYOUT_LEASE_SECONDS", 300)))


def max_attempts() -> int:
    return int(getattr(settings, "PAYOUT_MAX_ATTEMPTS", 6))


def _payout_rewards() -> Q:
    return Q(
        recipient=RewardRecipient.ADVOCATE,
        fulfilment_method=PAYOUT_FULFILMENT,
        amount__gt=0,
    )


def _live(kind: str) -> object:
    return PayoutItem.objects.filter(kind=kind, active=True).values("reward_id")


def _earnings(advocate_id: int | None = None) -> object:
    rewards = Reward.objects.filter(_payout_rewards(), status=RewardStatus.APPROVED).exclude(
        pk__in=_live(PayoutItemKind.EARNING)
    )
    return rewards.filter(advocate_id=advocate_id) if advocate_id else rewards


def _deductions(advocate_id: int | None = None) -> object:
    """Paid earnings worth less now: the reward was refunded (voided, clawed back) or its
    commission lowered by a partial refund. Each gets a deduction of what is still owed back
    (`_owed_back`); several partial refunds make several deductions, never more than paid."""
    paid = PayoutItem.objects.filter(
        kind=PayoutItemKind.EARNING, active=True, payout__status=PayoutStatus.PAID
    ).filter(Q(reward__status__in=REFUNDED_AFTER_PAY) | Q(reward__amount__lt=F("amount")))
    return paid.filter(reward__advocate_id=advocate_id) if advocate_id else paid


def _owed_back(item: PayoutItem) -> int:
    """Paid for the reward, minus what it is worth now, minus what was already deducted or
    settled out of a later Stripe transfer (`settled_amount`, rewards.fulfilment._net_owed)."""
    now_worth = 0 if item.reward.status in REFUNDED_AFTER_PAY else int(item.reward.amount or 0)
    settled = item.reward.settled_amount
    return max(item.amount - now_worth - _deducted(item.reward_id) - settled, 0)


def _deducted(reward_id: int) -> int:
    return -(
        PayoutItem.objects.filter(
            reward_id=reward_id, kind=PayoutItemKind.DEDUCTION, active=True
        ).aggregate(t=Sum("amount"))["t"]
        or 0
    )


def _given_back(advocate_id: int) -> list[tuple[Reward, int]]:
    """Commissions given outside payouts and lowered by a partial refund since, with what is
    still owed back: given, minus what they are worth now, minus what was already deducted
    or settled out of a later Stripe transfer. (A later claw-back reverses only the lowered
    amount through the method, so the difference stays the ledger's.) A Stripe transfer
    lowered by netting and then refunded sent less than it was worth: its reversal takes back
    at most what was sent, and the netted rest is owed back here."""
    netted_then_refunded = Q(netted_amount__gt=0, status__in=REFUNDED_AFTER_PAY)
    # A transfer decided but not yet issued (or failed) has given nothing yet.
    rewards = (
        Reward.objects.filter(
            Q(given_amount__isnull=False, given_amount__gt=F("amount")) | netted_then_refunded,
            advocate_id=advocate_id,
        )
        .exclude(status__in=(RewardStatus.APPROVED, RewardStatus.FAILED))
        .order_by("pk")
    )
    owed = [
        (r, _given_value(r) - _recovered(r) - _deducted(r.pk) - r.settled_amount) for r in rewards
    ]
    return [(reward, amount) for reward, amount in owed if amount > 0]


def _given_value(reward: Reward) -> int:
    return int(reward.given_amount if reward.given_amount is not None else reward.amount or 0)


def _recovered(reward: Reward) -> int:
    """What the reward is worth now, or (refunded) what its reversal takes back."""
    amount = int(reward.amount or 0)
    if reward.netted_amount and reward.status in REFUNDED_AFTER_PAY:
        sent = _given_value(reward) - reward.netted_amount
        if not reward.fulfilment_external_id:  # voided before its transfer was sent
            return sent
        return min(amount, sent)
    return amount


def owed_back(advocate_id: int) -> list[tuple[Reward, int]]:
    """What the advocate owes back (reward, amount): the negative balance that their next
    payout deducts, or their next Stripe transfer reward nets (registered with
    rewards.fulfilment by PayoutsConfig; call under the advocate's payouts lock)."""
    return _owed(advocate_id)


def _owed(advocate_id: int) -> list[tuple[Reward, int]]:
    """Every reward the advocate owes money back for, and how much (positive)."""
    items = _deductions(advocate_id).select_related("reward").order_by("pk")  # type: ignore[attr-defined]
    paid = [(item.reward, _owed_back(item)) for item in items]
    return [(reward, owed) for reward, owed in paid if owed > 0] + _given_back(advocate_id)


def minimum_for(program_id: int) -> int:
    policy = ProgramPayoutPolicy.objects.filter(program_id=program_id).first()
    return policy.minimum_amount if policy else 0


def program_minimum_set(*, program_id: int, minimum_amount: int) -> ProgramPayoutPolicy:
    if isinstance(minimum_amount, bool) or not isinstance(minimum_amount, int):
        raise SpecError({"minimum_amount": "Must be a whole number of minor units."})
    if not 0 <= minimum_amount <= 100_000_000_00:
        raise SpecError({"minimum_amount": "Must be between 0 and 10000000000."})
    policy, _ = ProgramPayoutPolicy.objects.update_or_create(
        program_id=program_id, defaults={"minimum_amount": minimum_amount}
    )
    return policy


def payout_account() -> PayoutAccount:
    account = PayoutAccount.objects.filter().first()
    return account or PayoutAccount(merchant=tenancy.get_current_merchant())


def method_for(details: PayoutDetails | None, *, currency: str) -> str:
    """How a new payout will be paid: the advocate's choice when both sides are set up for it,
    else `manual` (the merchant pays by hand and marks it paid)."""
    if details is None:
        return PayoutMethod.MANUAL
    account = payout_account()
    if (
        details.method == PayoutMethod.STRIPE_TRANSFER
        and details.stripe_account_id
        and details.stripe_payouts_enabled
        and _merchant_stripe_account()
    ):
        return PayoutMethod.STRIPE_TRANSFER
    if details.method == PayoutMethod.PAYPAL and details.paypal_email and account.paypal_configured:
        return PayoutMethod.PAYPAL
    if (
        details.method == PayoutMethod.SEPA_CREDIT_TRANSFER
        and details.iban
        and currency == "EUR"
        and account.sepa_configured
    ):
        return PayoutMethod.SEPA_CREDIT_TRANSFER
    return PayoutMethod.MANUAL


def _merchant_stripe_account() -> str:
    """Read now, not from the cached current merchant: they may have disconnected since."""
    merchant = tenancy.get_current_merchant()
    account = Merchant.objects.filter(pk=merchant.pk).values_list("stripe_account_id", flat=True)
    return str(account.first() or "")


@dataclass(frozen=True)
class Balance:
    earned: int
    deducted: int

    @property
    def total(self) -> int:
        return self.earned + self.deducted


def advocate_balance(advocate: Advocate) -> Balance:
    """What the next payout would carry now (deductions negative)."""
    earned = _earnings(advocate.pk).aggregate(t=Sum("amount"))["t"] or 0  # type: ignore[attr-defined]
    return Balance(earned=int(earned), deducted=-sum(owed for _, owed in _owed(advocate.pk)))


def _create_for(advocate: Advocate, now: datetime) -> Payout | None:
    xact_lock(f"payouts:advocate:{advocate.pk}")  # one grouping per advocate at a time
    earnings = list(_earnings(advocate.pk).order_by("pk"))  # type: ignore[attr-defined]
    deductions = _owed(advocate.pk)
    total = sum(r.amount for r in earnings) - sum(owed for _, owed in deductions)
    if not earnings or total <= 0 or total < minimum_for(advocate.program_id):
        return None
    currency = earnings[0].currency
    details = PayoutDetails.objects.filter(advocate=advocate).first()
    payout = Payout.objects.create(
        advocate=advocate,
        program_id=advocate.program_id,
        amount=total,
        currency=currency,
        method=method_for(details, currency=currency),
        history=[{"at": now.isoformat(), "status": "due", "detail": "Balance reached."}],
        created_at=now,
        updated_at=now,
    )
    PayoutItem.objects.bulk_create(
        [PayoutItem(payout=payout, reward=r, kind="earning", amount=r.amount) for r in earnings]
        + [
            PayoutItem(payout=payout, reward=r, kind="deduction", amount=-owed)
            for r, owed in deductions
        ]
    )
    events.emit("payout.created", lambda: payout_payload(payout), subject=payout)
    return payout


def payouts_create_due(*, now: datetime | None = None) -> list[Payout]:
    """Group the current merchant's owed balances into due payouts (see the module docstring).
    Idempotent: a second run finds every reward already in a live payout."""
    now = now or timezone.now()
    advocate_ids = sorted(
        set(_earnings().values_list("advocate_id", flat=True))  # type: ignore[attr-defined]
    )
    created: list[Payout] = []
    for advocate in Advocate.objects.filter(pk__in=advocate_ids).order_by("pk"):
        try:
            with transaction.atomic():
                payout = _create_for(advocate, now)
        except IntegrityError:  # a concurrent run took these rewards first
            logger.info("payouts for advocate %s made by a concurrent run", advocate.public_id)
            continue
        if payout is not None:
            created.append(payout)
    return created


# --- Starting and paying ---------------------------------------------------------------------


def payout_start(payout_id: int, *, now: datetime | None = None, lease_for: bool = True) -> bool:
    """due → processing, after dropping the rewards refunded while it was due (under their row
    locks, so a refund waits for this and then finds the payout processing). A payout left
    with nothing to pay fails (its deductions wait for the next one). Returns whether it
    started."""
    now = now or timezone.now()
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None or payout.status != PayoutStatus.DUE:
            return False
        earning_ids = list(
            PayoutItem.objects.filter(payout=payout, kind="earning", active=True).values_list(
                "reward_id", flat=True
            )
        )
        rewards = Reward.objects.select_for_update().filter(pk__in=earning_ids).order_by("pk")
        gone = [r.pk for r in rewards if r.status != RewardStatus.APPROVED]
        for reward in rewards:  # a commission lowered by a partial refund while due
            if reward.pk not in gone:
                PayoutItem.objects.filter(
                    payout=payout, reward=reward, kind="earning", active=True
                ).exclude(amount=reward.amount).update(amount=reward.amount)
        if gone:
            PayoutItem.objects.filter(payout=payout, reward_id__in=gone, kind="earning").update(
                active=False
            )
        amount = (
            PayoutItem.objects.filter(payout=payout, active=True).aggregate(t=Sum("amount"))["t"]
            or 0
        )
        if amount <= 0:
            payout_transition(
                payout,
                "fail",
                detail="Nothing left to pay: its rewards were refunded.",
                now=now,
                failure_reason="Nothing left to pay: its rewards were refunded.",
            )
            return False
        return payout_transition(
            payout,
            "start",
            detail="Paying." if lease_for else "In a SEPA file.",
            now=now,
            amount=amount,
            attempts=F("attempts") + 1,
            lease_until=now + lease() if lease_for else None,
        )


def _reclaim(payout_id: int, now: datetime) -> bool:
    """A processing payout whose lease ran out (its worker died, or it waits for a retry):
    take it again for one more attempt with the same idempotency key."""
    return bool(
        Payout.objects.filter(
            pk=payout_id, status=PayoutStatus.PROCESSING, lease_until__lte=now
        ).update(attempts=F("attempts") + 1, lease_until=now + lease(), updated_at=now)
    )


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=BACKOFF_SECONDS[min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1])


def payout_retry_later(payout: Payout, *, error: str, now: datetime) -> str:
    """A retriable failure: wait (backoff) and try again, or give up after the last attempt."""
    payout.refresh_from_db()
    if payout.attempts >= max_attempts():
        payout_fail(payout, reason=error, now=now)
        return "failed"
    Payout.objects.filter(pk=payout.pk, status=PayoutStatus.PROCESSING).update(
        lease_until=now + _backoff(payout.attempts), failure_reason=error[:500], updated_at=now
    )
    return "retry"


def payout_fail(payout: Payout, *, reason: str, now: datetime | None = None) -> bool:
    return payout_transition(
        payout, "fail", detail=reason, now=now, failure_reason=reason[:500], lease_until=None
    )


def payout_paid(payout: Payout, *, external_id: str, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return payout_transition(
        payout,
        "pay",
        detail=f"Paid ({external_id}).",
        now=now,
        external_id=external_id[:64],
        paid_at=now,
        lease_until=None,
        failure_reason="",
    )


def payout_pay_stripe(*, payout_id: int, now: datetime | None = None) -> str:
    """One attempt to pay a Stripe payout by transfer from the merchant's connected account
    to the advocate's Express account. Idempotency key `<payout id>:transfer`."""
    now = now or timezone.now()
    if not (payout_start(payout_id, now=now) or _reclaim(payout_id, now)):
        return "skipped"
    payout = Payout.objects.select_related("advocate").get(pk=payout_id)
    merchant = Merchant.objects.get(pk=payout.merchant_id)
    details = PayoutDetails.objects.filter(advocate_id=payout.advocate_id).first()
    try:
        transfer = stripe_gateway.transfer_create(
            account=merchant.stripe_account_id,
            destination=details.stripe_account_id if details else "",
            amount=payout.amount,
            currency=payout.currency,
            idempotency_key=f"{payout.public_id}:transfer",
            description=f"Referral payout {payout.public_id}",
        )
    except stripe_gateway.StripeCallError as error:
        if not error.retriable:
            payout_fail(payout, reason=error.message, now=now)
            return "failed"
        return payout_retry_later(payout, error=error.message, now=now)
    payout_paid(payout, external_id=transfer.id, now=now)
    return "paid"


def payout_mark_paid(
    *,
    payout: Payout,
    request: HttpRequest | None = None,
    actor: User | None = None,
    reference: str = "",
) -> Payout:
    """The merchant paid it themselves: a SEPA payout (file uploaded to their bank) or a
    manual one. Stripe and PayPal payouts are confirmed by the provider, never by hand, so
    marking one paid is refused (400 on `method`): it could be paid twice. Marking a paid
    payout again changes nothing."""
    if payout.status == PayoutStatus.PAID:
        return payout
    if payout.method not in MERCHANT_PAID_METHODS:
        raise SpecError(
            {"method": f"A {payout.method} payout is marked paid by its provider, not by hand."}
        )
    now = timezone.now()
    if payout.status == PayoutStatus.DUE:
        # Reconcile first (refunds while it was due), exactly as a run would.
        payout_start(payout.pk, now=now, lease_for=False)
        payout.refresh_from_db()
    changed = payout_transition(
        payout,
        "mark_paid",
        detail="Marked paid by the merchant" + (f" ({reference[:60]})." if reference else "."),
        now=now,
        request=request,
        actor=actor,
        paid_at=now,
        external_id=reference[:64] or payout.external_id,
        lease_until=None,
    )
    if not changed:
        payout.refresh_from_db()
        if payout.status != PayoutStatus.PAID:
            raise SpecError({"status": f"A {payout.status} payout cannot be marked paid."})
    return payout


# --- The periodic run ------------------------------------------------------------------------


def payouts_run(*, now: datetime | None = None) -> dict[str, int]:
    """One run for the current merchant: group balances, pay Stripe payouts, send one PayPal
    batch and follow the earlier ones. Each step is idempotent; a crash anywhere is repaired
    by the next run."""
    from payouts import paypal

    now = now or timezone.now()
    outcome = {"created": len(payouts_create_due(now=now))}
    stripe_due = Payout.objects.filter(
        Q(status=PayoutStatus.DUE) | Q(status=PayoutStatus.PROCESSING, lease_until__lte=now),
        method=PayoutMethod.STRIPE_TRANSFER,
    ).values_list("pk", flat=True)
    for payout_id in list(stripe_due):
        result = payout_pay_stripe(payout_id=payout_id, now=now)
        outcome[f"stripe_{result}"] = outcome.get(f"stripe_{result}", 0) + 1
    for key, value in paypal.paypal_run(now=now).items():
        outcome[f"paypal_{key}"] = value
    return outcome


def merchants_with_payout_work() -> list[int]:
    """Merchants with something to group or pay (the beat fans out per merchant)."""
    owed = Reward.unscoped_all_merchants.filter(
        _payout_rewards(), status=RewardStatus.APPROVED
    ).values_list("merchant_id", flat=True)
    open_payouts = Payout.unscoped_all_merchants.filter(
        status__in=(PayoutStatus.DUE, PayoutStatus.PROCESSING),
        method__in=(PayoutMethod.STRIPE_TRANSFER, PayoutMethod.PAYPAL),
    ).values_list("merchant_id", flat=True)
    return sorted(set(owed.distinct()) | set(open_payouts.distinct()))
