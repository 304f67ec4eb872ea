"""Shopify behind the provider interface, through `integrations.shopify_gateway`.

Webhook topics we subscribe to (Admin GraphQL `webhookSubscriptionCreate`, API version pinned
in the gateway): `ORDERS_PAID`, `REFUNDS_CREATE`, `APP_UNINSTALLED`. Shopify's mandatory privacy
topics (`customers/data_request`, `customers/redact`, `shop/redact`) cannot be subscribed
through the API: they are set once in the app's configuration (compliance webhooks) to the
same `/hooks/shopify/` URL, and arrive signed the same way.

Mapping an order (REST webhook payload, the API version's shape):
- amount: `total_price` (a decimal string in the shop's currency) in minor units;
- attribution: the `discount_codes[].code`, then a `ref` in `landing_site`'s query string, then
  a `ref`/`referral_code` note attribute; the customer's email is the last evidence;
- new customer: the customer's `orders_count` (`number_of_orders` on newer versions) ≤ 1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations import shopify_gateway as gateway
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

TOPICS = {
    "ORDERS_PAID": "orders/paid",
    "REFUNDS_CREATE": "refunds/create",
    "APP_UNINSTALLED": "app/uninstalled",
}
PRIVACY_KINDS = {
    "customers/data_request": Kind.DATA_REQUEST,
    "customers/redact": Kind.CUSTOMER_REDACT,
    "shop/redact": Kind.SHOP_REDACT,
}
REF_KEYS = ("ref", "referral_code")

SUBSCRIBE = """
mutation subscribe($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic }
    userErrors { field message }
  }
}"""
UNSUBSCRIBE = """
mutation unsubscribe($id: ID!) {
  webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } }
}"""
HEALTH = """
query health {
  shop { myshopifyDomain }
  webhookSubscriptions(first: 50) {
    nodes { id topic endpoint { ... on WebhookHttpEndpoint { callbackUrl } } }
  }
}"""
FIND_DISCOUNT = """
query findDiscount($query: String!) {
  codeDiscountNodes(first: 1, query: $query) {
    nodes {
      id
      codeDiscount { ... on DiscountCodeBasic { title codes(first: 1) { nodes { code } } } }
    }
  }
}"""
CREATE_DISCOUNT = """
mutation createDiscount($discount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $discount) {
    codeDiscountNode {
      id
      codeDiscount { ... on DiscountCodeBasic { codes(first: 1) { nodes { code } } } }
    }
    userErrors { field code message }
  }
}"""
DEACTIVATE_DISCOUNT = """
mutation deactivateDiscount($id: ID!) {
  discountCodeDeactivate(id: $id) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}"""


def _error(error: gateway.ShopifyError) -> StoreError:
    return StoreError(
        error.message,
        retriable=error.retriable,
        uninstalled=isinstance(error, gateway.ShopUninstalled),
    )


def _money(value: Any, currency: str) -> int | None:
    try:
        amount = Decimal(str(value)) * (10 ** minor_units(currency))
    except (InvalidOperation, ValueError, TypeError):
        return None
    if amount != amount.to_integral_value() or amount < 0:
        return None
    return int(amount)


def _major(amount: int, currency: str) -> str:
    digits = minor_units(currency)
    return f"{Decimal(amount) / (10**digits):.{digits}f}"


def callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/hooks/shopify/"


class ShopifyProvider:
    name = "shopify"
    label = "Shopify"
    fulfilment_method = "shopify_discount_code"

    def _graphql(
        self, integration: Integration, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if not integration.connected or not integration.access_token:
            raise StoreError("This shop is disconnected: no further calls.", retriable=False)
        try:
            return gateway.graphql(
                shop=integration.shop,
                access_token=integration.access_token,
                query=query,
                variables=variables,
            )
        except gateway.ShopifyError as error:
            raise _error(error) from None

    # --- connect, health, disconnect -------------------------------------------------------

    def connect(self, integration: Integration) -> list[dict[str, str]]:
        # One call checks the token and lists the subscriptions already pointing at us (a
        # reinstall, or an install whose answer we lost): Shopify refuses a second one for the
        # same topic and address, so those are kept, not created again.
        data = self._graphql(integration, HEALTH)
        ours = {
            str(node.get("topic")): str(node.get("id"))
            for node in as_object(data.get("webhookSubscriptions")).get("nodes") or []
            if as_object(as_object(node).get("endpoint")).get("callbackUrl") == callback_url()
        }
        created: list[dict[str, str]] = []
        for topic, name in TOPICS.items():
            if topic in ours:
                created.append({"topic": name, "id": ours[topic]})
                continue
            data = self._graphql(
                integration,
                SUBSCRIBE,
                {"topic": topic, "sub": {"callbackUrl": callback_url(), "format": "JSON"}},
            )
            result = as_object(data.get("webhookSubscriptionCreate"))
            problem = gateway.user_errors(result)
            subscription = as_object(result.get("webhookSubscription"))
            if problem or not subscription.get("id"):
                raise StoreError(f"Shopify refused the {name} webhook: {problem}", retriable=False)
            created.append({"topic": name, "id": str(subscription["id"])})
        return created

    def health(self, integration: Integration) -> Health:
        try:
            data = self._graphql(integration, HEALTH)
        except StoreError as error:
            return Health(ok=False, detail=error.message, uninstalled=error.uninstalled)
        nodes = as_object(data.get("webhookSubscriptions")).get("nodes") or []
        ours = {str(w.get("id")) for w in integration.webhooks}
        present = [
            TOPICS.get(str(n.get("topic")), str(n.get("topic")))
            for n in nodes
            if str(n.get("id")) in ours
        ]
        missing = sorted({w["topic"] for w in integration.webhooks} - set(present))
        if missing:
            return Health(
                ok=False,
                detail=f"Webhooks missing in the shop: {', '.join(missing)}.",
                webhooks=sorted(present),
            )
        return Health(
            ok=True, detail="Installed; every webhook is in place.", webhooks=sorted(present)
        )

    def disconnect(self, integration: Integration) -> None:
        for webhook in integration.webhooks:
            self._graphql(integration, UNSUBSCRIBE, {"id": webhook["id"]})
        try:
            gateway.token_revoke(shop=integration.shop, access_token=integration.access_token)
        except gateway.ShopifyError as error:
            raise _error(error) from None

    # --- inbound ---------------------------------------------------------------------------

    def verify(self, integration: Integration, body: bytes, headers: Mapping[str, str]) -> bool:
        return gateway.verify_webhook(body, headers.get("X-Shopify-Hmac-Sha256", ""))

    def map(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        topic = headers.get("X-Shopify-Topic", "")
        try:
            data = json.loads(body)
        except ValueError:
            return Inbound(Kind.IGNORED, topic, note="The body is not JSON.")
        if not isinstance(data, dict):
            return Inbound(Kind.IGNORED, topic, note="The body is not a JSON object.")
        if topic == "orders/paid":
            return self._order(topic, data)
        if topic == "refunds/create":
            return self._refund(topic, data)
        if topic == "app/uninstalled":
            return Inbound(Kind.UNINSTALLED, topic)
        if topic in PRIVACY_KINDS:
            customer = as_object(data.get("customer"))
            return Inbound(PRIVACY_KINDS[topic], topic, email=str(customer.get("email") or ""))
        return Inbound(Kind.IGNORED, topic, note="Not a topic we use.")

    def _order(self, topic: str, data: dict[str, Any]) -> Inbound:
        currency = str(data.get("currency") or "").upper()
        if not is_currency(currency):
            return Inbound(Kind.IGNORED, topic, note=f"Unknown currency {currency!r}.")
        amount = _money(data.get("total_price"), currency)
        if amount is None:
            return Inbound(Kind.IGNORED, topic, note="total_price is not an amount.")
        customer = as_object(data.get("customer"))
        email = str(data.get("email") or customer.get("email") or "")
        count = customer.get("orders_count", customer.get("number_of_orders"))
        try:
            new_customer = int(count) <= 1 if count is not None else None
        except (TypeError, ValueError):
            new_customer = None
        codes = [
            str(d.get("code"))
            for d in data.get("discount_codes") or []
            if isinstance(d, dict) and d.get("code")
        ]
        codes += _landing_refs(data.get("landing_site")) + _note_refs(data.get("note_attributes"))
        client = as_object(data.get("client_details"))
        name = " ".join(
            str(customer.get(part) or "") for part in ("first_name", "last_name")
        ).strip()
        occurred = parse_datetime(str(data.get("processed_at") or data.get("created_at") or ""))
        return Inbound(
            Kind.ORDER,
            topic,
            order=Order(
                order_id=f"shopify-{data.get('id')}",
                amount=amount,
                currency=currency,
                email=email,
                customer_id=str(customer.get("id") or ""),
                name=name,
                codes=tuple(codes),
                new_customer=new_customer,
                occurred_at=occurred if isinstance(occurred, datetime) else None,
                ip=str(data.get("browser_ip") or client.get("browser_ip") or "") or None,
                user_agent=str(client.get("user_agent") or "") or None,
            ),
        )

    def _refund(self, topic: str, data: dict[str, Any]) -> Inbound:
        total = 0
        for transaction in data.get("transactions") or []:
            if not isinstance(transaction, dict):
                continue
            if transaction.get("kind") != "refund" or transaction.get("status") != "success":
                continue
            currency = str(transaction.get("currency") or "EUR").upper()
            value = _money(transaction.get("amount"), currency if is_currency(currency) else "EUR")
            total += value or 0
        if total <= 0:
            return Inbound(Kind.IGNORED, topic, note="No money was refunded (restock only).")
        return Inbound(
            Kind.REFUND,
            topic,
            order_id=f"shopify-{data.get('order_id')}",
            refunds=(RefundLine(external_id=f"shopify-refund-{data.get('id')}", amount=total),),
        )

    # --- discount codes --------------------------------------------------------------------

    def _find(self, integration: Integration, reward_id: str) -> Discount | None:
        title = discount_title(reward_id)
        data = self._graphql(integration, FIND_DISCOUNT, {"query": f"title:'{title}'"})
        for node in as_object(data.get("codeDiscountNodes")).get("nodes") or []:
            discount = as_object(as_object(node).get("codeDiscount"))
            codes = as_object(discount.get("codes")).get("nodes") or []
            if discount.get("title") == title and codes:
                return Discount(code=str(codes[0]["code"]), external_id=str(node["id"]))
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
        existing = self._find(integration, reward_id)
        if existing is not None:
            return existing
        if percent is not None:
            value: dict[str, Any] = {"percentage": float(Decimal(percent) / 100)}
        elif amount is not None:
            value = {
                "discountAmount": {"amount": _major(amount, currency), "appliesOnEachItem": False}
            }
        else:
            raise StoreError(
                "Only percent or money rewards become Shopify discounts.", retriable=False
            )
        discount = {
            "title": discount_title(reward_id),
            "code": code,
            "startsAt": timezone.now().isoformat(),
            "endsAt": expires_at.isoformat() if expires_at else None,
            "usageLimit": 1,
            "appliesOncePerCustomer": True,
            "customerSelection": {"all": True},
            "customerGets": {"value": value, "items": {"all": True}},
        }
        data = self._graphql(integration, CREATE_DISCOUNT, {"discount": discount})
        result = as_object(data.get("discountCodeBasicCreate"))
        node = as_object(result.get("codeDiscountNode"))
        if node.get("id"):
            return Discount(code=code, external_id=str(node["id"]))
        # A concurrent attempt may have made it between our search and our create.
        existing = self._find(integration, reward_id)
        if existing is not None:
            return existing
        raise StoreError(
            f"Shopify refused the discount: {gateway.user_errors(result) or 'no reason'}",
            retriable=False,
        )

    def discount_deactivate(self, integration: Integration, *, external_id: str) -> None:
        data = self._graphql(integration, DEACTIVATE_DISCOUNT, {"id": external_id})
        result = as_object(data.get("discountCodeDeactivate"))
        problem = gateway.user_errors(result)
        if problem and not result.get("codeDiscountNode"):
            raise StoreError(
                f"Shopify refused to deactivate the discount: {problem}", retriable=False
            )


def _landing_refs(landing_site: Any) -> list[str]:
    if not isinstance(landing_site, str) or "?" not in landing_site:
        return []
    query = parse_qs(urlsplit(landing_site).query)
    return [value for key in REF_KEYS for value in query.get(key, [])]


def _note_refs(attributes: Any) -> list[str]:
    if not isinstance(attributes, list):
        return []
    return [
        str(item.get("value"))
        for item in attributes
        if isinstance(item, dict) and item.get("name") in REF_KEYS and item.get("value")
    ]
