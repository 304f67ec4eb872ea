"""Issuing rewards: a registry of fulfilment methods, each able to issue and (where it can)
reverse a reward.

Exactly once, even when a worker dies mid-way:

1. an attempt first *claims* the reward with a conditional UPDATE (approved, attempt due) that
   also pushes `next_attempt_at` a lease ahead, so no second worker starts the same attempt;
2. the method's side effect is idempotent on the reward: generated codes are derived from the
   reward's id, pool codes are claimed per reward, and every Stripe call carries an idempotency
   key made from the reward's id — a repeated attempt gets the first answer back;
3. `approved → issued` is one more conditional UPDATE (the `issue` transition of
   `rewards.transitions`, like every status change here).

A worker killed between 2 and 3 leaves the reward approved with its lease running; when the
lease ends the sweeper enqueues it again and step 2 returns what was already issued.

Failures are retried with backoff (`BACKOFF_SECONDS`); after `max_attempts()` the reward is
`failed` with its last error, visible to the merchant, who can retry it. Errors that repeating
cannot fix (no Stripe customer for the person, no connected account) fail at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Merchant
from programs.models import CodePool
from programs.pools import code_pool_claim
from referral_saas import stripe_gateway, tenancy
from referral_saas.db import xact_lock
from referral_saas.money import format_money
from referral_saas.workers import enqueue_on_commit
from rewards import transitions
from rewards.models import Reward, RewardRecipient, RewardStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")

AUTOMATIC_METHODS: tuple[str, ...] = (
    "generated_code",
    "code_pool",
    "stripe_promotion_code",
    "stripe_customer_balance",
    "stripe_transfer",
)
# After the n-th failed attempt, wait BACKOFF_SECONDS[n-1] (the last value repeats).
BACKOFF_SECONDS = (60, 300, 1800, 7200, 21600)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def max_attempts() -> int:
    return int(getattr(settings, "REWARD_FULFILMENT_MAX_ATTEMPTS", 6))


def attempt_lease() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "REWARD_FULFILMENT_LEASE_SECONDS", 300)))


class FulfilmentError(Exception):
    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = retriable


@dataclass(frozen=True)
class Issued:
    code: str = ""
    external_id: str = ""


class Method(Protocol):
    name: str

    def issue(self, reward: Reward) -> Issued: ...

    def reverse(self, reward: Reward) -> str: ...


# Optional on a method: `issues_code = True` when `issue` hands out a code at once (a friend's
# offer before purchase can use it: rewards.friend_offer), and `deactivate(reward) -> str` when
# it can withdraw an unused code (an expired friend offer); without it expiry is recorded only.


def reward_code(reward: Reward) -> str:
    """A code derived from the reward's id with the installation's secret: unguessable, and
    the same on every attempt (so a retried issuance hands out the same code)."""
    length = int(reward.spec.get("code_length") or 10)
    prefix = str(reward.spec.get("code_prefix") or "")
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"reward-code:{reward.public_id}".encode(), hashlib.sha256
    ).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[index])
    return f"{prefix}{''.join(chars)}"


def _idempotency_key(reward: Reward, step: str) -> str:
    return f"{reward.public_id}:{step}"


def _account(reward: Reward) -> str:
    return str(
        Merchant.objects.filter(pk=reward.merchant_id)
        .values_list("stripe_account_id", flat=True)
        .first()
        or ""
    )


RECORDED_ONLY = (
    "We cannot withdraw it ourselves: recorded as clawed back, and the merchant is told "
    "(reward.clawed_back webhook) so they can disable it."
)


class GeneratedCode:
    name = "generated_code"
    issues_code = True

    def issue(self, reward: Reward) -> Issued:
        return Issued(code=reward_code(reward))

    def reverse(self, reward: Reward) -> str:
        return RECORDED_ONLY


class PoolCode:
    name = "code_pool"
    issues_code = True

    def issue(self, reward: Reward) -> Issued:
        pool = CodePool.objects.filter(public_id=reward.spec.get("code_pool", "")).first()
        if pool is None:
            raise FulfilmentError("The reward's code pool no longer exists.", retriable=False)
        code = code_pool_claim(pool=pool, reward_public_id=reward.public_id)
        if code is None:
            raise FulfilmentError(
                f"The code pool {pool.name} is empty: upload more codes, then retry."
            )
        return Issued(code=code)

    def reverse(self, reward: Reward) -> str:
        return RECORDED_ONLY


def _call(step: Callable[[Reward], T], reward: Reward) -> T:
    """Run a method's `issue` or `reverse`, turning the Stripe gateway's errors into
    fulfilment errors (same message, same retriable or not)."""
    try:
        return step(reward)
    except stripe_gateway.StripeCallError as error:
        raise FulfilmentError(error.message, retriable=error.retriable) from None


class StripePromotionCode:
    name = "stripe_promotion_code"
    issues_code = True

    def issue(self, reward: Reward) -> Issued:
        expires = reward.spec.get("expires_after_days")
        result = stripe_gateway.promotion_code_create(
            account=_account(reward),
            idempotency_key=_idempotency_key(reward, "issue"),
            code=reward_code(reward),
            percent_off=reward.percent,
            amount_off=reward.amount,
            currency=reward.currency or None,
            expires_at=int((timezone.now() + timedelta(days=int(expires))).timestamp())
            if expires
            else None,
        )
        return Issued(code=result.code, external_id=result.id)

    def reverse(self, reward: Reward) -> str:
        stripe_gateway.promotion_code_deactivate(
            account=_account(reward),
            promotion_code_id=reward.fulfilment_external_id,
            idempotency_key=_idempotency_key(reward, "reverse"),
        )
        return "The Stripe promotion code was deactivated."

    def deactivate(self, reward: Reward) -> str:
        return self.reverse(reward)


def _stripe_customer(reward: Reward) -> str:
    if reward.recipient == RewardRecipient.FRIEND:
        return reward.conversion.customer_id if reward.conversion is not None else ""
    return reward.advocate.customer_id


class StripeCustomerBalance:
    name = "stripe_customer_balance"

    def issue(self, reward: Reward) -> Issued:
        if reward.amount is None:
            raise FulfilmentError("Only money rewards can be credited.", retriable=False)
        result = stripe_gateway.customer_balance_adjust(
            account=_account(reward),
            customer=_stripe_customer(reward),
            amount=-reward.amount,
            currency=reward.currency,
            idempotency_key=_idempotency_key(reward, "issue"),
            description=f"Referral reward {reward.public_id}",
        )
        return Issued(external_id=result.id)

    def reverse(self, reward: Reward) -> str:
        assert reward.amount is not None
        stripe_gateway.customer_balance_adjust(
            account=_account(reward),
            customer=_stripe_customer(reward),
            amount=reward.amount,
            currency=reward.currency,
            idempotency_key=_idempotency_key(reward, "reverse"),
            description=f"Refund: referral reward {reward.public_id} reversed",
        )
        return "The Stripe balance credit was reversed."


def transferred_amount(reward: Reward) -> int:
    """What a Stripe transfer reward sends: its amount when the transfer was decided
    (`given_amount`, `_net_owed`), minus what was netted against the advocate's debt. The same
    on every attempt."""
    given = reward.given_amount if reward.given_amount is not None else reward.amount or 0
    return max(given - (reward.netted_amount or 0), 0)


class StripeTransfer:
    name = "stripe_transfer"

    def issue(self, reward: Reward) -> Issued:
        if reward.amount is None:
            raise FulfilmentError("Only money rewards can be transferred.", retriable=False)
        amount = transferred_amount(reward)
        if amount == 0:  # all of it settled what the advocate owed back: nothing to send
            return Issued()
        destination = (
            reward.advocate.stripe_account_id
            if reward.recipient == RewardRecipient.ADVOCATE
            else ""
        )
        result = stripe_gateway.transfer_create(
            account=_account(reward),
            destination=destination,
            amount=amount,
            currency=reward.currency,
            idempotency_key=_idempotency_key(reward, "issue"),
            description=f"Referral reward {reward.public_id}",
        )
        return Issued(external_id=result.id)

    def reverse(self, reward: Reward) -> str:
        # A commission lowered by a partial refund after the transfer: the difference is the
        # payouts ledger's to recover, so only what it is worth now is reversed. A transfer
        # lowered by netting sent less than the reward: at most what was sent is reversed, and
        # the ledger recovers the netted rest (payouts.services._given_back).
        sent = transferred_amount(reward)
        lowered = reward.given_amount is not None and reward.given_amount != reward.amount
        partial = lowered or bool(reward.netted_amount)
        amount = min(reward.amount or 0, sent)
        if sent == 0 or not reward.fulfilment_external_id:
            return "Nothing was transferred (it all settled what the advocate owed back)."
        stripe_gateway.transfer_reverse(
            account=_account(reward),
            transfer_id=reward.fulfilment_external_id,
            idempotency_key=_idempotency_key(reward, "reverse"),
            amount=amount if partial else None,
        )
        return "The Stripe transfer was reversed" + (
            f" for {format_money(amount, reward.currency)} (the rest is deducted "
            "from the advocate's next payout)."
            if partial
            else "."
        )


# What an advocate owes back, as (reward, amount) pairs: registered by `payouts`, whose ledger
# knows the deductions already made (payouts.services.owed_back). None: nothing is netted.
OwedBack = Callable[[int], list[tuple[Reward, int]]]
_owed_back: OwedBack | None = None


def register_owed_back(policy: OwedBack) -> None:
    global _owed_back
    _owed_back = policy


def _net_owed(reward: Reward, now: datetime) -> Reward:
    """Before an advocate's Stripe transfer is first sent: settle what they owe back (a
    commission given and then lowered by a partial refund, never paid by a payout that could
    deduct it) out of this transfer, never below zero. Decided once under the reward's row
    lock and the advocate's payouts lock (the one a payout's deductions are made under, so a
    debt is settled once), stored as `netted_amount` with the debtors' `settled_amount`; a
    retry reads it back and sends the same amount under the same idempotency key."""
    if reward.recipient != RewardRecipient.ADVOCATE or reward.advocate_id is None:
        return reward
    with transaction.atomic():
        xact_lock(f"payouts:advocate:{reward.advocate_id}")
        locked = Reward.objects.select_for_update().get(pk=reward.pk)
        if locked.netted_amount is not None or locked.status != RewardStatus.APPROVED:
            reward.netted_amount, reward.given_amount = locked.netted_amount, locked.given_amount
            return reward
        owed = [
            (debtor, amount)
            for debtor, amount in (_owed_back(reward.advocate_id) if _owed_back else [])
            if debtor.pk != reward.pk and debtor.currency == reward.currency
        ]
        debtors = {
            r.pk: r
            for r in Reward.objects.select_for_update()
            .filter(pk__in=[r.pk for r, _ in owed])
            .order_by("pk")
        }
        money = functools.partial(format_money, currency=reward.currency or "EUR")
        left, settled = locked.amount or 0, []
        for debtor, amount in owed:
            take = min(amount, left)
            if take <= 0:
                break
            left -= take
            settled.append((debtors[debtor.pk], take))
        netted = (locked.amount or 0) - left
        for debtor, take in settled:
            detail = (
                f"{money(take)} of what is owed back was settled: netted against the Stripe "
                f"transfer of reward {reward.public_id}."
            )
            Reward.objects.filter(pk=debtor.pk).update(
                settled_amount=F("settled_amount") + take,
                reasons=[
                    *debtor.reasons,
                    {"rule": "netting", "outcome": "settled", "detail": detail},
                ],
                updated_at=now,
            )
        # What the transfer gives is fixed now too: a partial refund before it is issued
        # lowers `amount` only (commission_adjust), so a retry still sends what the first
        # call sent, and the ledger recovers the difference once it is issued.
        changes: dict[str, object] = {"netted_amount": netted, "given_amount": locked.amount}
        if netted:
            owed_by = ", ".join(f"{money(take)} for reward {d.public_id}" for d, take in settled)
            detail = (
                f"{money(netted)} of the {money(locked.amount or 0)} settles what the advocate "
                f"owed back after partial refunds ({owed_by}): the transfer is "
                f"{money(left)}."
            )
            changes["reasons"] = [
                *locked.reasons,
                {"rule": "netting", "outcome": "netted", "detail": detail},
            ]
            reward.reasons = changes["reasons"]
        Reward.objects.filter(pk=reward.pk).update(**changes)
        reward.netted_amount, reward.given_amount = netted, locked.amount
    return reward


class MerchantFulfilled:
    """`webhook` and `manual`: the merchant delivers (told by the reward.approved webhook, or
    from the payout export) and confirms through `POST /api/v1/rewards/<id>/fulfil`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def issue(self, reward: Reward) -> Issued:  # pragma: no cover - never claimed
        raise FulfilmentError("The merchant fulfils this reward.", retriable=False)

    def reverse(self, reward: Reward) -> str:
        return RECORDED_ONLY


