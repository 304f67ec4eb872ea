# ruff: noqa: F811  (pytest fixtures imported from tests/test_billing_support.py)
"""POST /hooks/billing/stripe/: our own Stripe billing events keep each merchant's plan in sync.

Stripe's side is localstripe (customers, subscriptions, invoices, its own events); events are
signed with Stripe's scheme and verified by the real `construct_event` (see
tests/test_billing_support.py for what is real and what is faked).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Merchant
from billing import services
from billing.models import BillingEvent, Subscription
from billing.tasks import subscription_grace_sweep_task
from programs.models import Program, ProgramStatus
from referral_saas import stripe_gateway, tenancy
from tests.conftest import World
from tests.factories import UserFactory, add_member, make_program
from tests.test_billing_support import (  # noqa: F401  (fixtures)
    BILLING_SECRET,
    PRICE_GROWTH,
    PRICE_SCALE,
    BillingStripe,
    billing_stripe,
    deliver,
    event,
    localstripe_url,
    signature,
)
from tracking.models import Conversion
from tracking.services import advocate_enroll, conversion_record


def customer_of(merchant: Merchant, world: World) -> str:
    """The merchant's Stripe customer, created the way the first checkout creates it."""
    with tenancy.merchant_context(merchant):
        owner = Membership.objects.get(role="owner").user
        return services._customer_ensure(actor=owner)


def row(merchant: Merchant) -> Subscription:
    with tenancy.merchant_context(merchant):
        return Subscription.objects.get()


def created_event(stripe_side: Any, subscription_id: str) -> dict[str, Any]:
    return next(
        e
        for e in stripe_side.events("customer.subscription.created")
        if e["data"]["object"]["id"] == subscription_id
    )


# --- Signatures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "kwargs", "code"),
    [
        ("wrong secret", {"secret": "whsec_someoneElse000000000000000000000"}, "signature_invalid"),
        ("too old", {"timestamp": int(time.time()) - 301}, "signature_invalid"),
        ("missing header", {"header": None}, "signature_invalid"),
        ("garbage header", {"header": "t=1,v1=deadbeef"}, "signature_invalid"),
    ],
)
def test_signature_matrix_refuses_and_writes_nothing(
    client: Client, world: World, billing_stripe: BillingStripe, case: str, kwargs: Any, code: str
) -> None:
    customer = customer_of(world.acme, world)
    subscription = billing_stripe.stripe_side.subscribe(customer, PRICE_GROWTH)
    payload = created_event(billing_stripe.stripe_side, subscription["id"])

    response = deliver(client, payload, **kwargs)

    assert response.status_code == 400, case
    assert response.json()["error"]["code"] == code
    assert BillingEvent.objects.count() == 0
    assert row(world.acme).plan == "free"


