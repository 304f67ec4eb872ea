"""A verified store delivery, acted on once.

`store_event_receive` runs inside the integration's merchant after the signature was checked.
It records the delivery once per (integration, the store's delivery id) — a redelivery is
answered "duplicate" and changes nothing — then:

- a paid order becomes a conversion through `tracking.services.conversion_record`, the same
  service the API uses (idempotent by order id: `shopify-<id>` / `woocommerce-<id>`), so the
  pipeline judges it unchanged; refunds the order carries are reconciled, each once by its id;
- a refund becomes `refund_record` (capped at what is left of the order); a refund that comes
  before its order waits on its delivery record and is applied when the order is recorded (a
  per-order advisory lock makes the two exclusive);
- an uninstall disconnects the integration without calling the store again;
- Shopify's privacy topics run our export (`customers/data_request`: the export is emailed to
  the merchant's owners, who answer the customer) and erasure (`customers/redact`), and
  `shop/redact` forgets the shop's deliveries.

Bad content (no email, an amount that is not one) is recorded with the reason and answered
200: redelivering the same body would not help.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.mail import sending_address
from accounts.models import Membership, Role
from integrations.models import Integration, StoreEvent
from integrations.providers.base import Inbound, Kind, Order, RefundLine
from integrations.services import integration_disconnect, integration_erase
from programs.specs import SpecError
from referral_saas import tenancy
from referral_saas.db import xact_lock
from rewards.models import Reward
from tracking.models import Advocate, Conversion
from tracking.privacy import subject_erase, subject_export
from tracking.services import CODE_PATTERN, conversion_record, refund_record


@dataclass(frozen=True)
class Receipt:
    event: StoreEvent
    duplicate: bool


@transaction.atomic
def store_event_receive(*, integration: Integration, delivery_id: str, inbound: Inbound) -> Receipt:
    """Record and act on one verified delivery, once (see the module docstring)."""
    try:
        with transaction.atomic():
            event = StoreEvent.objects.create(
                integration=integration, delivery_id=delivery_id[:200], topic=inbound.topic[:100]
            )
    except IntegrityError:
        existing = StoreEvent.objects.get(integration=integration, delivery_id=delivery_id[:200])
        return Receipt(existing, duplicate=True)
    try:
        with transaction.atomic():
            outcome = _act(integration, inbound, event)
    except SpecError as error:
        outcome = "rejected: " + "; ".join(f"{k}: {v}" for k, v in error.errors.items())
    event.outcome = outcome[:500]
    event.save(update_fields=["outcome", "waiting_for", "waiting_refunds"])
    Integration.objects.filter(pk=integration.pk).update(last_event_at=timezone.now())
    return Receipt(event, duplicate=False)


def _act(integration: Integration, inbound: Inbound, event: StoreEvent) -> str:
    if inbound.kind == Kind.UNINSTALLED:
        integration_disconnect(
            integration=integration, reason="The store uninstalled the app.", remote=False
        )
        return "disconnected: the store uninstalled the app"
    if inbound.kind == Kind.SHOP_REDACT:
        forgotten = integration_erase(integration=integration, keep_event_id=event.pk)
        return f"erased: {forgotten} deliveries forgotten"
    if inbound.kind == Kind.DATA_REQUEST:
        return _data_request(integration, inbound.email)
    if inbound.kind == Kind.CUSTOMER_REDACT:
        if not inbound.email:
            return "ignored: the request names no email"
        report = subject_erase(inbound.email)
        return "erased: " + ", ".join(f"{n} {name}" for name, n in report.erased.items())
    if not integration.connected:
        return "ignored: the store is disconnected"
    if inbound.kind == Kind.ORDER and inbound.order is not None:
        _lock(inbound.order.order_id)
        return _order(integration, inbound.order)
    if inbound.kind == Kind.REFUND:
        _lock(inbound.order_id)
        return _refund(event, inbound.order_id, inbound.refunds)
    return f"ignored: {inbound.note or 'nothing for us'}"


def _lock(order_id: str) -> None:
    """Looking for the order, else waiting (a refund), and recording the order, then applying
    what waits, exclude each other: a refund and its order arriving at once cannot miss."""
    xact_lock(f"store-order:{tenancy.get_current_merchant().pk}:{order_id}")


def _known_code(candidates: tuple[str, ...]) -> str | None:
    """The strongest candidate that is a referral code we know: an advocate's code, or a code
    we issued as a reward (a friend's code). Others (the shop's own promotions) are left out."""
    for candidate in candidates:
        code = candidate.strip().upper()
        if not CODE_PATTERN.match(code):
            continue
        if Advocate.objects.filter(code__iexact=code).exists():
            return code
        if Reward.objects.filter(fulfilment_code__iexact=code).exists():
            return code
    return None


def _order(integration: Integration, order: Order) -> str:
    result = conversion_record(
        order_id=order.order_id,
        amount=order.amount,
        currency=order.currency,
        customer={"email": order.email, "id": order.customer_id or None, "name": order.name},
        code=_known_code(order.codes),
        new_customer=order.new_customer,
        occurred_at=order.occurred_at.isoformat() if order.occurred_at else None,
        ip=order.ip,
        user_agent=order.user_agent,
        metadata={"store": integration.provider, "shop": integration.shop},
    )
    outcome = ("recorded" if result.created else "already recorded") + f" {order.order_id}"
    refunded = _reconcile(result.conversion, order.refunds)
    for waiting in StoreEvent.objects.select_for_update().filter(waiting_for=order.order_id):
        lines = tuple(
            RefundLine(external_id=str(line["external_id"]), amount=int(line["amount"]))
            for line in waiting.waiting_refunds
        )
        refunded += _reconcile(result.conversion, lines)
        waiting.outcome = f"{waiting.outcome}; applied when the order arrived"[:500]
        waiting.waiting_for, waiting.waiting_refunds = "", []
        waiting.save(update_fields=["outcome", "waiting_for", "waiting_refunds"])
    return outcome + (f"; {refunded} refund(s)" if refunded else "")


def _reconcile(conversion: Conversion, refunds: tuple[RefundLine, ...]) -> int:
    recorded = 0
    for line in refunds:
        conversion.refresh_from_db(fields=["amount", "refunded_amount"])
        room = conversion.amount - conversion.refunded_amount
        if room <= 0:
            break
        result = refund_record(
            conversion=conversion, amount=min(line.amount, room), external_id=line.external_id
        )
        recorded += int(result.created)
    return recorded


def _refund(event: StoreEvent, order_id: str, refunds: tuple[RefundLine, ...]) -> str:
    conversion = Conversion.objects.filter(order_id=order_id).first()
    if conversion is None:
        # Kept until the order arrives (it may never: an order paid before we were installed).
        event.waiting_for = order_id[:200]
        event.waiting_refunds = [
            {"external_id": line.external_id, "amount": line.amount} for line in refunds
        ]
        return f"waiting: the order {order_id} has not arrived yet"
    refunded = _reconcile(conversion, refunds)
    return (
        f"refund recorded on {order_id}" if refunded else f"refund already recorded on {order_id}"
    )


def _data_request(integration: Integration, email: str) -> str:
    if not email:
        return "ignored: the request names no email"
    export = subject_export(email)
    owners = list(
        Membership.objects.filter(role=Role.OWNER)
        .select_related("user")
        .values_list("user__email", flat=True)
    )
    message = EmailMessage(
        subject=f"Customer data request from {integration.shop}",
        body=(
            f"{integration.get_provider_display()} forwarded a customer's request for their "
            "data. Everything our referral program holds about them is attached (JSON); send "
            "it to the customer as your privacy policy says."
        ),
        from_email=sending_address(),
        to=owners,
    )
    message.attach("referral-data.json", json.dumps(export, indent=2), "application/json")
    transaction.on_commit(message.send)  # never an email for a rolled-back request
    return f"exported: sent to {len(owners)} owner(s)"
