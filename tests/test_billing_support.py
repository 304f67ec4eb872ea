"""Shared pieces of the billing tests: localstripe, the in-memory Checkout fake, signed delivery.

What is real and what is fake:

- **localstripe** (a real HTTP server, started once per test session on a free port) holds our
  Stripe account's customers, plans (standing in for prices: localstripe has no Prices API, so
  each plan's id *is* the configured price id), payment methods, subscriptions, invoices and
  events. The gateway talks to it over HTTP through `STRIPE_API_BASE`, exactly as to Stripe.
- **FakeCheckout** (in memory, installed over the gateway's `billing_checkout_session_create`
  and `billing_portal_session_create`) stands in for what localstripe lacks: Checkout sessions,
  the price catalogue they are created from, and customer-portal sessions. Completing a fake
  checkout creates the subscription *in localstripe*, as Stripe would.
- **Webhooks** are signed the way Stripe signs them (stripe-python's own signer, HMAC-SHA256 of
  "<t>.<body>") and verified by the real `stripe.Webhook.construct_event`. Events come from
  localstripe's own event log where it emits that type, or are built around real localstripe
  objects for types it does not emit (`customer.subscription.updated`, `invoice.payment_failed`,
  `checkout.session.completed`).

Also the module's own tests: the fixtures work and the fake refuses what Stripe refuses.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe
from django.test import Client
from django.urls import reverse

from referral_saas import stripe_gateway
from referral_saas.stripe_gateway import BillingCheckoutSession, StripeCallError

BILLING_SECRET = "whsec_billingTestSecret00000000000000abcd"
PRICE_GROWTH = "price_growth_test"
PRICE_SCALE = "price_scale_test"
# A cheap weekly plan no merchant plan sells: moving a subscription from it to a monthly plan
# makes localstripe invoice at once, which is how a renewal can fail there (see `past_due`).
PRICE_SETUP = "price_setup_weekly_test"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"  # attaches fine, every charge is declined

# localstripe pickles its store to /tmp after every write, and other processes on this machine
# may run their own: this test server keeps its store in memory only.
_LOCALSTRIPE = (
    "import localstripe.resources as r\n"
    "r.Store.dump_to_disk = lambda self: None\n"
    "from localstripe.server import start\n"
    "start()\n"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# One server per test session. The fixture is imported into each billing test module, and
# pytest keeps one instance per importing module, so the instances share this process.
_SERVER: dict[str, Any] = {"users": 0, "process": None, "url": ""}


def _start_localstripe() -> str:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _LOCALSTRIPE, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _SERVER.update(process=process, url=f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return str(_SERVER["url"])
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                _stop_localstripe()
                pytest.fail(f"localstripe did not start on port {port}")
            time.sleep(0.1)


def _stop_localstripe() -> None:
    process = _SERVER["process"]
    _SERVER.update(process=None, url="")
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    url = _SERVER["url"] or _start_localstripe()
    _SERVER["users"] += 1
    try:
        yield url
    finally:
        _SERVER["users"] -= 1
        if _SERVER["users"] == 0:
            _stop_localstripe()


class LocalStripe:
    """Drives localstripe directly, the way Stripe's side would change on its own (a customer
    paying, a card being declined, a cancellation in the portal)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = stripe.StripeClient(
            "sk_test_localstripe", base_addresses={"api": url}, max_network_retries=0
        )

    def reset(self) -> None:
        import requests

        requests.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()
        product = self.client.v1.products.create(params={"name": "Referral SaaS"})
        for price, amount, interval in (
            (PRICE_GROWTH, 4900, "month"),
            (PRICE_SCALE, 19900, "month"),
            (PRICE_SETUP, 100, "week"),
        ):
            self.client.v1.plans.create(
                params={
                    "id": price,
                    "amount": amount,
                    "currency": "eur",
                    "interval": interval,
                    "product": product.id,
                }
            )

    def customer(self, customer_id: str) -> dict[str, Any]:
        return self.client.v1.customers.retrieve(customer_id).to_dict()

    def customers(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.client.v1.customers.list(params={"limit": 100}).data]

    def card(self, customer_id: str, number: str = GOOD_CARD) -> None:
        method = self.client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            }
        )
        self.client.v1.payment_methods.attach(method.id, params={"customer": customer_id})
        self.client.v1.customers.update(
            customer_id, params={"invoice_settings": {"default_payment_method": method.id}}
        )

    def subscribe(
        self, customer_id: str, price: str, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        self.card(customer_id)
        return self.client.v1.subscriptions.create(
            params={"customer": customer_id, "items": [{"plan": price}], "metadata": metadata or {}}
        ).to_dict()

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        return self.client.v1.subscriptions.retrieve(subscription_id).to_dict()

    def change_price(self, subscription_id: str, price: str) -> dict[str, Any]:
        item = self.subscription(subscription_id)["items"]["data"][0]["id"]
        return self.client.v1.subscriptions.update(
            subscription_id, params={"items": [{"id": item, "plan": price}]}
        ).to_dict()

    def past_due(self, customer_id: str, price: str) -> dict[str, Any]:
        """A subscription on `price` whose latest payment was declined (status past_due):
        start it on the cheap weekly plan with a good card, then, with a declining card, move
        it to `price`; localstripe invoices the difference at once and the charge fails."""
        subscription = self.subscribe(customer_id, PRICE_SETUP)
        self.card(customer_id, DECLINED_CARD)
        self.change_price(subscription["id"], price)
        subscription = self.subscription(subscription["id"])
        assert subscription["status"] == "past_due", subscription["status"]
        return subscription

    def open_invoice(self, customer_id: str) -> dict[str, Any]:
        invoices = self.client.v1.invoices.list(params={"customer": customer_id, "limit": 100})
        return next(i.to_dict() for i in invoices.data if i.status == "open")

    def recover(self, customer_id: str) -> dict[str, Any]:
        """The customer updates their card and the open invoice is paid."""
        invoice = self.open_invoice(customer_id)
        self.card(customer_id, GOOD_CARD)
        return self.client.v1.invoices.pay(invoice["id"]).to_dict()

    def cancel(self, subscription_id: str) -> dict[str, Any]:
        return self.client.v1.subscriptions.cancel(subscription_id).to_dict()

    def events(self, event_type: str) -> list[dict[str, Any]]:
        """localstripe's own events of a type, oldest first."""
        listed = self.client.v1.events.list(params={"type": event_type, "limit": 100})
        return [e.to_dict() for e in listed.data]


_event_ids = itertools.count(1)


def event(
    event_type: str, obj: dict[str, Any], *, created: int | None = None, event_id: str = ""
) -> dict[str, Any]:
    """An event for a type localstripe does not emit, around a real object."""
    return {
        "id": event_id or f"evt_test_{next(_event_ids):06d}_{int(time.time() * 1000)}",
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def signature(body: str, secret: str = BILLING_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = stripe.WebhookSignature._compute_signature(f"{t}.{body}", secret)
    return f"t={t},v1={mac}"


def deliver(
    client: Client,
    payload: dict[str, Any] | str,
    *,
    secret: str = BILLING_SECRET,
    header: str | None = "sign",
    timestamp: int | None = None,
) -> Any:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    headers = {}
    if header == "sign":
        headers["Stripe-Signature"] = signature(body, secret, timestamp)
    elif header is not None:
        headers["Stripe-Signature"] = header
    return client.post(
        reverse("billing_stripe_hook"), body, content_type="application/json", headers=headers
    )


@dataclass
class FakeCheckout:
    """In-memory Checkout sessions, prices and portal sessions (localstripe has none of them).

    Refuses what Stripe refuses: an unknown price, a customer that does not exist (checked
    against localstripe). The session URL is the success URL itself: the customer "pays"
    instantly, and `complete()` then does on localstripe what Stripe does after payment."""

    stripe_side: LocalStripe
    prices: dict[str, int] = field(default_factory=lambda: {PRICE_GROWTH: 4900, PRICE_SCALE: 19900})
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: list[dict[str, str]] = field(default_factory=list)

    def checkout_session_create(
        self,
        *,
        customer_id: str,
        price_id: str,
        merchant_public_id: str,
        plan: str,
        success_url: str,
        cancel_url: str,
    ) -> BillingCheckoutSession:
        if price_id not in self.prices:
            raise StripeCallError(f"Stripe refused: No such price: '{price_id}'", retriable=False)
        try:
            self.stripe_side.customer(customer_id)
        except stripe.InvalidRequestError:
            raise StripeCallError(
                f"Stripe refused: No such customer: '{customer_id}'", retriable=False
            ) from None
        session_id = f"cs_test_{len(self.sessions) + 1:04d}"
        self.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "customer": customer_id,
            "price": price_id,
            "client_reference_id": merchant_public_id,
            "metadata": {"merchant": merchant_public_id, "plan": plan},
            "success_url": success_url,
            "cancel_url": cancel_url,
            "status": "open",
            "subscription": None,
        }
        return BillingCheckoutSession(id=session_id, url=success_url)

    def portal_session_create(self, *, customer_id: str, return_url: str) -> str:
        self.stripe_side.customer(customer_id)  # Stripe refuses an unknown customer too
        self.portal_sessions.append({"customer": customer_id, "return_url": return_url})
        return f"https://billing.stripe.test/p/session/test_{len(self.portal_sessions)}"

    def complete(self, session_id: str) -> dict[str, Any]:
        """The customer paid: the subscription now exists on localstripe. Returns the
        `checkout.session.completed` event Stripe would send."""
        session = self.sessions[session_id]
        subscription = self.stripe_side.subscribe(
            session["customer"], session["price"], metadata=session["metadata"]
        )
        session.update(status="complete", subscription=subscription["id"])
        public = {k: v for k, v in session.items() if k not in {"price"}}
        return event("checkout.session.completed", public)


@pytest.fixture
def billing_configured(settings: Any) -> None:
    """An installation that sells plans (`billing.plans.billing_configured`): Stripe's key and
    the paid plans' prices are set, so a merchant without a subscription is on Free with its
    limits. Without it the suite runs as a self-hosted installation: no plan limits at all."""
    settings.STRIPE_SECRET_KEY = "sk_test_billing_configured"
    settings.STRIPE_PRICE_GROWTH = PRICE_GROWTH
    settings.STRIPE_PRICE_SCALE = PRICE_SCALE


@dataclass
class BillingStripe:
    stripe_side: LocalStripe
    checkout: FakeCheckout


@pytest.fixture
def billing_stripe(
    localstripe_url: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> BillingStripe:
    """Billing configured against localstripe (reset for each test) and the Checkout fake."""
    settings.STRIPE_SECRET_KEY = "sk_test_localstripe"
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_BILLING_WEBHOOK_SECRET = BILLING_SECRET
    settings.STRIPE_PRICE_GROWTH = PRICE_GROWTH
    settings.STRIPE_PRICE_SCALE = PRICE_SCALE
    stripe_side = LocalStripe(localstripe_url)
    stripe_side.reset()
    fake = FakeCheckout(stripe_side)
    monkeypatch.setattr(
        stripe_gateway, "billing_checkout_session_create", fake.checkout_session_create
    )
    monkeypatch.setattr(stripe_gateway, "billing_portal_session_create", fake.portal_session_create)
    return BillingStripe(stripe_side=stripe_side, checkout=fake)


# --- The support's own tests ---------------------------------------------------------------


def test_the_gateway_talks_to_localstripe(billing_stripe: BillingStripe) -> None:
    customer_id = stripe_gateway.billing_customer_create(
        merchant_public_id="mer_test", email="owner@example.com", name="Acme"
    )
    assert billing_stripe.stripe_side.customer(customer_id)["email"] == "owner@example.com"
    subscription = billing_stripe.stripe_side.subscribe(customer_id, PRICE_GROWTH)

    fetched = stripe_gateway.billing_subscription_retrieve(subscription["id"])

    assert fetched is not None
    assert (fetched.id, fetched.customer_id, fetched.status, fetched.price_id) == (
        subscription["id"],
        customer_id,
        "active",
        PRICE_GROWTH,
    )
    assert fetched.current_period_end is not None
    assert stripe_gateway.billing_subscription_retrieve("sub_doesNotExist000") is None


def test_the_fake_checkout_refuses_unknown_prices_and_customers(
    billing_stripe: BillingStripe,
) -> None:
    with pytest.raises(StripeCallError, match="No such price"):
        stripe_gateway.billing_checkout_session_create(
            customer_id="cus_x",
            price_id="price_nope",
            merchant_public_id="mer_x",
            plan="growth",
            success_url="https://a.example/ok",
            cancel_url="https://a.example/no",
        )
    with pytest.raises(StripeCallError, match="No such customer"):
        stripe_gateway.billing_checkout_session_create(
            customer_id="cus_missing00000",
            price_id=PRICE_GROWTH,
            merchant_public_id="mer_x",
            plan="growth",
            success_url="https://a.example/ok",
            cancel_url="https://a.example/no",
        )


def test_past_due_is_reachable_on_localstripe(billing_stripe: BillingStripe) -> None:
    side = billing_stripe.stripe_side
    customer_id = stripe_gateway.billing_customer_create(
        merchant_public_id="mer_pd", email="a@example.com", name="A"
    )
    subscription = side.past_due(customer_id, PRICE_GROWTH)
    assert subscription["plan"]["id"] == PRICE_GROWTH
    side.recover(customer_id)
    assert side.subscription(subscription["id"])["status"] == "active"
