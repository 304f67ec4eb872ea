"""Connecting and disconnecting stores (every write here is audited in the merchant's log).

- Shopify: `shopify_install_begin` (the state nonce, bound to the person's session) →
  Shopify's consent screen → `shopify_install_callback_check` (state, HMAC, shop) →
  `shopify_connect` (token exchanged, stored encrypted, webhooks created).
- WooCommerce: `woocommerce_connect` (URL checked against SSRF, key pair checked with one call,
  webhooks created with a secret of ours).
- `integration_disconnect`: remove our webhooks and access in the store where we still can,
  then wipe every credential; also what an uninstall from the store's side runs (no calls).
- `integration_health_check`: one live call, its outcome kept as the last error (or cleared).

Invalid input raises `SpecError` naming the field.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from integrations import shopify_gateway, woocommerce_gateway
from integrations.models import Integration, IntegrationStatus, Provider, StoreEvent
from integrations.providers import provider_for
from integrations.providers.base import Health, StoreError
from programs.specs import SpecError
from referral_saas import tenancy

OAUTH_SESSION_KEY = "integrations_shopify_oauth"
OAUTH_STATE_TTL_SECONDS = 600
MAX_KEY_LENGTH = 200


def integration_connected(provider: str) -> Integration | None:
    """The current merchant's connected store of this provider, if any."""
    return Integration.objects.filter(provider=provider, status=IntegrationStatus.CONNECTED).first()


def _taken_elsewhere(provider: str, shop: str) -> bool:
    # Across merchants by nature: one shop feeds one merchant at a time.
    return Integration.unscoped_all_merchants.filter(
        provider=provider, shop=shop, status=IntegrationStatus.CONNECTED
    ).exists()


def _save_connected(integration: Integration, field: str) -> Integration:
    try:
        with transaction.atomic():
            integration.save()
    except IntegrityError:
        raise SpecError({field: "This store was connected by someone else meanwhile."}) from None
    return integration


def _audit(
    action: str,
    integration: Integration,
    actor: User | None,
    request: HttpRequest | None,
    **data: Any,
) -> None:
    audit_record(
        action=action,
        actor=actor,
        actor_label="" if actor else f"{integration.get_provider_display()} ({integration.shop})",
        target=integration,
        data={"provider": integration.provider, "shop": integration.shop, **data},
        request=request,
    )


# --- Shopify ---------------------------------------------------------------------------------


def oauth_redirect_uri() -> str:
    return f"{settings.PUBLIC_BASE_URL}/integrations/shopify/callback/"


def shopify_install_begin(
    *, session: MutableMapping[str, Any], merchant_slug: str, shop: Any
) -> str:
    """The URL of Shopify's consent screen for `shop`. The state nonce and the shop are kept in
    this person's session: the callback must come back to the same session, for the same shop,
    within OAUTH_STATE_TTL_SECONDS."""
    if not shopify_gateway.configured():
        raise SpecError(
            {"shop": "Shopify is not configured here (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)."}
        )
    try:
        domain = shopify_gateway.validate_shop_domain(shop)
    except ValueError as error:
        raise SpecError({"shop": str(error)}) from None
    current = integration_connected(Provider.SHOPIFY)
    if current is not None and current.shop != domain:
        raise SpecError({"shop": f"Disconnect {current.shop} first: one Shopify shop at a time."})
    state = secrets.token_urlsafe(32)
    session[OAUTH_SESSION_KEY] = {
        "state": state,
        "shop": domain,
        "merchant": merchant_slug,
        "at": int(time.time()),
    }
    return shopify_gateway.authorize_url(
        shop=domain, state=state, redirect_uri=oauth_redirect_uri()
    )


@dataclass(frozen=True)
class Callback:
    merchant_slug: str
    shop: str
    code: str


def shopify_install_callback_check(
    *, session: MutableMapping[str, Any], params: dict[str, str]
) -> Callback:
    """Shopify's redirect back, checked: the state is the one in this session (used once), the
    shop is the one we sent there, the HMAC over the query is Shopify's. SpecError otherwise."""
    pending = session.pop(OAUTH_SESSION_KEY, None)
    if not isinstance(pending, dict) or not secrets.compare_digest(
        str(pending.get("state", "")), params.get("state", "")
    ):
        raise SpecError({"state": "This installation link is not from your session: start again."})
    if int(time.time()) - int(pending.get("at", 0)) > OAUTH_STATE_TTL_SECONDS:
        raise SpecError({"state": "The installation took too long: start again."})
    try:
        shop = shopify_gateway.validate_shop_domain(params.get("shop", ""))
    except ValueError as error:
        raise SpecError({"shop": str(error)}) from None
    if shop != pending.get("shop"):
        raise SpecError({"shop": "Shopify answered for another shop: start again."})
    if not shopify_gateway.verify_callback(params):
        raise SpecError({"hmac": "The answer is not signed by Shopify."})
    if not params.get("code"):
        raise SpecError({"code": "Shopify sent no installation code."})
    return Callback(merchant_slug=str(pending["merchant"]), shop=shop, code=params["code"])


