"""The merchant's own Stripe events, turned into conversions and refunds.

`stripe_event_process` runs inside the current merchant on an event whose signature
`referral_saas.stripe_gateway.verify_webhook` has checked. It records the event once per
`(merchant, event id)` — a redelivery is answered "duplicate" and changes nothing — and hands it to
the handler registered for its type (`@handles`); types without a handler are recorded as ignored.

Order independence. A refund or dispute can reach us before the checkout it belongs to. We do not
invent the conversion from the charge (the charge carries no referral code, and the checkout that
arrives later would then be swallowed by `conversion_record`'s idempotency, losing the
attribution). Instead the event *waits*: its `StripeEvent` keeps the payload and the order ids it
may belong to, and is applied as soon as a conversion with one of those ids is recorded from a
checkout or invoice event. A per-merchant advisory lock makes "look for the conversion, else wait"
and "record the conversion, then apply what waits" exclusive, so a refund and its checkout
arriving concurrently cannot miss each other. Refund amounts are reconciled against the charge's
cumulative `amount_refunded`, so any order, and any mix of refund lists, totals and disputes,
ends in the same state and never refunds more than the order.

Order ids (the conversion's idempotency key): an invoice's id for invoices and subscription
checkouts (so `checkout.session.completed` and `invoice.paid` of one purchase are one
conversion); otherwise the payment intent's id; otherwise the checkout session's id. Charges
and disputes are matched by their payment intent (and, on API versions that still send it, the
charge's invoice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.stripe_secret import (  # noqa: F401 - their old home, kept for one release
    WEBHOOK_SECRET_PREFIX,
    secret_ending,
    stripe_webhook_secret_set,
)
from programs.specs import SpecError
from referral_saas.db import JsonArrayContains, xact_lock
from referral_saas.tenancy import get_current_merchant
from tracking.models import Conversion, StripeEvent
from tracking.services import CODE_PATTERN, conversion_record, refund_record

REFERRAL_METADATA_KEYS = ("referral_code", "ref")
COUNTED_REFUND_STATUSES = {"succeeded", "pending", "requires_action", None}


@dataclass(frozen=True)
class Outcome:
    """What a handler did, in words for the event log; `waiting_for` (order ids) when the event
    belongs to an order we have not recorded yet."""

    text: str
    waiting_for: list[str] = field(default_factory=list)


Handler = Callable[[dict[str, Any]], Outcome]
HANDLERS: dict[str, Handler] = {}


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            HANDLERS[event_type] = handler
        return handler

    return register


@dataclass(frozen=True)
class Receipt:
    event: StripeEvent
    duplicate: bool


@transaction.atomic
def stripe_event_process(*, event: dict[str, Any]) -> Receipt:
    """Record and act on one verified Stripe event, once. Bad content (no customer email, an
    amount that is not an integer...) is recorded as rejected with the reason, writing nothing
    else; it is not an error of the delivery, so a redelivery would not help."""
    try:
        with transaction.atomic():
            record = StripeEvent.objects.create(
                event_id=event["id"][:255], type=str(event["type"])[:100]
            )
    except IntegrityError:
        return Receipt(StripeEvent.objects.get(event_id=event["id"][:255]), duplicate=True)
    _run(record, event)
    return Receipt(record, duplicate=False)


def _run(record: StripeEvent, event: dict[str, Any]) -> None:
    handler = HANDLERS.get(record.type)
    if handler is None:
        outcome = Outcome("ignored: no handler for this event type")
    else:
        try:
            with transaction.atomic():
                outcome = handler(event)
        except SpecError as error:
            reasons = "; ".join(f"{path}: {text}" for path, text in error.errors.items())
            outcome = Outcome(f"rejected: {reasons}")
    record.outcome = outcome.text
    if outcome.waiting_for:
        record.waiting_for, record.payload, record.processed_at = outcome.waiting_for, event, None
    else:
        record.waiting_for, record.payload, record.processed_at = [], None, timezone.now()
    record.save(update_fields=["outcome", "waiting_for", "payload", "processed_at"])


# --- Helpers ---------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(value: Any) -> str | None:
    """A Stripe reference: an id string, or an expanded object with an id."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _str(value: Any, max_length: int) -> str | None:
    return value.strip()[:max_length] if isinstance(value, str) and value.strip() else None


def _object(event: dict[str, Any]) -> dict[str, Any]:
    return _dict(_dict(event.get("data")).get("object"))


def _occurred_at(event: dict[str, Any]) -> str | None:
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int) or created <= 0:
        return None
    return datetime.fromtimestamp(created, tz=UTC).isoformat()