REGISTRY: dict[str, Method] = {
    method.name: method
    for method in (
        GeneratedCode(),
        PoolCode(),
        StripePromotionCode(),
        StripeCustomerBalance(),
        StripeTransfer(),
        MerchantFulfilled("webhook"),
        MerchantFulfilled("manual"),
    )
}


# Methods that only write our own rows: test mode runs them as they are.
IN_HOUSE_METHODS = frozenset({"generated_code", "code_pool", "webhook", "manual"})


class Simulated:
    """A method that would call Stripe or a store, run in a test data space: it calls nothing
    (test mode never touches a live key) and answers as the real one would, with a code where
    the method hands one out and an external id marked `sim_`."""

    def __init__(self, method: Method) -> None:
        self.method = method
        self.name = method.name
        self.issues_code = bool(getattr(method, "issues_code", False))

    def issue(self, reward: Reward) -> Issued:
        code = reward_code(reward) if self.issues_code or reward.kind != "cash" else ""
        return Issued(code=code, external_id=f"sim_{self.name}_{reward.public_id}")

    def reverse(self, reward: Reward) -> str:
        return "Simulated in test mode: nothing was issued outside our records to withdraw."

    def deactivate(self, reward: Reward) -> str:
        return "Simulated in test mode: nothing to deactivate."