def shopify_connect(
    *, shop: str, code: str, actor: User | None, request: HttpRequest | None = None
) -> Integration:
    """Exchange the code for an access token (stored encrypted), create the webhook
    subscriptions, and record the shop as connected. Reinstalling the same shop replaces its
    token and webhooks."""
    current = integration_connected(Provider.SHOPIFY)
    if current is not None and current.shop != shop:
        raise SpecError({"shop": f"Disconnect {current.shop} first: one Shopify shop at a time."})
    if current is None and _taken_elsewhere(Provider.SHOPIFY, shop):
        raise SpecError({"shop": "This shop is connected to another account."})
    try:
        token = shopify_gateway.token_exchange(shop=shop, code=code)
    except shopify_gateway.ShopifyError as error:
        raise SpecError({"code": error.message}) from None
    integration = current or Integration(
        merchant=tenancy.get_current_merchant(), provider=Provider.SHOPIFY, shop=shop
    )
    integration.access_token, integration.scopes = token.access_token, token.scopes[:500]
    integration.status = IntegrationStatus.CONNECTED
    try:
        integration.webhooks = provider_for(Provider.SHOPIFY).connect(integration)
    except StoreError as error:
        raise SpecError({"shop": error.message}) from None
    integration.connected_at, integration.last_error = timezone.now(), ""
    _save_connected(integration, "shop")
    _audit("integration.connected", integration, actor, request, webhooks=len(integration.webhooks))
    return integration


# --- WooCommerce -----------------------------------------------------------------------------


def _key(value: Any, field: str, prefix: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError({field: "This field is required."})
    value = value.strip()
    if not value.startswith(prefix) or len(value) > MAX_KEY_LENGTH or not value.isascii():
        raise SpecError({field: f"WooCommerce {field.replace('_', ' ')}s start with {prefix}."})
    return value


def woocommerce_connect(
    *,
    store_url: Any,
    consumer_key: Any,
    consumer_secret: Any,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Integration:
    """Check the store URL (SSRF guard) and the key pair (one call), create the webhooks for
    orders signed with a secret of ours, and record the store as connected."""
    try:
        url = woocommerce_gateway.validate_store_url(store_url)
    except ValueError as error:
        raise SpecError({"store_url": str(error)}) from None
    key = _key(consumer_key, "consumer_key", "ck_")
    secret = _key(consumer_secret, "consumer_secret", "cs_")
    current = integration_connected(Provider.WOOCOMMERCE)
    if current is not None:
        raise SpecError({"store_url": f"Disconnect {current.shop} first: one store at a time."})
    if _taken_elsewhere(Provider.WOOCOMMERCE, url):
        raise SpecError({"store_url": "This store is connected to another account."})
    integration = Integration(
        merchant=tenancy.get_current_merchant(),
        provider=Provider.WOOCOMMERCE,
        shop=url,
        consumer_key=key,
        consumer_secret=secret,
        webhook_secret=secrets.token_urlsafe(32),
    )
    try:
        integration.webhooks = provider_for(Provider.WOOCOMMERCE).connect(integration)
    except StoreError as error:
        field = "consumer_key" if error.uninstalled else "store_url"
        raise SpecError({field: error.message}) from None
    _save_connected(integration, "store_url")
    _audit("integration.connected", integration, actor, request, webhooks=len(integration.webhooks))
    return integration


# --- Both ------------------------------------------------------------------------------------


def _wipe(integration: Integration) -> None:
    integration.access_token = integration.consumer_key = integration.consumer_secret = ""
    integration.webhook_secret = ""


def integration_disconnect(
    *,
    integration: Integration,
    reason: str,
    actor: User | None = None,
    request: HttpRequest | None = None,
    remote: bool = True,
) -> bool:
    """Disconnect: with `remote`, first remove our webhooks (and, on Shopify, our access) in
    the store — a store that no longer answers does not keep us connected, its error is kept.
    Then every credential is wiped. Idempotent: False when it was not connected."""
    remote_error = ""
    if remote and integration.connected:
        try:
            provider_for(integration.provider).disconnect(integration)
        except StoreError as error:
            remote_error = error.message
    now = timezone.now()
    changed = Integration.objects.filter(
        pk=integration.pk, status=IntegrationStatus.CONNECTED
    ).update(
        status=IntegrationStatus.DISCONNECTED,
        disconnected_at=now,
        disconnect_reason=reason[:200],
        access_token="",
        consumer_key="",
        consumer_secret="",
        webhook_secret="",
        webhooks=[],
        last_error=remote_error[:500],
        last_error_at=now if remote_error else integration.last_error_at,
    )
    integration.refresh_from_db()
    if changed:
        _audit(
            "integration.disconnected",
            integration,
            actor,
            request,
            reason=reason[:200],
            store_error=remote_error[:200],
        )
    return bool(changed)


def integration_erase(*, integration: Integration, keep_event_id: int | None = None) -> int:
    """Shopify's `shop/redact` (48 hours after an uninstall): forget what we kept about the
    shop's deliveries and any credential left. The merchant's own data stays (they are our
    customer, not only the shop's)."""
    if integration.connected:
        integration_disconnect(
            integration=integration, reason="The shop asked to be erased.", remote=False
        )
    # The request itself stays recorded (its outcome says what was erased).
    deleted, _ = (
        StoreEvent.objects.filter(integration=integration).exclude(pk=keep_event_id).delete()
    )
    Integration.objects.filter(pk=integration.pk).update(
        access_token="", consumer_key="", consumer_secret="", webhook_secret="", webhooks=[]
    )
    return deleted


def integration_record_error(
    *, integration: Integration, message: str, at: datetime | None = None
) -> None:
    Integration.objects.filter(pk=integration.pk).update(
        last_error=message[:500], last_error_at=at or timezone.now()
    )


def integration_health_check(*, integration: Integration) -> Health:
    """One live call to the store; a failure is kept as the last error, success clears it.
    A store that refuses our credentials no longer has us installed: disconnected, no calls."""
    health = provider_for(integration.provider).health(integration)
    if health.uninstalled:
        integration_disconnect(
            integration=integration, reason="The store refused our access.", remote=False
        )
    if health.ok:
        Integration.objects.filter(pk=integration.pk).update(last_error="")
    else:
        integration_record_error(integration=integration, message=health.detail)
    return health
