"""The friend's offer, issued before the first order (DESIGN.md §3, "Friend offer").

A friend who accepts the offer (the friend page of `/r/<code>`, or `POST /api/v1/referrals`)
gets their own friend reward at once, through its fulfilment method (a generated code, a pool
code, a Stripe promotion code, or any method of `rewards.fulfilment.REGISTRY` that says it
`issues_code`). That reward has no conversion yet: the order that spends it is attributed by its
code (or, with no code, by the friend's email) and the reward becomes `redeemed`
(`friend_offer_redeem`, called by the pipeline's evaluation); unspent, it becomes `expired`
after its `expires_after_days` (`friend_offers_expire_due`, in the pipeline's sweep).

Idempotency key: (program, keyed hash of the friend's normalised email), unique in the database
(`reward_one_friend_offer`): asking twice, or fifty times at once, gives one reward and one code.
The insert and the issuance are one transaction, so a concurrent second request waits on the
unique index and then reads the issued reward.

The fraud rules that can be judged before an order run at issue time, each with the outcome the
program configures for it (`reject`: no reward, a reason; `review`: a `held` reward without a
code until the merchant approves it; `score_only`/`off`: nothing): self-referral (the
advocate's normalised email), disposable domain, velocity per advocate and per IP (IP alone at
most a review), an existing customer when the program is new-customers-only.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

import events
from programs.models import Program, ProgramType
from programs.services import program_config
from programs.specs import ProgramConfig, RewardSpec
from referral_saas.db import JsonArrayAppend
from referral_saas.emails import NormalisedEmail, disposable_match, normalise_email
from referral_saas.workers import enqueue_on_commit
from rewards import transitions
from rewards.models import Reward, RewardRecipient, RewardStatus
from rewards.pipeline.common import _reason
from rewards.pipeline.decide import reward_cost
from rewards.pipeline.payloads import emit, reward_payload
from tracking.models import Advocate, Conversion, Referral

REJECT, REVIEW = "reject", "review"
VELOCITY_WINDOW = timedelta(hours=24)

# What the friend is told, per reason (the hosted page translates the code; the API gives both).
MESSAGES = {
    "no_friend_offer": "This program gives the friend nothing before the order.",
    "self_referral": "You cannot use your own referral link.",
    "disposable_email": "Please use a permanent email address, not a throwaway one.",
    "velocity": "Too many gifts were claimed through this link recently. Please try again later.",
    "existing_customer": "This gift is for new customers only.",
    "held": "Your gift is being checked; we will email you the code once it is approved.",
    "issuing": "Your code is on its way: we will email it to you in a few minutes.",
    "expired": "This gift has expired.",
    "redeemed": "This gift was already used for an order.",
    "voided": "This gift is no longer available.",
}


@dataclass(frozen=True)
class OfferOutcome:
    """The friend's reward (None when none was issued) and, when there is no code to show,
    why: one of `MESSAGES`' keys."""

    reward: Reward | None
    reason: str = ""

    @property
    def code(self) -> str:
        return self.reward.fulfilment_code if self.reward is not None else ""

    @property
    def message(self) -> str:
        return MESSAGES.get(self.reason, "")