def _lock_orders() -> None:
    """Serialise the current merchant's order events (until the transaction ends).

    One lock per merchant rather than per order id: a charge can match an order by two ids
    (payment intent, invoice), and applying waiting events takes locks from inside another
    handler, so finer locks could deadlock. The merchant's own Stripe traffic is small and each
    transaction short."""
    xact_lock(f"stripe-orders:{get_current_merchant().pk}")


def _promotion_codes(obj: dict[str, Any]) -> Iterator[Any]:
    """Promotion codes' text where Stripe sent the promotion code expanded. An unexpanded
    `promo_…` id would need an API call to resolve (not done here)."""
    discounts = obj.get("discounts")
    items = list(discounts) if isinstance(discounts, list) else []
    items.append(obj.get("discount"))
    breakdown = _dict(_dict(obj.get("total_details")).get("breakdown")).get("discounts")
    items.extend(breakdown if isinstance(breakdown, list) else [])
    for item in items:
        item = _dict(item)
        promotion = item.get("promotion_code") or _dict(item.get("discount")).get("promotion_code")
        yield _dict(promotion).get("code")


def _referral_code(obj: dict[str, Any], *metadata_sources: Any) -> str | None:
    """The first plausible referral code: metadata `referral_code` / `ref` (the object's, then
    e.g. its subscription's), the promotion code, then `client_reference_id`. Candidates that
    cannot be a code (a shop's user id such as `user_42`) are skipped, not errors."""
    candidates: list[Any] = []
    for metadata in (obj.get("metadata"), *metadata_sources):
        candidates.extend(_dict(metadata).get(key) for key in REFERRAL_METADATA_KEYS)
    candidates.extend(_promotion_codes(obj))
    candidates.append(obj.get("client_reference_id"))
    for candidate in candidates:
        if isinstance(candidate, str) and CODE_PATTERN.match(candidate.strip().upper()):
            return candidate.strip()
    return None


# --- Conversions -----------------------------------------------------------------------------


def _record_conversion(
    event: dict[str, Any],
    *,
    order_id: str,
    amount: Any,
    currency: Any,
    email: Any,
    customer_id: str | None,
    name: str | None,
    code: str | None,
    subscription_id: str | None = None,
    payment_intent: str | None = None,
) -> Outcome:
    _lock_orders()
    customer: dict[str, Any] = {"email": email}
    if customer_id:
        customer["id"] = customer_id
    if name:
        customer["name"] = name
    result = conversion_record(
        order_id=order_id,
        amount=amount,
        currency=currency,
        customer=customer,
        code=code,
        subscription_id=subscription_id,
        occurred_at=_occurred_at(event),
        metadata={
            "source": "stripe",
            "stripe_event": event["id"],
            "stripe_object": order_id,
            # An invoice's payment: how its refunds and disputes find it (_locked_conversion).
            **({"stripe_payment_intent": payment_intent} if payment_intent else {}),
        },
    )
    conversion = result.conversion
    text = f"conversion {conversion.public_id} for order {order_id} " + (
        "recorded" if result.created else "already recorded"
    )
    applied = _apply_waiting(order_id)
    if payment_intent and payment_intent != order_id:
        applied += _apply_waiting(payment_intent)
    if applied:
        text += f"; applied {applied} waiting event(s)"
    return Outcome(text)


def _apply_waiting(order_id: str) -> int:
    """Run the events that waited for this order (refunds, disputes that came first)."""
    waiting = list(
        StripeEvent.objects.select_for_update()
        .filter(JsonArrayContains("waiting_for", order_id), processed_at__isnull=True)
        .order_by("received_at", "pk")
    )
    for record in waiting:
        _run(record, _dict(record.payload))
    return len(waiting)


@handles("checkout.session.completed", "checkout.session.async_payment_succeeded")
def _checkout_completed(event: dict[str, Any]) -> Outcome:
    session = _object(event)
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return Outcome("ignored: not paid yet (an async_payment_succeeded event will follow)")
    order_id = _id(session.get("invoice")) or _id(session.get("payment_intent")) or _id(session)
    if order_id is None:
        raise SpecError({"data.object.id": "The checkout session has no id."})
    details = _dict(session.get("customer_details"))
    return _record_conversion(
        event,
        order_id=order_id,
        amount=session.get("amount_total"),
        currency=session.get("currency"),
        email=details.get("email") or session.get("customer_email"),
        customer_id=_id(session.get("customer")),
        name=_str(details.get("name"), 120),
        code=_referral_code(session),
        subscription_id=_id(session.get("subscription")),
    )


