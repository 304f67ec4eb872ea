"""Our own Stripe billing events (`POST /hooks/billing/stripe/`), after the signature check.

Each event id is recorded once (`BillingEvent`) in the same transaction as its effects: a
redelivery finds the row and changes nothing, a crash leaves neither and Stripe's retry does
the work. The event only tells us *which* subscription changed; its state is re-read from
Stripe (`subscription_sync`), so order does not matter: an `updated` before its `created`, an
`invoice.paid` before the subscription we have never seen, a late `payment_failed` after the
payment recovered, all end in Stripe's current state.

The merchant is found from the Stripe customer id (the one cross-tenant read here, through
`unscoped_all_merchants`, because an event names a customer, not a merchant), or, for a
checkout we started, from the merchant public id we put in its metadata. Effects then run
inside that merchant (`merchant_context`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Merchant
from billing.models import BillingEvent, BillingEventOutcome, Subscription
from billing.services import subscription_refresh
from referral_saas import tenancy

SUBSCRIPTION_EVENTS = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
}
INVOICE_EVENTS = {"invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed"}


@dataclass(frozen=True)
class Receipt:
    event_id: str
    duplicate: bool
    outcome: str


@dataclass(frozen=True)
class _Pointer:
    """What an event says about which subscription of which customer changed."""

    subscription_id: str
    customer_id: str
    merchant_hint: str  # our merchant public id, when we put it in the metadata


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _pointer(event_type: str, obj: dict[str, Any]) -> _Pointer | None:
    if event_type in SUBSCRIPTION_EVENTS:
        metadata = obj.get("metadata") or {}
        return _Pointer(
            _text(obj.get("id")), _text(obj.get("customer")), metadata.get("merchant", "")
        )
    if event_type == "checkout.session.completed" and obj.get("mode") == "subscription":
        return _Pointer(
            _text(obj.get("subscription")),
            _text(obj.get("customer")),
            str(obj.get("client_reference_id") or ""),
        )
    if event_type in INVOICE_EVENTS:
        # API versions from 2025 move the subscription under parent.subscription_details.
        details = (obj.get("parent") or {}).get("subscription_details") or {}
        subscription = obj.get("subscription") or details.get("subscription")
        metadata = details.get("metadata") or {}
        return _Pointer(
            _text(subscription), _text(obj.get("customer")), metadata.get("merchant", "")
        )
    return None


def _merchant_for(pointer: _Pointer) -> Merchant | None:
    row = (
        Subscription.unscoped_all_merchants.select_related("merchant")
        .filter(stripe_customer_id=pointer.customer_id)
        .first()
        if pointer.customer_id
        else None
    )
    if row is not None:
        return row.merchant
    if not pointer.merchant_hint:
        return None
    # Our own metadata, in an event Stripe signed: trusted, but only for a merchant that has no
    # customer of its own yet (a customer id, once recorded, is the merchant's identity).
    merchant = Merchant.objects.filter(public_id=pointer.merchant_hint).first()
    if merchant is None:
        return None
    taken = (
        Subscription.unscoped_all_merchants.filter(merchant=merchant)
        .exclude(stripe_customer_id="")
        .exists()
    )
    return None if taken else merchant


def _apply(event_type: str, obj: dict[str, Any]) -> tuple[str, Merchant | None]:
    pointer = _pointer(event_type, obj)
    if pointer is None or not pointer.subscription_id:
        return BillingEventOutcome.IGNORED, None
    merchant = _merchant_for(pointer)
    if merchant is None:
        return BillingEventOutcome.UNKNOWN_CUSTOMER, None
    snapshot = obj if event_type in SUBSCRIPTION_EVENTS else None
    with tenancy.merchant_context(merchant):
        return subscription_refresh(
            subscription_id=pointer.subscription_id, snapshot=snapshot
        ), merchant


def billing_event_process(*, event: dict[str, Any]) -> Receipt:
    """Record and apply one verified billing event (idempotent by Stripe's event id).

    Raises `StripeCallError` when Stripe cannot be asked for the subscription's state; the
    transaction then rolls back (the event is not recorded) so Stripe's redelivery retries."""
    event_id = str(event["id"])
    obj: dict[str, Any] = event["data"]["object"]
    created = event.get("created")
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = BillingEvent.objects.create(
                    event_id=event_id,
                    type=str(event["type"])[:100],
                    stripe_customer_id=_text(obj.get("customer"))[:64],
                    outcome=BillingEventOutcome.IGNORED,
                    stripe_created_at=(
                        datetime.fromtimestamp(created, tz=UTC)
                        if isinstance(created, int)
                        else None
                    ),
                )
        except IntegrityError:
            earlier = BillingEvent.objects.get(event_id=event_id)
            return Receipt(event_id=event_id, duplicate=True, outcome=earlier.outcome)
        outcome, merchant = _apply(str(event["type"]), obj)
        record.outcome = outcome
        record.merchant_public_id = merchant.public_id if merchant is not None else ""
        record.save(update_fields=["outcome", "merchant_public_id"])
    return Receipt(event_id=event_id, duplicate=False, outcome=outcome)