def friend_key(email: str) -> str:
    """The idempotency key of a friend's offer: a keyed hash of the normalised email (Gmail
    dots, plus-tags and case do not make another person)."""
    key = hashlib.sha256(f"friend-offer:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()


def friend_spec(config: ProgramConfig, advocate: Advocate) -> RewardSpec | None:
    """The friend's reward, with the advocate's A/B variant applied."""
    spec = config.friend_reward
    for variant in config.variants:
        if variant.key == advocate.variant_key and variant.friend_reward is not None:
            spec = variant.friend_reward
    return spec


def issues_code(method_name: str) -> bool:
    """Whether the fulfilment method hands out a code at once (what a friend's offer is)."""
    from rewards.fulfilment import REGISTRY  # deferred: fulfilment imports the pipeline

    method = REGISTRY.get(method_name)
    return bool(getattr(method, "issues_code", False))


def offered(
    program: Program, advocate: Advocate, config: ProgramConfig | None = None
) -> RewardSpec | None:
    """The friend reward this advocate's link offers before purchase, or None (one-sided
    programs, or a method that cannot hand out a code at once). No query with `config`."""
    if program.type == ProgramType.ONE_SIDED:
        return None
    spec = friend_spec(config or program_config(program), advocate)
    if spec is None or not issues_code(spec.fulfilment):
        return None
    return spec


def _outcome_for(reward: Reward) -> OfferOutcome:
    if reward.status == RewardStatus.ISSUED:
        return OfferOutcome(reward)
    if reward.status == RewardStatus.HELD:
        return OfferOutcome(reward, "held")
    if reward.status in (RewardStatus.APPROVED, RewardStatus.FAILED):
        return OfferOutcome(reward, "issuing")
    if reward.status in (RewardStatus.REDEEMED, RewardStatus.EXPIRED):
        return OfferOutcome(reward, str(reward.status))
    return OfferOutcome(reward, "voided")


def _signals(
    *,
    program: Program,
    config: ProgramConfig,
    advocate: Advocate,
    email: str,
    ip_hash: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """The issue-time fraud rules that hit, as reasons with their configured outcome."""
    outcomes = config.fraud.outcomes
    found: list[dict[str, Any]] = []

    def hit(rule: str, detail: str, *, ceiling: str = REJECT, **evidence: Any) -> None:
        outcome = outcomes.get(rule, "off")
        if outcome == REJECT and ceiling == REVIEW:
            outcome = REVIEW
        if outcome in (REJECT, REVIEW):
            found.append(_reason(rule, outcome, detail, evidence=evidence))

    normalised = normalise_email(email)
    if normalised == normalise_email(advocate.email):
        hit("self_referral", "The friend's email is the advocate's own (normalised).")
    listed = disposable_match(email)
    if listed is not None:
        hit(
            "disposable_email",
            f"The friend's email uses a throwaway mail service ({listed}).",
            listed_domain=listed,
        )
    since = now - VELOCITY_WINDOW
    offers = Reward.objects.filter(program=program, created_at__gte=since).exclude(friend_key="")
    per_advocate = offers.filter(advocate=advocate).count()
    if per_advocate + 1 > config.fraud.velocity_per_advocate_per_day:
        hit(
            "velocity",
            f"{per_advocate + 1} friend offers through this advocate in 24 hours "
            f"(limit {config.fraud.velocity_per_advocate_per_day}).",
            count=per_advocate + 1,
            limit="advocate_per_day",
        )
    elif ip_hash:
        per_ip = offers.filter(friend_ip_hash=ip_hash).count()
        if per_ip + 1 > config.fraud.velocity_per_ip_per_day:
            hit(
                "velocity",
                f"{per_ip + 1} friend offers from one IP address in 24 hours "
                f"(limit {config.fraud.velocity_per_ip_per_day}).",
                ceiling=REVIEW,
                count=per_ip + 1,
                limit="ip_per_day",
            )
    if config.rules.new_customers_only:
        earlier = (
            Conversion.objects.alias(email_normalised=NormalisedEmail("customer_email"))
            .filter(email_normalised=normalised)
            .values_list("order_id", flat=True)
            .first()
        )
        if earlier is not None:
            hit(
                "existing_customer",
                f"The friend has ordered before (order {earlier}); the program is for new "
                "customers only.",
                earlier_order_id=earlier,
            )
    return found


def friend_offer_issue(
    *,
    referral: Referral,
    email: str,
    ip_hash: str = "",
    locale: str = "",
    now: datetime | None = None,
) -> OfferOutcome:
    """Issue the friend's reward for `referral` (the friend's own code), or return the one
    issued before for this friend (same normalised email) in the program. Side effects: the
    reward row, `reward.created`/`reward.approved`/`reward.issued` events (webhooks; hosted
    emails the code on `reward.issued`), the fulfilment method's side effect (a pool code
    claimed, a Stripe promotion code created with the key `<reward>:issue`)."""
    now = now or timezone.now()
    key = friend_key(email)
    # Asking again is one query: the offer issued before.
    existing = Reward.objects.filter(program_id=referral.program_id, friend_key=key).first()
    if existing is not None:
        return _outcome_for(existing)
    advocate = Advocate.objects.select_related("program").get(pk=referral.advocate_id)
    program = advocate.program
    config = program_config(program)
    spec = offered(program, advocate, config)
    if spec is None:
        return OfferOutcome(None, "no_friend_offer")
    signals = _signals(
        program=program, config=config, advocate=advocate, email=email, ip_hash=ip_hash, now=now
    )
    rejected = [signal for signal in signals if signal["outcome"] == REJECT]
    if rejected:
        return OfferOutcome(None, str(rejected[0]["rule"]))
    status = RewardStatus.HELD if signals else RewardStatus.APPROVED
    try:
        # One unit of work emitting three events: consumers look up once (events.scope).
        with events.scope(), transaction.atomic():
            reward = _create(
                referral=referral,
                advocate=advocate,
                program=program,
                spec=spec,
                key=key,
                status=status,
                reasons=signals,
                ip_hash=ip_hash,
                locale=locale if locale in program.locales else program.default_locale,
                now=now,
            )
            if status == RewardStatus.APPROVED:
                from rewards.fulfilment import reward_fulfil_attempt  # deferred: see above

                # In this transaction: a concurrent request for the same friend waits on the
                # unique key, then finds the reward issued, code and all.
                reward_fulfil_attempt(reward_id=reward.pk, now=now)
                reward.refresh_from_db()
    except IntegrityError:
        return _outcome_for(Reward.objects.get(program=program, friend_key=key))
    return _outcome_for(reward)


def _create(
    *,
    referral: Referral,
    advocate: Advocate,
    program: Program,
    spec: RewardSpec,
    key: str,
    status: str,
    reasons: list[dict[str, Any]],
    ip_hash: str,
    locale: str,
    now: datetime,
) -> Reward:
    expires_at = now + timedelta(days=spec.expires_after_days) if spec.expires_after_days else None
    detail = (
        "A friend's offer, held while the merchant checks it."
        if status == RewardStatus.HELD
        else "A friend's offer, issued before the first order."
    )
    reward = Reward.objects.create(
        recipient=RewardRecipient.FRIEND,
        advocate=advocate,
        conversion=None,
        referral=referral,
        program=program,
        kind=spec.kind,
        amount=spec.amount,
        currency=(spec.currency or program.currency) if spec.amount is not None else "",
        percent=spec.percent,
        points=spec.points,
        label=spec.label,
        fulfilment_method=spec.fulfilment,
        spec=spec.to_dict(),
        cost=spec.amount if spec.amount is not None and spec.percent is None else 0,
        status=status,
        available_at=now,
        next_attempt_at=now if status == RewardStatus.APPROVED else None,
        friend_key=key,
        friend_locale=locale,
        friend_ip_hash=ip_hash,
        expires_at=expires_at,
        reasons=[*reasons, _reason("friend_offer", status, detail)],
        created_at=now,
        updated_at=now,
    )
    emit("reward.created", functools.partial(reward_payload, reward), subject=reward)
    if status == RewardStatus.APPROVED:
        emit("reward.approved", functools.partial(reward_payload, reward), subject=reward)
    return reward


# --- Redemption --------------------------------------------------------------------------------


def friend_offer_redeem(
    *, reward: Reward, conversion: Conversion, now: datetime
) -> dict[str, Any] | None:
    """Spend the friend's offer on `conversion` (issued → redeemed, once). Returns None when it
    did, else the reason to record on the conversion (`friend_code_reused` for an offer spent
    on an earlier order). The caller holds the conversion's row lock."""
    cost = reward_cost(
        _spec(reward),
        order_amount=conversion.amount,
        currency=reward.currency or conversion.currency,
    )
    if transitions.reward_transition(
        reward,
        "redeem",
        reason=_reason("friend_offer", "redeemed", f"Spent on order {conversion.order_id}."),
        now=now,
        conversion=conversion,
        redeemed_at=now,
        cost=cost,
    ):
        return None
    reward.refresh_from_db()
    if reward.status == RewardStatus.REDEEMED:
        first = (
            Conversion.objects.filter(pk=reward.conversion_id)
            .values_list("order_id", flat=True)
            .first()
        )
        return _reason(
            "friend_code_reused",
            "info",
            f"The friend's code {reward.fulfilment_code or reward.public_id} was already used "
            f"for order {first}: no second friend reward.",
            evidence={"reward": reward.public_id, "first_order_id": first},
        )
    return _reason(
        f"friend_offer_{reward.status}",
        "info",
        f"The friend's offer {reward.public_id} is {reward.status}: not redeemed by this order.",
        evidence={"reward": reward.public_id},
    )


def _spec(reward: Reward) -> RewardSpec:
    return RewardSpec(
        kind=reward.kind,
        fulfilment=reward.fulfilment_method,
        amount=reward.amount,
        currency=reward.currency or None,
        percent=reward.percent,
        points=reward.points,
        label=reward.label,
    )


def friend_offer_refund_recorded(*, reward: Reward, now: datetime) -> bool:
    """A refunded order's redeemed friend offer: the discount was spent on that order, so it is
    recorded, never clawed back. Once per reward."""
    if any(r.get("rule") == "refund" for r in reward.reasons):
        return False
    return bool(
        Reward.objects.filter(pk=reward.pk, status=RewardStatus.REDEEMED).update(
            reasons=JsonArrayAppend(
                "reasons",
                [
                    _reason(
                        "refund",
                        "recorded",
                        "The order was refunded; the friend's discount was spent on it: "
                        "recorded, not clawed back.",
                    )
                ],
            ),
            updated_at=now,
        )
    )


# --- Expiry ------------------------------------------------------------------------------------


def friend_offers_expire_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Expire friends' offers not spent by their `expires_at` (all merchants; the pipeline's
    sweep, every minute). The code is deactivated after commit where the method can (a Stripe
    promotion code), recorded where it cannot."""
    from accounts.models import Merchant
    from referral_saas import tenancy

    now = now or timezone.now()
    due = list(
        Reward.unscoped_all_merchants.filter(
            expires_at__lte=now,
            status__in=(
                RewardStatus.ISSUED,
                RewardStatus.HELD,
                RewardStatus.APPROVED,
                RewardStatus.FAILED,
            ),
        )
        .exclude(friend_key="")
        .order_by("expires_at")
        .values_list("pk", "merchant_id")[:limit]
    )
    expired = 0
    by_merchant: dict[int, list[int]] = {}
    for pk, merchant_id in due:
        by_merchant.setdefault(merchant_id, []).append(pk)
    for merchant_id, ids in by_merchant.items():
        merchant = Merchant.objects.get(pk=merchant_id)
        with tenancy.merchant_context(merchant), transaction.atomic():
            for reward_id in ids:
                reward = Reward(pk=reward_id, merchant_id=merchant_id)
                if transitions.reward_transition(
                    reward,
                    "expire",
                    reason=_reason("expiry", "expired", "Not used before it expired."),
                    now=now,
                    next_attempt_at=None,
                ):
                    expired += 1
                    _enqueue_deactivate(reward)
    return expired


def _enqueue_deactivate(reward: Reward) -> None:
    from rewards.tasks import friend_offer_deactivate_task  # deferred: tasks import this

    enqueue_on_commit(
        friend_offer_deactivate_task, merchant_id=reward.merchant_id, reward_id=reward.pk
    )


def friend_offer_deactivate(*, reward_id: int) -> str:
    """Withdraw an expired offer's code where its method can (`deactivate`), record it where it
    cannot; once (the `deactivation` reason). Raises FulfilmentError when worth retrying."""
    from rewards.fulfilment import FulfilmentError, _call, method_for

    reward = Reward.objects.get(pk=reward_id)
    if any(r.get("rule") == "deactivation" for r in reward.reasons):
        return "done"
    # method_for: in test mode a Stripe or store code is simulated, so nothing real is withdrawn.
    deactivate = getattr(method_for(reward), "deactivate", None)
    if not reward.fulfilment_code and not reward.fulfilment_external_id:
        detail, outcome = "No code had been issued.", "recorded"
    elif deactivate is None:
        detail, outcome = (
            "This method's codes cannot be withdrawn by us: recorded as expired, and the "
            "merchant is told (reward.expired webhook).",
            "recorded",
        )
    else:
        try:
            detail, outcome = _call(deactivate, reward), "deactivated"
        except FulfilmentError as error:
            if error.retriable:
                raise
            detail, outcome = f"The deactivation failed: {error.message}", "failed"
    Reward.objects.filter(pk=reward.pk).update(
        reasons=JsonArrayAppend("reasons", [_reason("deactivation", outcome, detail)]),
        updated_at=F("updated_at"),
    )
    return outcome


# --- The tracking API's port (tracking.offers) ---------------------------------------------------


def friend_reward_object(reward: Reward) -> dict[str, Any]:
    """The friend's reward as `POST /api/v1/referrals` answers it, to either key: what the
    friend gets and their code, never which advocate referred them (a publishable key may ask
    for anyone's email)."""
    fulfilment: dict[str, Any] = {"method": reward.fulfilment_method}
    if reward.fulfilment_code:
        fulfilment["code"] = reward.fulfilment_code
    return {
        "id": reward.public_id,
        "object": "reward",
        "recipient": reward.recipient,
        "kind": reward.kind,
        "amount": reward.amount,
        "percent": reward.percent,
        "points": reward.points,
        "currency": reward.currency or None,
        "status": reward.status,
        "fulfilment": fulfilment,
        "conversion": None,
        "expires_at": reward.expires_at.isoformat().replace("+00:00", "Z")
        if reward.expires_at
        else None,
        "created_at": reward.created_at.isoformat().replace("+00:00", "Z"),
    }


def offer_for_api(*, referral: Referral, email: str, ip_hash: str = "", locale: str = "") -> Any:
    """`tracking.offers`' issuer: the friend's reward and, without a code, why."""
    from tracking.offers import OfferAnswer

    outcome = friend_offer_issue(referral=referral, email=email, ip_hash=ip_hash, locale=locale)
    reason = {"code": outcome.reason, "message": outcome.message} if outcome.reason else None
    if outcome.reward is None:
        return OfferAnswer(None, reason)
    return OfferAnswer(friend_reward_object(outcome.reward), reason)


# --- Privacy (tracking.privacy's erase sections) ---------------------------------------------


def friend_offers_erase(rows: Any) -> int:
    """Erasure of a data subject: their friend offers keep their amounts and states but lose
    the keyed hashes that link them to the person (the email key, the IP hash). Registered as
    an erase section of `tracking.privacy` (run inside the erasure's transaction)."""
    offers = Reward.objects.filter(referral__in=rows.referrals).exclude(friend_key="")
    if rows.email:
        offers = offers | Reward.objects.filter(friend_key=friend_key(rows.email))
    erased = 0
    for pk, public_id in offers.values_list("pk", "public_id").distinct():
        erased += Reward.objects.filter(pk=pk).update(
            friend_key=f"erased-{public_id}", friend_ip_hash=""
        )
    return erased
