"""WooCommerce behind the provider interface, through `integrations.woocommerce_gateway`.

Webhooks: WooCommerce has no "order paid" or "refund" topic of its own; an order's payment and
its refunds arrive as `order.created` / `order.updated` carrying the whole order (its `status`,
`date_paid` and `refunds[]`). We subscribe to both, signed with a secret we generate, and treat
an order as paid when it has `date_paid` and a paid status (processing, completed, or refunded
since). Refunds are reconciled from the order's `refunds[]` list, each recorded once by its id,
so any order of deliveries ends in the same state.

When a webhook is created WooCommerce pings the delivery URL with the unsigned form body
`webhook_id=<n>` and refuses to save the webhook unless it gets a 2xx: that ping is answered and
nothing else is done.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from integrations import woocommerce_gateway as gateway
from integrations.models import Integration
from integrations.providers.base import (
    Discount,
    Health,
    Inbound,
    Kind,
    Order,
    RefundLine,
    StoreError,
    as_object,
    discount_title,
)
from referral_saas.money import is_currency, minor_units

TOPICS = ("order.created", "order.updated")
PAID_STATUSES = ("processing", "completed", "refunded")
REF_KEYS = ("ref", "_ref", "referral_code", "_referral_code")
PING = re.compile(rb"^webhook_id=\d+$")


def _money(value: Any, currency: str) -> int | None:
    try:
        amount = Decimal(str(value)) * (10 ** minor_units(currency))
    except (InvalidOperation, ValueError, TypeError):
        return None
    if amount != amount.to_integral_value():
        return None
    return int(amount)


def _major(amount: int, currency: str) -> str:
    digits = minor_units(currency)
    return f"{Decimal(amount) / (10**digits):.{digits}f}"


def delivery_url(integration: Integration) -> str:
    return f"{settings.PUBLIC_BASE_URL}/hooks/woocommerce/{integration.public_id}/"


def _gmt(value: Any) -> datetime | None:
    """WooCommerce's `*_gmt` fields are UTC without an offset."""
    parsed = parse_datetime(str(value or ""))
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class WooCommerceProvider:
    name = "woocommerce"
    label = "WooCommerce"
    fulfilment_method = "woocommerce_coupon"

    def _call(self, integration: Integration, method: str, path: str, **kwargs: Any) -> Any:
        if not integration.connected or not integration.consumer_key:
            raise StoreError("This store is disconnected: no further calls.", retriable=False)
        try:
            return gateway.call(
                store=integration.shop,
                key=integration.consumer_key,
                secret=integration.consumer_secret,
                method=method,
                path=path,
                **kwargs,
            )
        except gateway.WooCommerceError as error:
            raise StoreError(
                error.message, retriable=error.retriable, uninstalled=error.status in (401, 403)
            ) from None

    # --- connect, health, disconnect -------------------------------------------------------

    def connect(self, integration: Integration) -> list[dict[str, str]]:
        # The one check of the key pair: it can read webhooks (then it can also write them,
        # unless it is read-only, which the first create below reports).
        self._call(integration, "GET", "/webhooks", query={"per_page": 1})
        created: list[dict[str, str]] = []
        for topic in TOPICS:
            hook = self._call(
                integration,
                "POST",
                "/webhooks",
                payload={
                    "name": f"Referral program: {topic}",
                    "topic": topic,
                    "delivery_url": delivery_url(integration),
                    "secret": integration.webhook_secret,
                    "status": "active",
                },
            )
            created.append({"topic": topic, "id": str(hook.get("id"))})
        return created

    def health(self, integration: Integration) -> Health:
        try:
            hooks = self._call(integration, "GET", "/webhooks", query={"per_page": 100})
        except StoreError as error:
            return Health(ok=False, detail=error.message, uninstalled=error.uninstalled)
        active = (
            {
                str(h.get("id")): str(h.get("topic"))
                for h in hooks
                if isinstance(h, dict) and h.get("status") == "active"
            }
            if isinstance(hooks, list)
            else {}
        )
        present = sorted(w["topic"] for w in integration.webhooks if w["id"] in active)
        missing = sorted({w["topic"] for w in integration.webhooks} - set(present))
        if missing:
            return Health(
                ok=False,
                detail=f"Webhooks missing or not active in the store: {', '.join(missing)}.",
                webhooks=present,
            )
        return Health(ok=True, detail="The key works; every webhook is active.", webhooks=present)

    def disconnect(self, integration: Integration) -> None:
        for webhook in integration.webhooks:
            self._call(
                integration,
                "DELETE",
                f"/webhooks/{webhook['id']}",
                query={"force": "true"},
                allow=(404,),
            )

    # --- inbound ---------------------------------------------------------------------------

    def verify(self, integration: Integration, body: bytes, headers: Mapping[str, str]) -> bool:
        return gateway.verify_signature(
            body, headers.get("X-WC-Webhook-Signature", ""), integration.webhook_secret
        )

    @staticmethod
    def is_ping(body: bytes, headers: Mapping[str, str]) -> bool:
        return not headers.get("X-WC-Webhook-Topic") and bool(PING.match(body.strip()))

    def map(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        topic = headers.get("X-WC-Webhook-Topic", "")
        if topic not in TOPICS:
            return Inbound(Kind.IGNORED, topic, note="Not a topic we use.")
        try:
            data = json.loads(body)
        except ValueError:
            return Inbound(Kind.IGNORED, topic, note="The body is not JSON.")
        if not isinstance(data, dict):
            return Inbound(Kind.IGNORED, topic, note="The body is not a JSON object.")
        status = str(data.get("status") or "")
        if status not in PAID_STATUSES or (
            not data.get("date_paid_gmt") and not data.get("date_paid")
        ):
            return Inbound(Kind.IGNORED, topic, note=f"Not paid (status {status or 'unknown'}).")
        currency = str(data.get("currency") or "").upper()
        if not is_currency(currency):
            return Inbound(Kind.IGNORED, topic, note=f"Unknown currency {currency!r}.")
        amount = _money(data.get("total"), currency)
        if amount is None or amount < 0:
            return Inbound(Kind.IGNORED, topic, note="total is not an amount.")
        billing = as_object(data.get("billing"))
        codes = [
            str(line.get("code"))
            for line in data.get("coupon_lines") or []
            if isinstance(line, dict) and line.get("code")
        ]
        codes += [
            str(meta.get("value"))
            for meta in data.get("meta_data") or []
            if isinstance(meta, dict) and meta.get("key") in REF_KEYS and meta.get("value")
        ]
        refunds = []
        for refund in data.get("refunds") or []:
            if not isinstance(refund, dict):
                continue
            value = _money(refund.get("total"), currency)
            if value:
                refunds.append(
                    RefundLine(
                        external_id=f"woocommerce-refund-{refund.get('id')}", amount=abs(value)
                    )
                )
        name = " ".join(
            str(billing.get(part) or "") for part in ("first_name", "last_name")
        ).strip()
        customer_id = data.get("customer_id")
        return Inbound(
            Kind.ORDER,
            topic,
            order=Order(
                order_id=f"woocommerce-{data.get('id')}",
                amount=amount,
                currency=currency,
                email=str(billing.get("email") or ""),
                customer_id=str(customer_id) if customer_id else "",
                name=name,
                codes=tuple(codes),
                occurred_at=_gmt(data.get("date_paid_gmt") or data.get("date_created_gmt")),
                ip=str(data.get("customer_ip_address") or "") or None,
                user_agent=str(data.get("customer_user_agent") or "") or None,
                refunds=tuple(refunds),
            ),
        )

    # --- coupons ---------------------------------------------------------------------------

    def _find(self, integration: Integration, code: str) -> Discount | None:
        found = self._call(integration, "GET", "/coupons", query={"code": code})
        for coupon in found if isinstance(found, list) else []:
            if str(coupon.get("code", "")).lower() == code.lower():
                return Discount(code=code, external_id=str(coupon["id"]))
        return None

    def discount_create(
        self,
        integration: Integration,
        *,
        reward_id: str,
        code: str,
        percent: int | None,
        amount: int | None,
        currency: str,
        expires_at: datetime | None,
    ) -> Discount:
        existing = self._find(integration, code)
        if existing is not None:
            return existing
        if percent is not None:
            kind, value = "percent", str(percent)
        elif amount is not None:
            kind, value = "fixed_cart", _major(amount, currency)
        else:
            raise StoreError("Only percent or money rewards become coupons.", retriable=False)
        payload: dict[str, Any] = {
            "code": code,
            "discount_type": kind,
            "amount": value,
            "description": discount_title(reward_id),
            "usage_limit": 1,
            "usage_limit_per_user": 1,
        }
        if expires_at is not None:
            payload["date_expires_gmt"] = expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        try:
            coupon = self._call(integration, "POST", "/coupons", payload=payload)
        except StoreError:
            # Made by an attempt whose answer was lost? Then it is ours: same code.
            existing = self._find(integration, code)
            if existing is not None:
                return existing
            raise
        return Discount(code=code, external_id=str(coupon.get("id")))

    def discount_deactivate(self, integration: Integration, *, external_id: str) -> None:
        self._call(
            integration,
            "DELETE",
            f"/coupons/{external_id}",
            query={"force": "true"},
            allow=(404,),
        )
