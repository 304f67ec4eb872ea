"""Inbound store webhooks: `POST /hooks/shopify/` and `POST /hooks/woocommerce/<integration id>/`.

The signature is checked over the raw body before anything is read or stored (401 and nothing
written otherwise); then the delivery is handed to `integrations.inbound` inside the store's
merchant. Shopify names the shop in `X-Shopify-Shop-Domain` and signs with our app's secret;
WooCommerce signs with the secret we gave the integration named in the URL.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations import shopify_gateway
from integrations.inbound import store_event_receive
from integrations.models import Integration, IntegrationStatus, Provider
from integrations.providers import provider_for
from integrations.providers.woocommerce import WooCommerceProvider
from referral_saas.api.errors import error_body
from referral_saas.tenancy import merchant_context


def _refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        error_body(type="invalid_request_error", code=code, message=message), status=status
    )


def _receive(integration: Integration, request: HttpRequest, delivery_id: str) -> JsonResponse:
    provider = provider_for(integration.provider)
    with merchant_context(integration.merchant):
        inbound = provider.map(request.body, request.headers)
        receipt = store_event_receive(
            integration=integration, delivery_id=delivery_id, inbound=inbound
        )
    return JsonResponse(
        {"received": True, "duplicate": receipt.duplicate, "outcome": receipt.event.outcome}
    )


@csrf_exempt
@require_POST
def shopify_hook(request: HttpRequest) -> HttpResponse:
    if not shopify_gateway.verify_webhook(
        request.body, request.headers.get("X-Shopify-Hmac-Sha256", "")
    ):
        return _refuse(401, "signature_invalid", "X-Shopify-Hmac-Sha256 does not match the body.")
    try:
        shop = shopify_gateway.validate_shop_domain(request.headers.get("X-Shopify-Shop-Domain"))
    except ValueError:
        return _refuse(400, "shop_invalid", "X-Shopify-Shop-Domain is not a myshopify.com domain.")
    delivery_id = request.headers.get("X-Shopify-Webhook-Id", "").strip()
    if not delivery_id:
        return _refuse(400, "delivery_id_missing", "X-Shopify-Webhook-Id is required.")
    # No tenant yet by nature: the shop names its merchant (the connected one, else the last).
    integration = (
        Integration.unscoped_all_merchants.select_related("merchant")
        .filter(provider=Provider.SHOPIFY, shop=shop)
        .order_by("status", "-created_at")  # "connected" sorts before "disconnected"
        .first()
    )
    if integration is None:
        # Shopify expects 200 for a shop we never knew (e.g. a privacy request): nothing to do.
        return JsonResponse({"received": True, "outcome": "ignored: unknown shop"})
    return _receive(integration, request, delivery_id)


@csrf_exempt
@require_POST
def woocommerce_hook(request: HttpRequest, integration_id: str) -> HttpResponse:
    integration = (
        Integration.unscoped_all_merchants.select_related("merchant")
        .filter(provider=Provider.WOOCOMMERCE, public_id=integration_id)
        .first()
    )
    if integration is None:
        return _refuse(404, "resource_missing", "No such integration.")
    if WooCommerceProvider.is_ping(request.body, request.headers):
        return JsonResponse({"received": True, "outcome": "ping"})
    if integration.status != IntegrationStatus.CONNECTED:
        # 410: WooCommerce stops delivering to a URL that keeps failing.
        return _refuse(410, "integration_disconnected", "This store is disconnected.")
    if not provider_for(Provider.WOOCOMMERCE).verify(integration, request.body, request.headers):
        return _refuse(401, "signature_invalid", "X-WC-Webhook-Signature does not match the body.")
    delivery_id = request.headers.get("X-WC-Webhook-Delivery-ID", "").strip()
    if not delivery_id:
        return _refuse(400, "delivery_id_missing", "X-WC-Webhook-Delivery-ID is required.")
    return _receive(integration, request, delivery_id)