@handles("invoice.paid")
def _invoice_paid(event: dict[str, Any]) -> Outcome:
    invoice = _object(event)
    order_id = _id(invoice)
    if order_id is None:
        raise SpecError({"data.object.id": "The invoice has no id."})
    subscription_metadata = [
        _dict(invoice.get("subscription_details")).get("metadata"),  # API versions before 2025
        _dict(_dict(invoice.get("parent")).get("subscription_details")).get("metadata"),
    ]
    return _record_conversion(
        event,
        order_id=order_id,
        amount=invoice.get("amount_paid"),
        currency=invoice.get("currency"),
        email=invoice.get("customer_email"),
        customer_id=_id(invoice.get("customer")),
        name=_str(invoice.get("customer_name"), 120),
        code=_referral_code(invoice, *subscription_metadata),
        subscription_id=_invoice_subscription(invoice),
        payment_intent=_invoice_payment_intent(invoice),
    )


def _invoice_payment_intent(invoice: dict[str, Any]) -> str | None:
    """`payment_intent` (API versions before 2025), or the first of `payments`."""
    payments = _dict(invoice.get("payments")).get("data")
    first = _dict(payments[0]) if isinstance(payments, list) and payments else {}
    return _id(invoice.get("payment_intent")) or _id(
        _dict(first.get("payment")).get("payment_intent")
    )


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """The invoice's subscription: `subscription` (API versions before 2025), or
    `parent.subscription_details.subscription` (the newer shape)."""
    parent = _dict(_dict(invoice.get("parent")).get("subscription_details"))
    return _id(invoice.get("subscription")) or _id(parent.get("subscription"))


# --- Refunds and disputes --------------------------------------------------------------------


def _locked_conversion(order_ids: list[str]) -> Conversion | None:
    """The order a refund or dispute names: by order id, else (a subscription's invoice,
    whose order id is the invoice's) by the invoice's payment intent. The second lookup is
    not indexed; it runs only when the first finds nothing, and disputes are rare."""
    _lock_orders()
    locked = Conversion.objects.select_for_update().order_by("created_at", "pk")
    return (
        locked.filter(order_id__in=order_ids).first()
        or locked.filter(metadata__stripe_payment_intent__in=order_ids).first()
    )


def _waiting(order_ids: list[str]) -> Outcome:
    return Outcome(f"waiting for order {' or '.join(order_ids)}", waiting_for=order_ids)


def _amount(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _created(obj: dict[str, Any]) -> int:
    created = obj.get("created")
    return created if isinstance(created, int) else 0


@handles("charge.refunded")
def _charge_refunded(event: dict[str, Any]) -> Outcome:
    charge = _object(event)
    charge_id = _id(charge)
    order_ids = [i for i in (_id(charge.get("payment_intent")), _id(charge.get("invoice"))) if i]
    if charge_id is None or not order_ids:
        return Outcome("ignored: the charge names no payment intent or invoice we could match")
    conversion = _locked_conversion(order_ids)
    if conversion is None:
        return _waiting(order_ids)
    # What Stripe says is refunded on this charge, within the order: the state to reach.
    total = _amount(charge.get("amount_refunded")) or 0
    target = conversion.amount if charge.get("refunded") is True else min(total, conversion.amount)
    before = conversion.refunded_amount
    listed = _dict(charge.get("refunds")).get("data")
    for refund in sorted(
        (_dict(r) for r in (listed if isinstance(listed, list) else [])), key=_created
    ):
        room = target - conversion.refunded_amount
        amount, refund_id = _amount(refund.get("amount")), _id(refund)
        if room <= 0:
            break
        if amount and refund_id and refund.get("status") in COUNTED_REFUND_STATUSES:
            refund_record(conversion=conversion, amount=min(amount, room), external_id=refund_id)
    # Events without the refunds list (newer API versions): the rest, keyed by the total.
    room = target - conversion.refunded_amount
    if room > 0:
        refund_record(
            conversion=conversion, amount=room, external_id=f"{charge_id}:refunded:{total}"
        )
    added = conversion.refunded_amount - before
    return Outcome(
        f"refunded {added} on conversion {conversion.public_id} "
        f"({conversion.refunded_amount} of {conversion.amount} in all)"
    )


@handles("charge.dispute.created")
def _dispute_created(event: dict[str, Any]) -> Outcome:
    """A dispute is treated as a full refund of what is left, recorded as `dispute:<id>`."""
    dispute = _object(event)
    dispute_id = _id(dispute)
    order_ids = [_id(dispute.get("payment_intent"))]
    matched = [i for i in order_ids if i]
    if dispute_id is None or not matched:
        return Outcome("ignored: the dispute names no payment intent we could match")
    conversion = _locked_conversion(matched)
    if conversion is None:
        return _waiting(matched)
    if conversion.refunded_amount >= conversion.amount:
        return Outcome(f"nothing to refund: conversion {conversion.public_id} is fully refunded")
    result = refund_record(conversion=conversion, external_id=f"dispute:{dispute_id}")
    return Outcome(
        f"dispute recorded as a refund of {result.refund.amount} on conversion "
        f"{conversion.public_id}"
    )


# --- Settings --------------------------------------------------------------------------------
