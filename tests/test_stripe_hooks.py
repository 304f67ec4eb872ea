"""Inbound Stripe webhooks: POST /hooks/stripe/<merchant public id>/.

Payloads are signed the way Stripe signs them (HMAC-SHA256 of "<t>.<body>" with the endpoint's
`whsec_` secret, computed with stripe-python's own signer) and verified by the real
`stripe.Webhook.construct_event`; nothing about Stripe is mocked.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import stripe
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Merchant
from referral_saas import tenancy
from tests.conftest import World, login
from tracking.models import Conversion, ConversionStatus, Refund, StripeEvent

ACME_SECRET = "whsec_acmeTestSecret0000000000000000wxyz"
GLOBEX_SECRET = "whsec_globexTestSecret000000000000000qrst"


@pytest.fixture
def hooked(world: World) -> World:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_webhook_secret=ACME_SECRET)
    Merchant.objects.filter(pk=world.globex.pk).update(stripe_webhook_secret=GLOBEX_SECRET)
    world.acme.refresh_from_db()
    world.globex.refresh_from_db()
    return world


def signature(body: str, secret: str = ACME_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = stripe.WebhookSignature._compute_signature(f"{t}.{body}", secret)
    return f"t={t},v1={mac}"


def hook_url(merchant: Merchant) -> str:
    return reverse("stripe_hook", kwargs={"merchant_id": merchant.public_id})


def deliver(
    client: Client,
    merchant: Merchant,
    event: dict[str, Any] | str,
    *,
    secret: str = ACME_SECRET,
    header: str | None = "sign",
) -> Any:
    body = event if isinstance(event, str) else json.dumps(event)
    headers = {} if header is None else {"Stripe-Signature": header}
    if header == "sign":
        headers["Stripe-Signature"] = signature(body, secret)
    return client.post(hook_url(merchant), body, content_type="application/json", headers=headers)


def event(event_id: str, type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": int(time.time()) - 60,
        "livemode": False,
        "api_version": "2024-06-20",
        "data": {"object": obj},
    }


def checkout(
    event_id: str = "evt_checkout_1",
    *,
    payment_intent: str | None = "pi_1",
    invoice: str | None = None,
    amount: int = 10000,
    metadata: dict[str, str] | None = None,
    client_reference_id: str | None = None,
    discounts: list[dict[str, Any]] | None = None,
    payment_status: str = "paid",
) -> dict[str, Any]:
    return event(
        event_id,
        "checkout.session.completed",
        {
            "id": "cs_test_1",
            "object": "checkout.session",
            "amount_total": amount,
            "currency": "eur",
            "customer": "cus_1",
            "customer_details": {"email": "Ana@Example.com", "name": "Ana Pop"},
            "client_reference_id": client_reference_id,
            "metadata": metadata or {},
            "discounts": discounts or [],
            "invoice": invoice,
            "mode": "subscription" if invoice else "payment",
            "payment_intent": payment_intent,
            "payment_status": payment_status,
        },
    )


def charge_refunded(
    event_id: str,
    *,
    refunds: list[tuple[str, int]] | None,
    amount_refunded: int,
    payment_intent: str = "pi_1",
    amount: int = 10000,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "ch_1",
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount_refunded,
        "currency": "eur",
        "payment_intent": payment_intent,
        "refunded": amount_refunded >= amount,
    }
    if refunds is not None:
        obj["refunds"] = {
            "object": "list",
            "data": [
                {
                    "id": rid,
                    "object": "refund",
                    "amount": value,
                    "status": "succeeded",
                    "created": 1_700_000_000 + i,
                }
                for i, (rid, value) in enumerate(refunds)
            ],
        }
    return event(event_id, "charge.refunded", obj)


def dispute(event_id: str = "evt_dispute_1", payment_intent: str = "pi_1") -> dict[str, Any]:
    return event(
        event_id,
        "charge.dispute.created",
        {
            "id": "dp_1",
            "object": "dispute",
            "amount": 10000,
            "charge": "ch_1",
            "payment_intent": payment_intent,
            "reason": "fraudulent",
            "status": "needs_response",
        },
    )


def rows(merchant: Merchant) -> tuple[list[Conversion], list[Refund], list[StripeEvent]]:
    with tenancy.merchant_context(merchant):
        return (
            list(Conversion.objects.order_by("pk")),
            list(Refund.objects.order_by("pk")),
            list(StripeEvent.objects.order_by("pk")),
        )


def refunds_of(merchant: Merchant) -> list[tuple[str, int]]:
    return [(r.external_id, r.amount) for r in rows(merchant)[1]]


# --- Signatures and refusals -----------------------------------------------------------------


def test_valid_signature_records_the_checkout_as_a_conversion(
    client: Client, hooked: World
) -> None:
    response = deliver(client, hooked.acme, checkout(metadata={"referral_code": "luca-7k2m9p"}))

    assert response.status_code == 200
    body = response.json()
    assert body["received"] is True
    assert body["duplicate"] is False
    assert body["event"] == "evt_checkout_1"
    conversions, refunds, events = rows(hooked.acme)
    [conversion] = conversions
    assert conversion.order_id == "pi_1"
    assert conversion.referral_code == "LUCA-7K2M9P"
    assert (conversion.amount, conversion.currency) == (10000, "EUR")
    assert (conversion.customer_email, conversion.customer_id) == ("ana@example.com", "cus_1")
    assert conversion.customer_name == "Ana Pop"
    assert conversion.status == ConversionStatus.RECEIVED
    assert conversion.metadata["stripe_event"] == "evt_checkout_1"
    assert refunds == []
    [recorded] = events
    assert (recorded.event_id, recorded.type) == ("evt_checkout_1", "checkout.session.completed")
    assert recorded.processed_at is not None
    assert recorded.outcome == body["outcome"]
    assert recorded.outcome.startswith(f"conversion {conversion.public_id} for order pi_1")
    assert recorded.payload is None  # customer data is not kept once handled
    assert rows(hooked.globex) == ([], [], [])


def _stale(body: str) -> str:
    return signature(body, timestamp=int(time.time()) - 301)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_secret", "No signatures found matching"),
        ("tampered_body", "No signatures found matching"),
        ("too_old", "Timestamp outside the tolerance zone"),
        ("missing_header", "No Stripe-Signature header"),
        ("malformed_header", "Unable to extract timestamp and signatures"),
        ("other_merchants_secret", "No signatures found matching"),
    ],
)
def test_bad_signatures_are_refused_and_write_nothing(
    client: Client, hooked: World, case: str, message: str
) -> None:
    body = json.dumps(checkout())
    headers = {
        "wrong_secret": signature(body, "whsec_someoneElse00000000000000000000"),
        "tampered_body": signature(body),  # signed the original; the body is changed below
        "too_old": _stale(body),
        "missing_header": None,
        "malformed_header": "t=not-a-time,v9",
        "other_merchants_secret": signature(body, GLOBEX_SECRET),
    }
    sent = body.replace("10000", "1") if case == "tampered_body" else body

    response = deliver(client, hooked.acme, sent, header=headers[case])

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "signature_invalid"
    assert error["message"].startswith("Invalid Stripe signature: ")
    assert message in error["message"]
    assert rows(hooked.acme) == ([], [], [])
    assert rows(hooked.globex) == ([], [], [])


def test_a_replayed_delivery_is_refused_once_its_timestamp_is_old(
    client: Client, hooked: World
) -> None:
    body = json.dumps(checkout())
    old = int(time.time()) - 3600
    header = signature(body, timestamp=old)  # a captured, genuinely signed request

    response = deliver(client, hooked.acme, body, header=header)

    assert response.status_code == 400
    assert rows(hooked.acme) == ([], [], [])


def test_unknown_merchant_is_404(client: Client, hooked: World) -> None:
    body = json.dumps(checkout())
    response = client.post(
        reverse("stripe_hook", kwargs={"merchant_id": "mer_doesnotexist"}),
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature(body),
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
    assert rows(hooked.acme) == ([], [], [])


def test_merchant_without_a_secret_is_told_so(client: Client, world: World) -> None:
    response = deliver(client, world.acme, checkout())

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "webhook_secret_missing"
    assert "has not set a Stripe webhook signing secret" in error["message"]
    assert rows(world.acme) == ([], [], [])


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"id": "evt_1"}', '"text"'])
def test_signed_garbage_is_400_not_500(client: Client, hooked: World, body: str) -> None:
    response = deliver(client, hooked.acme, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"
    assert rows(hooked.acme) == ([], [], [])


def test_get_is_not_allowed(client: Client, hooked: World) -> None:
    assert client.get(hook_url(hooked.acme)).status_code == 405


# --- Conversions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"metadata": {"ref": "MARA-22222"}}, "MARA-22222"),
        ({"client_reference_id": "IOAN-33333"}, "IOAN-33333"),
        (
            {
                "discounts": [
                    {"coupon": "co_1", "promotion_code": {"id": "promo_1", "code": "ANA-4"}}
                ]
            },
            "ANA-4",
        ),
        # Metadata wins over the rest; a client_reference_id that cannot be a code is skipped.
        (
            {"metadata": {"referral_code": "LUCA-1"}, "client_reference_id": "IOAN-2"},
            "LUCA-1",
        ),
        ({"client_reference_id": "user_42"}, ""),
        ({}, ""),
    ],
)
def test_referral_code_sources(
    client: Client, hooked: World, fields: dict[str, Any], code: str
) -> None:
    response = deliver(client, hooked.acme, checkout(**fields))

    assert response.status_code == 200
    [conversion] = rows(hooked.acme)[0]
    assert conversion.referral_code == code


def test_the_same_event_twice_is_one_conversion_and_one_event(
    client: Client, hooked: World
) -> None:
    first = deliver(client, hooked.acme, checkout(metadata={"ref": "LUCA-1"}))
    second = deliver(client, hooked.acme, checkout(metadata={"ref": "LUCA-1"}))

    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["outcome"] == first.json()["outcome"]
    conversions, _, events = rows(hooked.acme)
    assert len(conversions) == 1
    assert len(events) == 1


def test_a_second_event_for_the_same_order_is_the_same_conversion(
    client: Client, hooked: World
) -> None:
    deliver(client, hooked.acme, checkout("evt_a"))
    response = deliver(client, hooked.acme, checkout("evt_b"))

    assert "already recorded" in response.json()["outcome"]
    conversions, _, events = rows(hooked.acme)
    assert len(conversions) == 1
    assert [e.event_id for e in events] == ["evt_a", "evt_b"]


def test_unpaid_checkout_waits_for_async_payment(client: Client, hooked: World) -> None:
    pending = checkout("evt_a", payment_status="unpaid")
    paid = checkout("evt_b")
    paid["type"] = "checkout.session.async_payment_succeeded"

    first = deliver(client, hooked.acme, pending)
    assert first.json()["outcome"].startswith("ignored: not paid yet")
    assert rows(hooked.acme)[0] == []
    deliver(client, hooked.acme, paid)
    assert [c.order_id for c in rows(hooked.acme)[0]] == ["pi_1"]


def invoice_paid(event_id: str = "evt_invoice_1", **extra: Any) -> dict[str, Any]:
    return event(
        event_id,
        "invoice.paid",
        {
            "id": "in_1",
            "object": "invoice",
            "amount_paid": 2900,
            "currency": "usd",
            "customer": "cus_9",
            "customer_email": "bo@example.com",
            "customer_name": "Bo",
            "payment_intent": "pi_9",
            "subscription_details": {"metadata": {"referral_code": "LUCA-9"}},
            **extra,
        },
    )


def test_invoice_paid_is_a_conversion(client: Client, hooked: World) -> None:
    response = deliver(client, hooked.acme, invoice_paid())

    assert response.status_code == 200
    [conversion] = rows(hooked.acme)[0]
    assert (conversion.order_id, conversion.amount, conversion.currency) == ("in_1", 2900, "USD")
    assert (conversion.customer_email, conversion.referral_code) == ("bo@example.com", "LUCA-9")


def test_subscription_checkout_and_its_invoice_are_one_conversion(
    client: Client, hooked: World
) -> None:
    deliver(
        client,
        hooked.acme,
        checkout(payment_intent=None, invoice="in_1", amount=2900, metadata={"ref": "LUCA-9"}),
    )
    deliver(client, hooked.acme, invoice_paid())

    [conversion] = rows(hooked.acme)[0]
    assert (conversion.order_id, conversion.referral_code) == ("in_1", "LUCA-9")


def test_an_event_we_cannot_use_is_recorded_as_rejected_and_writes_nothing_else(
    client: Client, hooked: World
) -> None:
    bad = checkout()
    bad["data"]["object"]["customer_details"] = {"email": None}

    response = deliver(client, hooked.acme, bad)

    assert response.status_code == 200
    assert response.json()["outcome"] == "rejected: customer.email: An email address is required."
    conversions, refunds, [recorded] = rows(hooked.acme)
    assert (conversions, refunds) == ([], [])
    assert recorded.processed_at is not None


def test_unknown_event_types_are_ignored_but_recorded(client: Client, hooked: World) -> None:
    response = deliver(client, hooked.acme, event("evt_x", "customer.created", {"id": "cus_1"}))

    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored: no handler for this event type"
    conversions, _, [recorded] = rows(hooked.acme)
    assert conversions == []
    assert (recorded.type, recorded.processed_at is not None) == ("customer.created", True)


# --- Refunds and disputes --------------------------------------------------------------------


def test_partial_then_full_refund_add_up_and_never_exceed(client: Client, hooked: World) -> None:
    deliver(client, hooked.acme, checkout())

    deliver(
        client,
        hooked.acme,
        charge_refunded("evt_r1", refunds=[("re_1", 3000)], amount_refunded=3000),
    )
    [conversion] = rows(hooked.acme)[0]
    assert (conversion.refunded_amount, conversion.status) == (3000, ConversionStatus.RECEIVED)

    deliver(
        client,
        hooked.acme,
        charge_refunded("evt_r2", refunds=[("re_1", 3000), ("re_2", 7000)], amount_refunded=10000),
    )
    # The older event again (a new id, as Stripe's retries of other events may arrive late).
    deliver(
        client,
        hooked.acme,
        charge_refunded("evt_r1_late", refunds=[("re_1", 3000)], amount_refunded=3000),
    )

    [conversion] = rows(hooked.acme)[0]
    assert (conversion.refunded_amount, conversion.status) == (10000, ConversionStatus.REFUNDED)
    assert refunds_of(hooked.acme) == [("re_1", 3000), ("re_2", 7000)]


def test_full_refund_before_partial_is_the_same_final_state(client: Client, hooked: World) -> None:
    deliver(client, hooked.acme, checkout())
    deliver(
        client,
        hooked.acme,
        charge_refunded("evt_r2", refunds=[("re_1", 3000), ("re_2", 7000)], amount_refunded=10000),
    )
    deliver(
        client,
        hooked.acme,
        charge_refunded("evt_r1", refunds=[("re_1", 3000)], amount_refunded=3000),
    )

    [conversion] = rows(hooked.acme)[0]
    assert conversion.refunded_amount == 10000
    assert refunds_of(hooked.acme) == [("re_1", 3000), ("re_2", 7000)]


def test_refunds_without_the_refund_list_use_the_charge_total(
    client: Client, hooked: World
) -> None:
    deliver(client, hooked.acme, checkout())
    deliver(client, hooked.acme, charge_refunded("evt_r1", refunds=None, amount_refunded=2500))
    deliver(client, hooked.acme, charge_refunded("evt_r2", refunds=None, amount_refunded=4000))
    # The same refunds, now reported with ids: already counted, nothing more.
    deliver(
        client,
        hooked.acme,
        charge_refunded("evt_r3", refunds=[("re_1", 2500), ("re_2", 1500)], amount_refunded=4000),
    )

    [conversion] = rows(hooked.acme)[0]
    assert conversion.refunded_amount == 4000
    assert refunds_of(hooked.acme) == [("ch_1:refunded:2500", 2500), ("ch_1:refunded:4000", 1500)]


def test_refund_before_its_checkout_waits_then_applies(client: Client, hooked: World) -> None:
    # given: the refund arrives first
    response = deliver(
        client,
        hooked.acme,
        charge_refunded("evt_r1", refunds=[("re_1", 3000)], amount_refunded=3000),
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "waiting for order pi_1"
    conversions, refunds, [waiting] = rows(hooked.acme)
    assert (conversions, refunds) == ([], [])
    assert (waiting.processed_at, waiting.waiting_for) == (None, ["pi_1"])

    # when: its checkout arrives
    response = deliver(client, hooked.acme, checkout(metadata={"ref": "LUCA-1"}))

    # then: the conversion carries its attribution and the refund
    assert response.json()["outcome"].endswith("; applied 1 waiting event(s)")
    [conversion], _, events = rows(hooked.acme)
    assert (conversion.referral_code, conversion.refunded_amount) == ("LUCA-1", 3000)
    assert refunds_of(hooked.acme) == [("re_1", 3000)]
    refund_event = next(e for e in events if e.event_id == "evt_r1")
    assert refund_event.processed_at is not None
    assert refund_event.payload is None
    assert refund_event.outcome.startswith("refunded 3000 on conversion")

    # A redelivery of the checkout applies nothing twice.
    deliver(client, hooked.acme, checkout("evt_checkout_again"))
    assert rows(hooked.acme)[0][0].refunded_amount == 3000


def test_dispute_is_a_full_refund(client: Client, hooked: World) -> None:
    deliver(client, hooked.acme, checkout())
    deliver(
        client,
        hooked.acme,
        charge_refunded("evt_r1", refunds=[("re_1", 3000)], amount_refunded=3000),
    )

    response = deliver(client, hooked.acme, dispute())
    again = deliver(client, hooked.acme, dispute("evt_dispute_retry"))

    assert response.status_code == again.status_code == 200
    [conversion] = rows(hooked.acme)[0]
    assert (conversion.refunded_amount, conversion.status) == (10000, ConversionStatus.REFUNDED)
    assert refunds_of(hooked.acme) == [("re_1", 3000), ("dispute:dp_1", 7000)]


def test_dispute_before_checkout_then_refund_is_never_over(client: Client, hooked: World) -> None:
    deliver(client, hooked.acme, dispute())
    deliver(client, hooked.acme, checkout())
    deliver(
        client,
        hooked.acme,
        charge_refunded("evt_r1", refunds=[("re_1", 3000)], amount_refunded=3000),
    )

    [conversion] = rows(hooked.acme)[0]
    assert conversion.refunded_amount == 10000
    assert refunds_of(hooked.acme) == [("dispute:dp_1", 10000)]


def test_events_stay_in_their_merchant(client: Client, hooked: World) -> None:
    # The same Stripe ids at two merchants are two merchants' business.
    deliver(client, hooked.acme, checkout())
    deliver(client, hooked.globex, checkout(), secret=GLOBEX_SECRET)
    deliver(
        client,
        hooked.globex,
        charge_refunded("evt_r1", refunds=[("re_1", 3000)], amount_refunded=3000),
        secret=GLOBEX_SECRET,
    )

    assert rows(hooked.acme)[0][0].refunded_amount == 0
    assert refunds_of(hooked.acme) == []
    assert rows(hooked.globex)[0][0].refunded_amount == 3000


# --- Dashboard: the signing secret -----------------------------------------------------------


def settings_url(merchant: Merchant) -> str:
    return reverse("merchant_settings", kwargs={"merchant_slug": merchant.slug})


def test_owner_sets_and_replaces_the_secret_seeing_only_its_end(
    alice_client: Client, world: World
) -> None:
    page = alice_client.get(settings_url(world.acme)).content.decode()
    assert "No signing secret yet" in page
    assert hook_url(world.acme) in page

    response = alice_client.post(
        settings_url(world.acme), {"stripe_webhook_secret": ACME_SECRET}, follow=True
    )

    assert response.status_code == 200
    world.acme.refresh_from_db()
    assert world.acme.stripe_webhook_secret == ACME_SECRET
    page = response.content.decode()
    assert "whsec_…wxyz" in page
    assert ACME_SECRET not in page
    assert ACME_SECRET[:-4] not in page

    alice_client.post(settings_url(world.acme), {"stripe_webhook_secret": GLOBEX_SECRET})
    world.acme.refresh_from_db()
    assert world.acme.stripe_webhook_secret == GLOBEX_SECRET
    with tenancy.merchant_context(world.acme):
        audit = list(
            AuditEvent.objects.filter(action__startswith="merchant.stripe_webhook_secret")
            .order_by("pk")
            .values_list("action", "actor_user", "data")
        )
    assert audit == [
        ("merchant.stripe_webhook_secret_set", world.alice.pk, {"ending": "wxyz"}),
        ("merchant.stripe_webhook_secret_replaced", world.alice.pk, {"ending": "qrst"}),
    ]


def test_secret_must_look_like_a_signing_secret(alice_client: Client, world: World) -> None:
    response = alice_client.post(settings_url(world.acme), {"stripe_webhook_secret": "sk_live_1"})

    assert response.status_code == 400
    assert "starts with whsec_" in response.content.decode()
    world.acme.refresh_from_db()
    assert world.acme.stripe_webhook_secret == ""
    with tenancy.merchant_context(world.acme):
        assert not AuditEvent.objects.filter(action__startswith="merchant.stripe").exists()


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_viewer_and_outsider_cannot_set_the_secret(client: Client, world: World, who: str) -> None:
    login(client, getattr(world, who))

    response = client.post(settings_url(world.acme), {"stripe_webhook_secret": ACME_SECRET})

    assert response.status_code == (403 if who == "bob" else 404)
    world.acme.refresh_from_db()
    assert world.acme.stripe_webhook_secret == ""
    with tenancy.merchant_context(world.acme):
        assert not AuditEvent.objects.filter(action__startswith="merchant.stripe").exists()
