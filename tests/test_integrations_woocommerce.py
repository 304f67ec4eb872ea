"""WooCommerce against the HTTP fake of its REST API v3 (tests/store_fakes.py), with real
signatures: connecting (SSRF guard, key pair checked with one call, webhooks with our secret),
inbound deliveries (signature, duplicates, unpaid orders, the ping), coupons as rewards and
their removal on clawback, disconnecting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings

from accounts.models import AuditEvent
from integrations.models import Integration, StoreEvent
from referral_saas import tenancy
from rewards import fulfilment
from rewards.models import Reward, RewardStatus
from tests.conftest import World, login
from tests.integrations_helpers import (
    WOO_KEY,
    WOO_SECRET,
    connected,
    woo_order,
    woocommerce_server,
)
from tests.store_fakes import FakeWooCommerce
from tests.test_pipeline import enrol, program_with
from tracking.models import Conversion, ConversionStatus

pytestmark = pytest.mark.django_db(transaction=True)

REWARD = {
    "kind": "fixed_discount",
    "amount": 1000,
    "fulfilment": "woocommerce_coupon",
    "expires_after_days": 60,
}


@pytest.fixture
def woo() -> Iterator[FakeWooCommerce]:
    with woocommerce_server() as fake:
        yield fake


def connect(client: Client, world: World, fake: FakeWooCommerce, **fields: str) -> Any:
    login(client, world.alice)
    data = {"store_url": fake.url, "consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET}
    return client.post(
        f"/m/{world.acme.slug}/integrations/woocommerce/connect/", {**data, **fields}
    )


def deliver(
    client: Client,
    integration: Integration,
    fake: FakeWooCommerce,
    topic: str,
    order: dict[str, Any],
    **kwargs: Any,
) -> Any:
    body, headers = fake.delivery(fake.hook(topic), order, **kwargs)
    return client.post(
        f"/hooks/woocommerce/{integration.public_id}/",
        body,
        content_type="application/json",
        **headers,
    )


def advocate_of(world: World) -> Any:
    with tenancy.merchant_context(world.acme):
        program = program_with(
            world.acme, "one_sided", advocate_reward=REWARD, rules={"hold_days": 0}
        )
        return enrol(program)


def test_connect_checks_the_key_and_creates_webhooks_signed_with_our_secret(
    client: Client, world: World, woo: FakeWooCommerce
) -> None:
    response = connect(client, world, woo)
    assert response.status_code == 302, response.content
    integration = connected(world.acme, "woocommerce")
    assert integration.shop == woo.url
    assert sorted(h["topic"] for h in woo.webhooks.values()) == ["order.created", "order.updated"]
    assert {h["secret"] for h in woo.webhooks.values()} == {integration.webhook_secret}
    assert {h["delivery_url"] for h in woo.webhooks.values()} == {
        f"http://127.0.0.1:8000/hooks/woocommerce/{integration.public_id}/"
    }
    # One GET checked the key; then the two webhooks were created.
    assert [(c.method, c.operation) for c in woo.calls] == [
        ("GET", "webhooks"),
        ("POST", "webhooks"),
        ("POST", "webhooks"),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT consumer_key, consumer_secret, webhook_secret FROM integrations_integration"
        )
        stored = cursor.fetchone()
    assert all(value.startswith("enc1:") for value in stored)
    assert WOO_SECRET not in "".join(stored)
    assert integration.webhook_secret not in "".join(stored)
    with tenancy.merchant_context(world.acme):
        (event,) = AuditEvent.objects.filter(action="integration.connected")
    assert WOO_SECRET not in str(event.data)
    page = client.get(f"/m/{world.acme.slug}/integrations/")
    assert WOO_SECRET.encode() not in page.content
    assert WOO_KEY.encode() not in page.content


def test_a_wrong_key_is_refused_naming_the_field_and_nothing_is_stored(
    client: Client, world: World, woo: FakeWooCommerce
) -> None:
    response = connect(client, world, woo, consumer_secret="cs_" + "x" * 40)
    assert response.status_code == 400
    assert b"refused the API key" in response.content
    assert not Integration.unscoped_all_merchants.exists()
    assert woo.webhooks == {}
    assert [c.operation for c in woo.calls] == ["webhooks"]  # the one check, nothing after


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("consumer_key", "not-a-key", b"start with ck_"),
        ("consumer_secret", "ck_wrong_kind", b"start with cs_"),
        ("store_url", "ftp://shop.example.com", b"must start with https://"),
        ("store_url", "https://shop.example.com/?x=1", b"without ? or #"),
    ],
)
def test_bad_fields_are_refused_before_any_call(
    client: Client, world: World, woo: FakeWooCommerce, field: str, value: str, message: bytes
) -> None:
    response = connect(client, world, woo, **{field: value})
    assert response.status_code == 400
    assert message in response.content
    assert woo.calls == []
    assert not Integration.unscoped_all_merchants.exists()


def test_a_loopback_store_url_is_refused_by_the_ssrf_guard(
    client: Client, world: World, woo: FakeWooCommerce
) -> None:
    with override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False):
        response = connect(client, world, woo, store_url=woo.url.replace("http:", "https:"))
        assert response.status_code == 400
        assert b"private, loopback" in response.content
        response = connect(client, world, woo, store_url="https://localhost/")
        assert response.status_code == 400
    assert woo.calls == []
    assert not Integration.unscoped_all_merchants.exists()


def test_paid_order_becomes_a_conversion_and_its_coupon_is_deleted_on_refund(
    client: Client, world: World, woo: FakeWooCommerce
) -> None:
    connect(client, world, woo)
    integration = connected(world.acme, "woocommerce")
    advocate = advocate_of(world)
    # An order placed but not paid yet: nothing for us.
    response = deliver(
        client,
        integration,
        woo,
        "order.created",
        woo_order(77, status="pending", paid=False, coupons=(advocate.code,)),
    )
    assert response.json()["outcome"] == "ignored: Not paid (status pending)."
    # Paid: one conversion, attributed by the coupon code WooCommerce lower-cased.
    response = deliver(
        client,
        integration,
        woo,
        "order.updated",
        woo_order(77, coupons=(advocate.code,)),
        delivery_id="d-1",
    )
    assert response.json()["outcome"] == "recorded woocommerce-77"
    with tenancy.merchant_context(world.acme):
        conversion = Conversion.objects.get(order_id="woocommerce-77")
        (reward,) = Reward.objects.filter(conversion=conversion)
    assert conversion.status == ConversionStatus.QUALIFIED
    assert conversion.advocate_id == advocate.pk
    assert reward.status == RewardStatus.ISSUED
    (coupon,) = woo.coupons.values()
    assert str(coupon["id"]) == reward.fulfilment_external_id
    assert coupon["code"] == fulfilment.reward_code(reward).lower()
    assert (coupon["discount_type"], coupon["amount"]) == ("fixed_cart", "10.00")
    assert (coupon["usage_limit"], coupon["usage_limit_per_user"]) == (1, 1)
    assert coupon["date_expires_gmt"] is not None
    assert coupon["description"] == f"Referral reward {reward.public_id}"
    # The same delivery again: nothing new.
    response = deliver(
        client,
        integration,
        woo,
        "order.updated",
        woo_order(77, coupons=(advocate.code,)),
        delivery_id="d-1",
    )
    assert response.json()["duplicate"] is True
    # Refunded in full (WooCommerce reports refunds on the order): clawed back, coupon deleted.
    refunded = woo_order(
        77,
        status="refunded",
        coupons=(advocate.code,),
        refunds=[{"id": 901, "reason": "", "total": "-45.00"}],
    )
    response = deliver(client, integration, woo, "order.updated", refunded, delivery_id="d-2")
    assert response.json()["outcome"] == "already recorded woocommerce-77; 1 refund(s)"
    reward.refresh_from_db()
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.REFUNDED
    assert reward.status == RewardStatus.CLAWED_BACK
    assert woo.coupons == {}
    assert reward.reasons[-1]["outcome"] == "reversed"
    # Redelivered under a new id: the refund is recorded once.
    response = deliver(client, integration, woo, "order.updated", refunded, delivery_id="d-3")
    assert response.json()["outcome"] == "already recorded woocommerce-77"
    with tenancy.merchant_context(world.acme):
        assert StoreEvent.objects.count() == 4
        assert conversion.refunded_amount == 4500


def test_bad_signature_is_401_and_the_ping_is_answered(
    client: Client, world: World, woo: FakeWooCommerce
) -> None:
    connect(client, world, woo)
    integration = connected(world.acme, "woocommerce")
    body, headers = woo.delivery(woo.hook("order.updated"), woo_order(5), secret="guessed")
    url = f"/hooks/woocommerce/{integration.public_id}/"
    assert client.post(url, body, content_type="application/json", **headers).status_code == 401
    del headers["HTTP_X_WC_WEBHOOK_SIGNATURE"]
    assert client.post(url, body, content_type="application/json", **headers).status_code == 401
    assert not StoreEvent.unscoped_all_merchants.exists()
    assert not Conversion.unscoped_all_merchants.exists()
    # WooCommerce's unsigned ping when a webhook is saved: 200, nothing stored.
    response = client.post(url, b"webhook_id=15", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.json()["outcome"] == "ping"
    assert not StoreEvent.unscoped_all_merchants.exists()
    assert (
        client.post(
            "/hooks/woocommerce/int_nope/", body, content_type="application/json", **headers
        ).status_code
        == 404
    )


def test_disconnect_deletes_our_webhooks_and_wipes_the_keys(
    client: Client, world: World, woo: FakeWooCommerce
) -> None:
    connect(client, world, woo)
    integration = connected(world.acme, "woocommerce")
    hook = woo.hook("order.updated")
    url = f"/m/{world.acme.slug}/integrations/{integration.public_id}/disconnect/"
    assert client.post(url).status_code == 302
    integration.refresh_from_db()
    assert integration.status == "disconnected"
    assert (integration.consumer_key, integration.consumer_secret, integration.webhook_secret) == (
        "",
        "",
        "",
    )
    assert woo.webhooks == {}
    # A late delivery to the old URL: refused, nothing stored, no call to the store.
    calls = len(woo.calls)
    body, headers = woo.delivery(hook, woo_order(6))
    response = client.post(
        f"/hooks/woocommerce/{integration.public_id}/",
        body,
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 410
    assert len(woo.calls) == calls
    assert not Conversion.unscoped_all_merchants.exists()


def test_health_check_reports_a_missing_webhook(
    client: Client, world: World, woo: FakeWooCommerce
) -> None:
    connect(client, world, woo)
    integration = connected(world.acme, "woocommerce")
    check = f"/m/{world.acme.slug}/integrations/{integration.public_id}/check/"
    assert client.post(check).status_code == 302
    integration.refresh_from_db()
    assert integration.last_error == ""
    woo.webhooks.pop(woo.hook("order.created")["id"])  # the merchant deleted it in WordPress
    client.post(check)
    integration.refresh_from_db()
    assert integration.last_error == ("Webhooks missing or not active in the store: order.created.")
    page = client.get(f"/m/{world.acme.slug}/integrations/")
    assert b"Webhooks missing or not active in the store: order.created." in page.content