def method_for(reward: Reward) -> Method:
    """The fulfilment method of `reward`, simulated in test mode when it would call out."""
    method = REGISTRY[reward.fulfilment_method]
    if method.name in IN_HOUSE_METHODS:
        return method
    current = tenancy.current_merchant_or_none()
    livemode = (
        current.livemode
        if current is not None and current.pk == reward.merchant_id
        else (
            Merchant.objects.filter(pk=reward.merchant_id)
            .values_list("livemode", flat=True)
            .first()
        )
    )
    return method if livemode is not False else Simulated(method)


def register(method: Method, *, automatic: bool = True) -> None:
    """Add a fulfilment method from an app above rewards (called from its AppConfig.ready:
    `integrations` registers the store discount codes). `automatic` methods are issued by the
    workers, like the built-in ones; the parser's list of names is `programs.specs`."""
    global AUTOMATIC_METHODS
    REGISTRY[method.name] = method
    if automatic and method.name not in AUTOMATIC_METHODS:
        AUTOMATIC_METHODS = (*AUTOMATIC_METHODS, method.name)


def _reason(outcome: str, detail: str) -> dict[str, str]:
    return {"rule": "fulfilment", "outcome": outcome, "detail": detail}


def _backoff(attempts: int) -> timedelta:
    index = min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1
    return timedelta(seconds=BACKOFF_SECONDS[index])