def test_tampered_body_is_refused(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    customer = customer_of(world.acme, world)
    subscription = billing_stripe.stripe_side.subscribe(customer, PRICE_GROWTH)
    body = json.dumps(created_event(billing_stripe.stripe_side, subscription["id"]))
    header = signature(body)
    tampered = body.replace('"active"', '"trialing"', 1)
    assert tampered != body

    response = deliver(client, tampered, header=header)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_invalid"
    assert BillingEvent.objects.count() == 0


def test_no_configured_secret_refuses_everything(
    client: Client, world: World, billing_stripe: BillingStripe, settings: Any
) -> None:
    settings.STRIPE_BILLING_WEBHOOK_SECRET = ""
    response = deliver(client, event("customer.subscription.updated", {"id": "sub_x"}))
    assert response.status_code == 400
    assert BillingEvent.objects.count() == 0


def test_signed_but_not_an_event_is_refused(
    client: Client, db: None, billing_stripe: BillingStripe
) -> None:
    response = deliver(client, json.dumps({"hello": "world"}))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"


# --- Subscriptions -----------------------------------------------------------------------------


def test_subscription_created_by_localstripe_moves_the_merchant_to_growth(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    customer = customer_of(world.acme, world)
    subscription = billing_stripe.stripe_side.subscribe(customer, PRICE_GROWTH)

    response = deliver(client, created_event(billing_stripe.stripe_side, subscription["id"]))

    assert response.status_code == 200
    assert response.json()["outcome"] == "applied"
    acme = row(world.acme)
    assert (acme.plan, acme.status, acme.stripe_subscription_id, acme.stripe_price_id) == (
        "growth",
        "active",
        subscription["id"],
        PRICE_GROWTH,
    )
    assert acme.current_period_end is not None
    with tenancy.merchant_context(world.acme):
        changed = AuditEvent.objects.get(action="billing.plan_changed")
    assert changed.data == {"from": "free", "to": "growth", "reason": "stripe:active"}
    # the other merchant is untouched
    assert Subscription.unscoped_all_merchants.filter(merchant=world.globex).count() == 0


def test_duplicate_event_is_applied_once(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    customer = customer_of(world.acme, world)
    subscription = billing_stripe.stripe_side.subscribe(customer, PRICE_GROWTH)
    payload = created_event(billing_stripe.stripe_side, subscription["id"])

    first = deliver(client, payload)
    second = deliver(client, payload)

    assert first.json()["duplicate"] is False
    assert second.status_code == 200
    assert second.json() == {
        "received": True,
        "event": payload["id"],
        "duplicate": True,
        "outcome": "applied",
    }
    assert BillingEvent.objects.filter(event_id=payload["id"]).count() == 1
    with tenancy.merchant_context(world.acme):
        assert AuditEvent.objects.filter(action="billing.plan_changed").count() == 1


def test_updated_before_created_converges_on_the_latest_state(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    # given the customer subscribed to Growth, then switched to Scale in the portal
    side = billing_stripe.stripe_side
    customer = customer_of(world.acme, world)
    subscription = side.subscribe(customer, PRICE_GROWTH)
    created = created_event(side, subscription["id"])
    updated = event(
        "customer.subscription.updated", side.change_price(subscription["id"], PRICE_SCALE)
    )

    # when the events arrive newest first
    deliver(client, updated)
    deliver(client, created)

    # then the merchant is on Scale, not on the older snapshot's Growth
    assert row(world.acme).plan == "scale"


def test_stale_snapshot_in_an_event_does_not_win_over_stripe(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    side = billing_stripe.stripe_side
    customer = customer_of(world.acme, world)
    subscription = side.subscribe(customer, PRICE_SCALE)
    stale = {
        **subscription,
        "plan": {"id": PRICE_GROWTH},
        "items": {"data": [{"plan": {"id": PRICE_GROWTH}}]},
    }

    deliver(client, event("customer.subscription.updated", stale))

    assert row(world.acme).plan == "scale"  # re-read from Stripe, not taken from the event


def test_invoice_paid_before_we_saw_the_subscription_sets_the_plan(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    side = billing_stripe.stripe_side
    customer = customer_of(world.acme, world)
    subscription = side.subscribe(customer, PRICE_GROWTH)
    paid = side.events("invoice.payment_succeeded")[-1]
    assert paid["data"]["object"]["subscription"] == subscription["id"]

    response = deliver(client, paid)

    assert response.json()["outcome"] == "applied"
    assert row(world.acme).plan == "growth"


def test_checkout_completed_finds_a_merchant_by_its_metadata(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    # given a customer made outside our flow (no row knows it), and a checkout we started
    side = billing_stripe.stripe_side
    customer = side.client.v1.customers.create(params={"email": "alice@example.com"}).id
    subscription = side.subscribe(
        customer, PRICE_GROWTH, metadata={"merchant": world.acme.public_id}
    )
    completed = event(
        "checkout.session.completed",
        {
            "id": "cs_test_meta",
            "object": "checkout.session",
            "mode": "subscription",
            "customer": customer,
            "subscription": subscription["id"],
            "client_reference_id": world.acme.public_id,
        },
    )

    assert deliver(client, completed).json()["outcome"] == "applied"

    acme = row(world.acme)
    assert (acme.plan, acme.stripe_customer_id) == ("growth", customer)


def test_metadata_cannot_take_over_a_merchant_that_has_its_own_customer(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    side = billing_stripe.stripe_side
    customer_of(world.acme, world)  # Acme already has its customer
    stranger = side.client.v1.customers.create(params={"email": "mallory@example.com"}).id
    subscription = side.subscribe(
        stranger, PRICE_SCALE, metadata={"merchant": world.acme.public_id}
    )

    response = deliver(client, created_event(side, subscription["id"]))

    assert response.json()["outcome"] == "unknown_customer"
    assert row(world.acme).plan == "free"


def test_unknown_customer_is_acknowledged_and_changes_nothing(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    side = billing_stripe.stripe_side
    stranger = side.client.v1.customers.create(params={"email": "other-product@example.com"}).id
    subscription = side.subscribe(stranger, PRICE_GROWTH)

    response = deliver(client, created_event(side, subscription["id"]))

    assert response.status_code == 200
    assert response.json()["outcome"] == "unknown_customer"
    assert Subscription.unscoped_all_merchants.exclude(plan="free").count() == 0


def test_event_types_we_do_not_act_on_are_recorded_as_ignored(
    client: Client, db: None, billing_stripe: BillingStripe
) -> None:
    response = deliver(client, event("customer.created", {"id": "cus_x", "object": "customer"}))
    assert response.json()["outcome"] == "ignored"
    assert BillingEvent.objects.get().outcome == "ignored"


def test_late_deletion_of_a_replaced_subscription_keeps_the_new_plan(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    # given Acme moved from an old Growth subscription to a new Scale one
    side = billing_stripe.stripe_side
    customer = customer_of(world.acme, world)
    old = side.subscribe(customer, PRICE_GROWTH)
    deliver(client, created_event(side, old["id"]))
    time.sleep(1.1)  # Stripe's `created` has a one-second resolution
    new = side.subscribe(customer, PRICE_SCALE)
    deliver(client, created_event(side, new["id"]))
    assert row(world.acme).plan == "scale"

    # when the old one's deletion arrives late
    side.cancel(old["id"])
    deleted = side.events("customer.subscription.deleted")[-1]
    response = deliver(client, deleted)

    # then it is recorded as stale and Scale stays
    assert response.json()["outcome"] == "stale"
    assert (row(world.acme).plan, row(world.acme).stripe_subscription_id) == ("scale", new["id"])


def test_cancellation_moves_to_free_and_pauses_programs_beyond_the_limit_keeping_every_row(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    # given Acme on Growth with three live programs, advocates and conversions
    side = billing_stripe.stripe_side
    customer = customer_of(world.acme, world)
    subscription = side.subscribe(customer, PRICE_GROWTH)
    deliver(client, created_event(side, subscription["id"]))
    programs = [make_program(world.acme, slug=f"offer-{n}", name=f"Offer {n}") for n in range(3)]
    with tenancy.merchant_context(world.acme):
        for n, program in enumerate(programs):
            advocate_enroll(program=program, email=f"adv{n}@example.com")
            conversion_record(
                order_id=f"O-{n}",
                amount=1000,
                currency="EUR",
                customer={"email": f"c{n}@example.com"},
            )
    before = _row_counts(world.acme)

    # when the subscription is cancelled on Stripe's side
    side.cancel(subscription["id"])
    response = deliver(client, side.events("customer.subscription.deleted")[-1])

    # then Free: only the oldest program stays live, the others are paused, nothing is deleted
    assert response.json()["outcome"] == "applied"
    assert (row(world.acme).plan, row(world.acme).status) == ("free", "canceled")
    with tenancy.merchant_context(world.acme):
        statuses = dict(Program.objects.values_list("slug", "status"))
    assert statuses == {"offer-0": "active", "offer-1": "paused", "offer-2": "paused"}
    assert _row_counts(world.acme) == before


def _row_counts(merchant: Merchant) -> dict[str, int]:
    from tracking.models import Advocate

    with tenancy.merchant_context(merchant):
        return {
            "programs": Program.objects.count(),
            "advocates": Advocate.objects.count(),
            "conversions": Conversion.objects.count(),
            "members": Membership.objects.count(),
        }


def _over_limit_conversions(merchant: Merchant, count: int) -> list[int]:
    """Conversions the pipeline held back as over the Free plan's limit."""
    with tenancy.merchant_context(merchant):
        pks = [
            conversion_record(
                order_id=f"HELD-{n}",
                amount=1000,
                currency="EUR",
                customer={"email": f"h{n}@example.com"},
            ).conversion.pk
            for n in range(count)
        ]
        Conversion.objects.filter(pk__in=pks).update(over_limit=True)
    return pks


def test_upgrade_releases_over_limit_conversions_to_the_pipeline(
    client: Client,
    world: World,
    billing_stripe: BillingStripe,
    django_capture_on_commit_callbacks: Any,
) -> None:
    held = _over_limit_conversions(world.acme, 3)
    globex_held = _over_limit_conversions(world.globex, 1)
    side = billing_stripe.stripe_side
    subscription = side.subscribe(customer_of(world.acme, world), PRICE_GROWTH)

    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, created_event(side, subscription["id"]))

    with tenancy.merchant_context(world.acme):
        assert list(Conversion.objects.filter(pk__in=held, over_limit=True)) == []
    with tenancy.merchant_context(world.globex):  # another merchant's stay held
        assert Conversion.objects.filter(pk__in=globex_held, over_limit=True).count() == 1


def test_a_downgrade_releases_nothing(
    client: Client,
    world: World,
    billing_stripe: BillingStripe,
    django_capture_on_commit_callbacks: Any,
) -> None:
    side = billing_stripe.stripe_side
    subscription = side.subscribe(customer_of(world.acme, world), PRICE_SCALE)
    deliver(client, created_event(side, subscription["id"]))
    held = _over_limit_conversions(world.acme, 2)
    updated = side.change_price(subscription["id"], PRICE_GROWTH)

    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, event("customer.subscription.updated", updated))

    assert row(world.acme).plan == "growth"
    with tenancy.merchant_context(world.acme):
        assert Conversion.objects.filter(pk__in=held, over_limit=True).count() == 2


# --- Failed payments, grace period, downgrade --------------------------------------------------


def _on_growth_then_past_due(client: Client, world: World, side: Any) -> dict[str, Any]:
    customer = customer_of(world.acme, world)
    subscription = side.past_due(customer, PRICE_GROWTH)
    invoice = side.open_invoice(customer)
    return {"customer": customer, "subscription": subscription, "invoice": invoice}


def test_failed_payment_starts_a_grace_period_with_an_email_and_a_banner(
    client: Client,
    world: World,
    billing_stripe: BillingStripe,
    django_capture_on_commit_callbacks: Any,
) -> None:
    state = _on_growth_then_past_due(client, world, billing_stripe.stripe_side)
    failed = event("invoice.payment_failed", state["invoice"])

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, failed)

    assert response.json()["outcome"] == "applied"
    acme = row(world.acme)
    assert (acme.plan, acme.status) == ("growth", "past_due")  # kept during the grace period
    assert acme.grace_period_ends_at is not None
    assert (
        timedelta(days=6, hours=23)
        < acme.grace_period_ends_at - timezone.now()
        <= timedelta(days=7)
    )
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]  # owners only, not Bob
    assert "failed" in mail.outbox[0].subject
    assert "/m/acme/billing/" in mail.outbox[0].body
    # the dashboard tells every member
    client.force_login(world.bob, backend="django.contrib.auth.backends.ModelBackend")
    assert 'hx-get="/m/acme/billing/banners/"' in client.get("/m/acme/").content.decode()
    banner = client.get("/m/acme/billing/banners/").content.decode()
    assert "Payment failed" in banner
    assert "grace period" in banner
    assert '/m/acme/billing/"' not in banner  # Bob may not open billing: no link


def test_late_payment_failed_after_recovery_starts_no_grace(
    client: Client,
    world: World,
    billing_stripe: BillingStripe,
    django_capture_on_commit_callbacks: Any,
) -> None:
    side = billing_stripe.stripe_side
    state = _on_growth_then_past_due(client, world, side)
    side.recover(state["customer"])  # the retry succeeded before the failure event arrived

    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, event("invoice.payment_failed", state["invoice"]))

    acme = row(world.acme)
    assert (acme.plan, acme.status, acme.grace_period_ends_at) == ("growth", "active", None)
    assert mail.outbox == []


def test_grace_period_expiry_downgrades_to_free_and_keeps_every_row(
    client: Client,
    world: World,
    billing_stripe: BillingStripe,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given Acme on Growth, past due, with two live programs and data in both
    side = billing_stripe.stripe_side
    state = _on_growth_then_past_due(client, world, side)
    deliver(client, event("invoice.payment_failed", state["invoice"]))
    first = make_program(world.acme, slug="first", name="First")
    second = make_program(world.acme, slug="second", name="Second")
    with tenancy.merchant_context(world.acme):
        for program in (first, second):
            advocate_enroll(program=program, email=f"a-{program.slug}@example.com")
        conversion_record(
            order_id="O-1", amount=1000, currency="EUR", customer={"email": "x@example.com"}
        )
    add_member(world.acme, UserFactory(email="third@example.com"), "viewer")  # beyond Free's seats
    before = _row_counts(world.acme)
    mail.outbox.clear()

    # when the grace period has run out and the sweeper runs (twice: it must act once)
    Subscription.unscoped_all_merchants.filter(merchant=world.acme).update(
        grace_period_ends_at=timezone.now() - timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert subscription_grace_sweep_task() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert subscription_grace_sweep_task() == 0

    # then Free, the newer program paused, every row still there, one email to the owner
    acme = row(world.acme)
    assert (acme.plan, acme.status) == ("free", "past_due")
    assert acme.downgraded_at is not None
    with tenancy.merchant_context(world.acme):
        assert dict(Program.objects.values_list("slug", "status")) == {
            "first": ProgramStatus.ACTIVE,
            "second": ProgramStatus.PAUSED,
        }
        assert AuditEvent.objects.filter(action="billing.plan_changed").latest(
            "created_at"
        ).data == {
            "from": "growth",
            "to": "free",
            "reason": "grace_period_expired",
        }
    assert _row_counts(world.acme) == before
    assert len(mail.outbox) == 1
    assert "Free plan" in mail.outbox[0].subject

    # and a later past_due event cannot give the paid plan back while the payment still fails
    deliver(
        client,
        event("customer.subscription.updated", side.subscription(state["subscription"]["id"])),
    )
    assert row(world.acme).plan == "free"

    # when the customer finally pays, Growth comes back
    side.recover(state["customer"])
    deliver(client, side.events("invoice.payment_succeeded")[-1])
    acme = row(world.acme)
    assert (acme.plan, acme.status, acme.grace_period_ends_at) == ("growth", "active", None)


def test_sweeper_does_not_downgrade_during_the_grace_period(
    client: Client, world: World, billing_stripe: BillingStripe
) -> None:
    state = _on_growth_then_past_due(client, world, billing_stripe.stripe_side)
    deliver(client, event("invoice.payment_failed", state["invoice"]))

    assert subscription_grace_sweep_task() == 0
    assert row(world.acme).plan == "growth"


# --- Stripe unreachable ------------------------------------------------------------------------


def test_stripe_unreachable_answers_503_and_records_nothing_so_stripe_retries(
    client: Client, world: World, billing_stripe: BillingStripe, settings: Any
) -> None:
    side = billing_stripe.stripe_side
    customer = customer_of(world.acme, world)
    subscription = side.subscribe(customer, PRICE_GROWTH)
    payload = created_event(side, subscription["id"])
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there

    response = deliver(client, payload)

    assert response.status_code == 503
    assert BillingEvent.objects.count() == 0
    assert row(world.acme).plan == "free"

    # and the redelivery, with Stripe back, is applied
    settings.STRIPE_API_BASE = side.url
    assert deliver(client, payload).json()["outcome"] == "applied"
    assert row(world.acme).plan == "growth"


def test_gateway_parses_the_2025_invoice_shape() -> None:
    parsed = stripe_gateway.billing_subscription_from_data(
        {
            "id": "sub_1",
            "customer": {"id": "cus_1"},
            "status": "active",
            "created": 1700000000,
            "items": {"data": [{"price": {"id": PRICE_GROWTH}, "current_period_end": 1702592000}]},
        }
    )
    assert (parsed.customer_id, parsed.price_id, parsed.current_period_end) == (
        "cus_1",
        PRICE_GROWTH,
        1702592000,
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_apply_it_once(
    world: World, billing_stripe: BillingStripe
) -> None:
    side = billing_stripe.stripe_side
    subscription = side.subscribe(customer_of(world.acme, world), PRICE_GROWTH)
    payload = created_event(side, subscription["id"])
    barrier = threading.Barrier(2)
    answers: list[dict[str, Any]] = []

    def post() -> None:
        try:
            barrier.wait()
            answers.append(deliver(Client(), payload).json())
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answer["duplicate"] for answer in answers) == [False, True]
    assert BillingEvent.objects.filter(event_id=payload["id"]).count() == 1
    with tenancy.merchant_context(world.acme):
        assert AuditEvent.objects.filter(action="billing.plan_changed").count() == 1
    assert row(world.acme).plan == "growth"
