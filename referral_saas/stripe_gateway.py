"""The one module that talks to Stripe (STYLE.md: "Only one module talks to Stripe").

Everything else in the project calls these functions and never imports `stripe`, so the
boundary can be faked in tests and audited in review: verifying inbound webhooks, the reward
fulfilment calls on a merchant's connected account (promotion codes, customer balance credits,
transfers and their reversals) and, in its own section, our SaaS billing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import stripe

WEBHOOK_TOLERANCE_SECONDS = 300


class WebhookError(Exception):
    """An inbound webhook we refuse: a bad or stale signature, or a body that is not an event.

    `message` is safe to show to the caller (it names what is wrong, never the secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WebhookSignatureError(WebhookError):
    """Missing, malformed, stale (replayed) or wrong signature."""


class WebhookPayloadError(WebhookError):
    """Correctly signed, but not a JSON object shaped like a Stripe event."""


def verify_webhook(payload: bytes, signature_header: str | None, secret: str) -> dict[str, Any]:
    """Verify `payload` against the `Stripe-Signature` header with `secret` (`whsec_…`) using
    Stripe's own `Webhook.construct_event` (timestamps older than 300 s are refused, so a
    captured request cannot be replayed later) and return the event as plain JSON data."""
    if not secret:
        raise WebhookSignatureError("No Stripe signing secret is configured.")
    try:
        stripe.Webhook.construct_event(
            payload, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as error:
        raise WebhookSignatureError(f"Invalid Stripe signature: {error.user_message}") from None
    except ValueError:  # not UTF-8 or not JSON (JSONDecodeError, UnicodeDecodeError)
        raise WebhookPayloadError("The body is not JSON.") from None
    except Exception:  # JSON that stripe cannot build an event from (e.g. a list)
        raise WebhookPayloadError("The body is not a Stripe event.") from None
    # construct_event returns a StripeObject; the rest of the code works on plain JSON data.
    event = json.loads(payload)
    data = event.get("data") if isinstance(event, dict) else None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise WebhookPayloadError(
            "The body is not a Stripe event (needs id, type and data.object)."
        )
    return event


# --- Reward fulfilment on the merchant's connected Stripe account -----------------------------
#
# Every call carries an idempotency key derived from our reward row (`rwd_…:<step>`), so a
# retried or re-run fulfilment (a worker killed after Stripe answered but before we recorded
# it) gets Stripe's first answer back instead of a second coupon, credit or transfer.


class StripeCallError(Exception):
    """A Stripe call failed. `retriable` is False when repeating it cannot help (a card-less
    customer, an invalid account, a permission error): the reward fails at once instead of
    retrying for days. `message` is safe to show to the merchant."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = retriable


@dataclass(frozen=True)
class StripeResult:
    id: str
    code: str = ""


def _client() -> stripe.StripeClient:
    from django.conf import settings

    api_key = getattr(settings, "STRIPE_SECRET_KEY", "") or ""
    if not api_key:
        raise StripeCallError(
            "Stripe is not configured on this installation (STRIPE_SECRET_KEY).", retriable=False
        )
    base = getattr(settings, "STRIPE_API_BASE", "") or ""
    kwargs: dict[str, Any] = {"max_network_retries": 0}
    if base:
        kwargs["base_addresses"] = {"api": base}
    return stripe.StripeClient(api_key, **kwargs)


def _call(func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.IdempotencyError) as error:
        # IdempotencyError: the same key is still being processed by an earlier attempt.
        raise StripeCallError(
            f"Stripe could not be reached: {error.user_message or error}", retriable=True
        ) from None
    except stripe.APIError as error:  # Stripe's own 5xx
        raise StripeCallError(
            f"Stripe failed: {error.user_message or error}", retriable=True
        ) from None
    except stripe.StripeError as error:  # 4xx: our request is wrong; repeating it will not help
        raise StripeCallError(
            f"Stripe refused: {error.user_message or error}", retriable=False
        ) from None


def _options(account: str, idempotency_key: str) -> Any:
    if not account:
        raise StripeCallError("The merchant has not connected a Stripe account.", retriable=False)
    return {"stripe_account": account, "idempotency_key": idempotency_key}


def promotion_code_create(
    *,
    account: str,
    idempotency_key: str,
    code: str,
    percent_off: int | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    expires_at: int | None = None,
) -> StripeResult:
    """A single-use promotion code on a new coupon, on the merchant's account."""
    client = _client()
    coupon_params: dict[str, Any] = {"duration": "once", "max_redemptions": 1}
    if percent_off is not None:
        coupon_params["percent_off"] = percent_off
    else:
        coupon_params.update(amount_off=amount_off, currency=(currency or "").lower())
    coupon = _call(
        client.v1.coupons.create, coupon_params, _options(account, f"{idempotency_key}:coupon")
    )
    params: dict[str, Any] = {
        "promotion": {"type": "coupon", "coupon": coupon.id},
        "code": code,
        "max_redemptions": 1,
    }
    if expires_at:
        params["expires_at"] = expires_at
    promo = _call(
        client.v1.promotion_codes.create, params, _options(account, f"{idempotency_key}:promo")
    )
    return StripeResult(id=str(promo.id), code=str(getattr(promo, "code", code) or code))


def promotion_code_deactivate(
    *, account: str, promotion_code_id: str, idempotency_key: str
) -> None:
    client = _client()
    _call(
        client.v1.promotion_codes.update,
        promotion_code_id,
        {"active": False},
        _options(account, idempotency_key),
    )


def customer_balance_adjust(
    *,
    account: str,
    customer: str,
    amount: int,
    currency: str,
    idempotency_key: str,
    description: str,
) -> StripeResult:
    """A customer balance transaction: a negative `amount` is a credit the customer spends on
    their next invoices, a positive one takes it back."""
    if not customer.startswith("cus_"):
        raise StripeCallError(
            "No Stripe customer id (cus_…) is known for this person: send it as the customer id.",
            retriable=False,
        )
    client = _client()
    txn = _call(
        client.v1.customers.balance_transactions.create,
        customer,
        {"amount": amount, "currency": currency.lower(), "description": description[:350]},
        _options(account, idempotency_key),
    )
    return StripeResult(id=str(txn.id))


def transfer_create(
    *,
    account: str,
    destination: str,
    amount: int,
    currency: str,
    idempotency_key: str,
    description: str,
) -> StripeResult:
    """Cash from the merchant's Stripe balance to the advocate's connected account."""
    if not destination.startswith("acct_"):
        raise StripeCallError(
            "The advocate has no connected Stripe account (acct_…) to pay into.", retriable=False
        )
    client = _client()
    transfer = _call(
        client.v1.transfers.create,
        {
            "amount": amount,
            "currency": currency.lower(),
            "destination": destination,
            "description": description[:350],
        },
        _options(account, idempotency_key),
    )
    return StripeResult(id=str(transfer.id))


def transfer_reverse(
    *, account: str, transfer_id: str, idempotency_key: str, amount: int | None = None
) -> StripeResult:
    """Reverse a transfer: all of it, or `amount` of it (minor units)."""
    client = _client()
    params: dict[str, Any] = {} if amount is None else {"amount": amount}
    reversal = _call(
        client.v1.transfers.reversals.create,
        transfer_id,
        params,
        _options(account, idempotency_key),
    )
    return StripeResult(id=str(reversal.id))


# --- Stripe Connect: the merchant's own account (OAuth) and advocates' Express accounts ---
#
# The merchant connects their Stripe account with Connect OAuth (`connect_authorize_url`, then
# `connect_token` exchanges the code for their `acct_…`; `connect_deauthorize` disconnects).
# Advocates paid by transfer get an Express account on the merchant's account, onboarded through
# an account link (return and refresh URLs); idempotency key `<advocate id>:express`, so a
# double click or a retry makes one account.


def _connect_client() -> stripe.StripeClient:
    from django.conf import settings

    api_key = getattr(settings, "STRIPE_SECRET_KEY", "") or ""
    client_id = getattr(settings, "STRIPE_CONNECT_CLIENT_ID", "") or ""
    if not api_key or not client_id:
        raise StripeCallError(
            "Stripe Connect is not configured on this installation "
            "(STRIPE_SECRET_KEY, STRIPE_CONNECT_CLIENT_ID).",
            retriable=False,
        )
    bases: dict[str, str] = {}
    if getattr(settings, "STRIPE_API_BASE", ""):
        bases["api"] = settings.STRIPE_API_BASE
    if getattr(settings, "STRIPE_CONNECT_BASE", ""):
        bases["connect"] = settings.STRIPE_CONNECT_BASE
    kwargs: dict[str, Any] = {"max_network_retries": 0, "client_id": client_id}
    if bases:
        kwargs["base_addresses"] = bases
    return stripe.StripeClient(api_key, **kwargs)


def connect_authorize_url(*, state: str, redirect_uri: str, email: str = "") -> str:
    """Where to send the merchant to connect their account (`state`: our nonce)."""
    params: dict[str, Any] = {
        "response_type": "code",
        "scope": "read_write",
        "state": state,
        "redirect_uri": redirect_uri,
    }
    if email:
        params["stripe_user"] = {"email": email}
    return str(_connect_client().oauth.authorize_url(params))  # type: ignore[arg-type]


def connect_token(*, code: str) -> str:
    """Exchange the authorization code for the connected account's id (`acct_…`)."""
    token = _call(_connect_client().oauth.token, {"grant_type": "authorization_code", "code": code})
    account = str(getattr(token, "stripe_user_id", "") or "")
    if not account.startswith("acct_"):
        raise StripeCallError("Stripe did not name a connected account.", retriable=False)
    return account


def connect_deauthorize(*, account: str) -> None:
    """Disconnect the merchant's account from our platform."""
    _call(_connect_client().oauth.deauthorize, {"stripe_user_id": account})


@dataclass(frozen=True)
class ExpressAccount:
    id: str
    payouts_enabled: bool
    details_submitted: bool


def express_account_create(*, account: str, email: str, idempotency_key: str) -> str:
    """An Express account for an advocate, on the merchant's account."""
    created = _call(
        _client().v1.accounts.create,
        {
            "type": "express",
            "email": email,
            "capabilities": {"transfers": {"requested": True}},
        },
        _options(account, idempotency_key),
    )
    return str(created.id)


def express_account_link(
    *, account: str, express_account: str, refresh_url: str, return_url: str, idempotency_key: str
) -> str:
    """A one-time onboarding URL (Stripe's account link) for the advocate's Express account."""
    link = _call(
        _client().v1.account_links.create,
        {
            "account": express_account,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "type": "account_onboarding",
        },
        _options(account, idempotency_key),
    )
    return str(link.url)


def express_account_retrieve(*, account: str, express_account: str) -> ExpressAccount:
    found = _call(
        _client().v1.accounts.retrieve,
        express_account,
        None,
        {"stripe_account": account} if account else None,
    )
    return ExpressAccount(
        id=str(found.id),
        payouts_enabled=bool(getattr(found, "payouts_enabled", False)),
        details_submitted=bool(getattr(found, "details_submitted", False)),
    )


# --- SaaS billing (our own Stripe account) ---
#
# Merchants paying us: customers, Checkout sessions, customer-portal sessions, subscriptions and
# invoices on *our* account (never a connected one), plus the billing webhook's signature check.
# Stripe objects are turned into plain dataclasses here, so nothing outside this module touches
# a `StripeObject`. Errors are `StripeCallError` (shared with the section above): `retriable`
# tells the webhook to answer 503 (Stripe redelivers) rather than record a refusal.

BILLING_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class BillingSubscription:
    """The parts of a Stripe subscription that decide a merchant's plan."""

    id: str
    customer_id: str
    status: str
    price_id: str
    created: int
    current_period_end: int | None
    cancel_at_period_end: bool
    metadata: dict[str, str]


@dataclass(frozen=True)
class BillingInvoice:
    id: str
    number: str
    status: str
    total: int
    amount_paid: int
    currency: str
    created: int
    hosted_invoice_url: str
    invoice_pdf: str


@dataclass(frozen=True)
class BillingCheckoutSession:
    id: str
    url: str


def _billing_client() -> stripe.StripeClient:
    from django.conf import settings

    api_key = getattr(settings, "STRIPE_SECRET_KEY", "") or ""
    if not api_key:
        raise StripeCallError(
            "Billing is not set up on this installation (STRIPE_SECRET_KEY).", retriable=False
        )
    base = getattr(settings, "STRIPE_API_BASE", "") or ""
    kwargs: dict[str, Any] = {
        # One retry of network failures; stripe-python sends an idempotency key with it.
        "max_network_retries": 1,
        "http_client": stripe.RequestsClient(timeout=BILLING_TIMEOUT_SECONDS),
    }
    if base:
        kwargs["base_addresses"] = {"api": base}
    return stripe.StripeClient(api_key, **kwargs)


def billing_verify_webhook(payload: bytes, signature_header: str | None) -> dict[str, Any]:
    """Verify an event of our billing endpoint with `STRIPE_BILLING_WEBHOOK_SECRET`."""
    from django.conf import settings

    return verify_webhook(
        payload, signature_header, getattr(settings, "STRIPE_BILLING_WEBHOOK_SECRET", "") or ""
    )


def billing_customer_create(*, merchant_public_id: str, email: str, name: str) -> str:
    """Create our Stripe customer for a merchant and return its id.

    Idempotency key `billing-customer-<merchant public id>`: two concurrent first upgrades (or a
    crash before we stored the id) get the same customer back instead of a second one."""
    customer = _call(
        _billing_client().v1.customers.create,
        {"email": email, "name": name[:256], "metadata": {"merchant": merchant_public_id}},
        {"idempotency_key": f"billing-customer-{merchant_public_id}"},
    )
    return str(customer.id)


def billing_checkout_session_create(
    *,
    customer_id: str,
    price_id: str,
    merchant_public_id: str,
    plan: str,
    success_url: str,
    cancel_url: str,
) -> BillingCheckoutSession:
    """A Checkout session (mode subscription) for one price; the merchant is sent to `url`.

    No idempotency key: a second click makes a second session, which expires unused, while a
    reused key would hand back a session that may already have expired. The merchant's public
    id rides along as `client_reference_id` and subscription metadata, so the webhook can find
    the merchant even for events about a subscription it has not seen yet."""
    session = _call(
        _billing_client().v1.checkout.sessions.create,
        {
            "mode": "subscription",
            "customer": customer_id,
            "line_items": [{"price": price_id, "quantity": 1}],
            "client_reference_id": merchant_public_id,
            "subscription_data": {"metadata": {"merchant": merchant_public_id, "plan": plan}},
            "success_url": success_url,
            "cancel_url": cancel_url,
            "allow_promotion_codes": True,
        },
    )
    return BillingCheckoutSession(id=str(session.id), url=str(session.url))


def billing_portal_session_create(*, customer_id: str, return_url: str) -> str:
    """The URL of a customer-portal session (payment methods, plan changes, cancellation,
    invoices) for our customer; it expires after use, so nothing is stored."""
    session = _call(
        _billing_client().v1.billing_portal.sessions.create,
        {"customer": customer_id, "return_url": return_url},
    )
    return str(session.url)


def billing_subscription_retrieve(subscription_id: str) -> BillingSubscription | None:
    """The subscription as Stripe knows it now (None if Stripe has no such subscription).

    The webhook re-reads the subscription instead of trusting the event's snapshot, which makes
    late, duplicated and out-of-order events converge on Stripe's current state."""
    try:
        subscription = _billing_client().v1.subscriptions.retrieve(subscription_id)
    except stripe.InvalidRequestError as error:
        if error.http_status == 404:
            return None
        raise StripeCallError(
            f"Stripe refused: {error.user_message or error}", retriable=False
        ) from None
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise StripeCallError(
            f"Stripe could not be reached: {error.user_message or error}", retriable=True
        ) from None
    except stripe.StripeError as error:
        raise StripeCallError(
            f"Stripe refused: {error.user_message or error}", retriable=False
        ) from None
    return billing_subscription_from_data(subscription.to_dict())


def billing_subscription_from_data(data: dict[str, Any]) -> BillingSubscription:
    """Parse a subscription from plain JSON (an event's `data.object` or a retrieved one).

    The price comes from the first item's `price` (or legacy `plan`, as older API versions
    and localstripe send); the period end from the subscription or, on API versions from
    2025 on, its item."""
    items = ((data.get("items") or {}).get("data") or [{}])[0] or {}
    price = items.get("price") or items.get("plan") or data.get("plan") or {}
    price_id = price.get("id", "") if isinstance(price, dict) else str(price)
    period_end = data.get("current_period_end") or items.get("current_period_end")
    customer = data.get("customer") or ""
    return BillingSubscription(
        id=str(data.get("id") or ""),
        customer_id=str(customer.get("id", "") if isinstance(customer, dict) else customer),
        status=str(data.get("status") or ""),
        price_id=str(price_id or ""),
        created=int(data.get("created") or 0),
        current_period_end=int(period_end) if period_end else None,
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


def billing_invoices_list(*, customer_id: str, limit: int = 24) -> list[BillingInvoice]:
    """Our customer's most recent invoices, newest first."""
    page = _call(
        _billing_client().v1.invoices.list, {"customer": customer_id, "limit": min(limit, 100)}
    )
    invoices = []
    for invoice in page.data:
        data = invoice.to_dict()
        invoices.append(
            BillingInvoice(
                id=str(data.get("id") or ""),
                number=str(data.get("number") or ""),
                status=str(data.get("status") or ""),
                total=int(data.get("total") or 0),
                amount_paid=int(data.get("amount_paid") or 0),
                currency=str(data.get("currency") or "").upper(),
                created=int(data.get("created") or 0),
                hosted_invoice_url=str(data.get("hosted_invoice_url") or ""),
                invoice_pdf=str(data.get("invoice_pdf") or ""),
            )
        )
    return invoices