def reward_fulfil_attempt(*, reward_id: int, now: datetime | None = None) -> str:
    """One attempt to issue an approved reward. Returns issued / retry / failed / skipped."""
    now = now or timezone.now()
    claimed = Reward.objects.filter(
        pk=reward_id,
        status=RewardStatus.APPROVED,
        fulfilment_method__in=AUTOMATIC_METHODS,
        next_attempt_at__lte=now,
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + attempt_lease(), updated_at=now)
    if not claimed:
        return "skipped"
    reward = Reward.objects.select_related("advocate", "conversion").get(pk=reward_id)
    if reward.fulfilment_method == StripeTransfer.name:
        reward = _net_owed(reward, now)
    method = method_for(reward)
    try:
        issued = _call(method.issue, reward)
    except FulfilmentError as error:
        give_up = not error.retriable or reward.attempts >= max_attempts()
        if give_up:
            transitions.reward_transition(
                reward,
                "fail",
                reason=_reason("failed", error.message),
                now=now,
                refresh=False,
                next_attempt_at=None,
                last_error=error.message[:500],
            )
            logger.warning("reward %s failed: %s", reward.public_id, error.message)
            return "failed"
        Reward.objects.filter(pk=reward.pk, status=RewardStatus.APPROVED).update(
            next_attempt_at=now + _backoff(reward.attempts),
            last_error=error.message[:500],
            updated_at=now,
        )
        return "retry"
    with transaction.atomic():
        changed = transitions.reward_transition(
            reward,
            "issue",
            reason=_reason("issued", f"Issued by {method.name}."),
            now=now,
            fulfilment_code=issued.code,
            fulfilment_external_id=issued.external_id,
            issued_at=now,
            next_attempt_at=None,
            last_error="",
        )
        if not changed:
            reward.refresh_from_db()
            # Voided by a refund while we were issuing: take back what was just issued.
            if reward.status == RewardStatus.VOIDED:
                reward.fulfilment_code = issued.code
                reward.fulfilment_external_id = issued.external_id
                Reward.objects.filter(pk=reward.pk).update(
                    fulfilment_code=issued.code, fulfilment_external_id=issued.external_id
                )
                _enqueue_reverse(reward)
            return "skipped"
        # The "reward earned" email: hosted consumes reward.issued (origin "issue").
    return "issued"


def reward_retry(
    *, reward: Reward, now: datetime | None = None, audit: transitions.Audit | None = None
) -> Reward:
    """failed → approved, due now (the merchant's retry button). Attempts start again.
    Audited as `reward.retried` when `audit` says who asked."""
    from programs.specs import SpecError

    now = now or timezone.now()
    changed = transitions.reward_transition(
        reward,
        "retry",
        reason=_reason("retry", "Retried by the merchant."),
        now=now,
        audit=audit,
        attempts=0,
        next_attempt_at=now,
    )
    if not changed:
        raise SpecError({"status": "Only failed rewards can be retried."})
    from rewards.tasks import reward_fulfil_task

    enqueue_on_commit(reward_fulfil_task, merchant_id=reward.merchant_id, reward_id=reward.pk)
    return reward


def _enqueue_reverse(reward: Reward) -> None:
    from rewards.tasks import reward_reverse_task

    enqueue_on_commit(reward_reverse_task, merchant_id=reward.merchant_id, reward_id=reward.pk)


def reward_claw_back(*, reward: Reward, why: str, now: datetime) -> None:
    """issued → clawed_back (the caller holds the reward's row lock); the reversal itself runs
    after commit, in `reward_reverse`, because it may call Stripe."""
    if transitions.reward_transition(
        reward,
        "claw_back",
        reason={"rule": "refund", "outcome": "clawed_back", "detail": why},
        now=now,
        clawed_back_at=now,
    ):
        _enqueue_reverse(reward)


def reward_reverse(*, reward_id: int) -> str:
    """Undo what a clawed-back (or voided-while-issuing) reward gave, where the method can;
    record the outcome on the reward either way. Raises FulfilmentError when worth retrying."""
    reward = Reward.objects.select_related("advocate", "conversion").get(pk=reward_id)
    if any(r.get("rule") == "reversal" for r in reward.reasons):
        return "done"
    method = method_for(reward)
    try:
        detail = _call(method.reverse, reward)
        outcome = "reversed" if detail != RECORDED_ONLY else "recorded"
    except FulfilmentError as error:
        if error.retriable:
            raise
        detail, outcome = f"The reversal failed: {error.message}", "failed"
    with transaction.atomic():
        locked = Reward.objects.select_for_update().get(pk=reward_id)
        if not any(r.get("rule") == "reversal" for r in locked.reasons):
            locked.reasons = [
                *locked.reasons,
                {"rule": "reversal", "outcome": outcome, "detail": detail},
            ]
            locked.save(update_fields=["reasons"])
    return outcome
