"""Shopify, end to end against the HTTP fake (tests/store_fakes.py) with real signatures: the
OAuth install and its refusals, inbound webhooks (HMAC, duplicates, attribution, refunds,
uninstall, privacy topics), discount codes as rewards (once per reward, throttling), and the
end-to-end path install → paid order → conversion → reward code in the shop → refund →
code deactivated → uninstall → no further calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client

from accounts.models import AuditEvent
from integrations.models import Integration, StoreEvent
from referral_saas import tenancy
from rewards import fulfilment
from rewards.models import Reward, RewardStatus
from tests.conftest import World, login
from tests.integrations_helpers import (
    SHOP,
    WAITS,
    connected,
    install_shopify,
    shopify_order,
    shopify_refund,
    shopify_server,
)
from tests.store_fakes import FakeShopify
from tests.test_pipeline import enrol, program_with
from tracking.models import Conversion, ConversionStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    with shopify_server() as fake:
        yield fake


REWARD = {
    "kind": "percent_discount",
    "percent": 15,
    "fulfilment": "shopify_discount_code",
    "expires_after_days": 30,
}


def post_hook(
    client: Client, fake: FakeShopify, topic: str, payload: dict[str, Any], **kwargs: Any
) -> Any:
    body, headers = fake.webhook(topic, payload, **kwargs)
    return client.post("/hooks/shopify/", body, content_type="application/json", **headers)


def installed(client: Client, world: World) -> Integration:
    response = install_shopify(login(client, world.alice), world.acme)
    assert response.status_code == 302, response.content
    return connected(world.acme, "shopify")


def program_and_advocate(world: World, reward: dict[str, Any] | None = None) -> Any:
    with tenancy.merchant_context(world.acme):
        program = program_with(
            world.acme, "one_sided", advocate_reward=reward or REWARD, rules={"hold_days": 0}
        )
        return enrol(program)


# --- Install ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shop",
    [
        "evil.example.com",
        "acme.myshopify.com.evil.example.com",
        "acme.myshopify.com:8443",
        "127.0.0.1",
        "acme.myshopify.com/admin",
        "-acme.myshopify.com",
        "",
    ],
)
def test_only_myshopify_domains_can_be_installed(
    client: Client, world: World, shopify: FakeShopify, shop: str
) -> None:
    login(client, world.alice)
    response = client.post(f"/m/{world.acme.slug}/integrations/shopify/install/", {"shop": shop})
    assert response.status_code == 400
    assert b"myshopify.com" in response.content or b"required" in response.content
    assert "integrations_shopify_oauth" not in client.session
    assert shopify.calls == []


def test_install_stores_the_token_encrypted_and_subscribes_three_topics(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    integration = installed(client, world)
    assert integration.shop == SHOP
    (token,) = shopify.tokens
    assert integration.access_token == token
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token FROM integrations_integration WHERE id = %s", [integration.pk]
        )
        (stored,) = cursor.fetchone()
    assert stored.startswith("enc1:")
    assert token not in stored
    assert sorted(h["topic"] for h in shopify.webhooks.values()) == [
        "APP_UNINSTALLED",
        "ORDERS_PAID",
        "REFUNDS_CREATE",
    ]
    assert {h["callbackUrl"] for h in shopify.webhooks.values()} == {
        "http://127.0.0.1:8000/hooks/shopify/"
    }
    assert sorted(w["topic"] for w in integration.webhooks) == [
        "app/uninstalled",
        "orders/paid",
        "refunds/create",
    ]
    with tenancy.merchant_context(world.acme):
        (event,) = AuditEvent.objects.filter(action="integration.connected")
    assert event.actor_user_id == world.alice.pk
    assert token not in json.dumps(event.data)
    # The page shows the status, never the token.
    page = client.get(f"/m/{world.acme.slug}/integrations/")
    assert page.status_code == 200
    assert SHOP.encode() in page.content
    assert token.encode() not in page.content
    assert b"orders/paid" in page.content


def test_callback_from_another_session_is_refused(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    login(client, world.alice)
    client.post(f"/m/{world.acme.slug}/integrations/shopify/install/", {"shop": SHOP})
    other = login(Client(), world.alice)  # same person, another browser: no state there
    query = shopify.callback_query(state=client.session["integrations_shopify_oauth"]["state"])
    response = other.get("/integrations/shopify/callback/", query)
    assert response.status_code == 400
    assert "access_token" not in [c.operation for c in shopify.calls]
    assert not Integration.unscoped_all_merchants.exists()


@pytest.mark.parametrize("tamper", ["hmac", "state", "shop"])
def test_callback_with_a_bad_signature_state_or_shop_is_refused(
    client: Client, world: World, shopify: FakeShopify, tamper: str
) -> None:
    login(client, world.alice)
    client.post(f"/m/{world.acme.slug}/integrations/shopify/install/", {"shop": SHOP})
    state = client.session["integrations_shopify_oauth"]["state"]
    if tamper == "hmac":
        query = shopify.callback_query(state=state, secret="not-the-app-secret")
    elif tamper == "state":
        query = shopify.callback_query(state=state + "x")
    else:
        query = shopify.callback_query(state=state, shop="other-shop.myshopify.com")
    response = client.get("/integrations/shopify/callback/", query)
    assert response.status_code == 400
    assert "access_token" not in [c.operation for c in shopify.calls]
    assert not Integration.unscoped_all_merchants.exists()
    # The state is used up: replaying a good answer afterwards fails too.
    good = shopify.callback_query(state=state)
    assert client.get("/integrations/shopify/callback/", good).status_code == 400


def test_a_viewer_cannot_install_and_an_outsider_sees_nothing(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    integration = installed(Client(), world)
    bob = login(Client(), world.bob)
    assert (
        bob.post(f"/m/{world.acme.slug}/integrations/shopify/install/", {"shop": SHOP}).status_code
        == 403
    )
    charlie = login(Client(), world.charlie)
    assert charlie.get(f"/m/{world.acme.slug}/integrations/").status_code == 404
    url = f"/m/{world.globex.slug}/integrations/{integration.public_id}/disconnect/"
    assert charlie.post(url).status_code == 404  # another merchant's integration: not found
    integration.refresh_from_db()
    assert integration.connected


# --- Inbound ---------------------------------------------------------------------------------


def test_bad_signature_is_401_and_nothing_is_stored(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    installed(client, world)
    body, headers = shopify.webhook("orders/paid", shopify_order(1))
    headers["HTTP_X_SHOPIFY_HMAC_SHA256"] = headers["HTTP_X_SHOPIFY_HMAC_SHA256"][:-4] + "AAA="
    response = client.post("/hooks/shopify/", body, content_type="application/json", **headers)
    assert response.status_code == 401
    # Signed with another secret, or the body changed after signing: refused the same way.
    body, headers = shopify.webhook("orders/paid", shopify_order(1), secret="another-secret")
    assert (
        client.post("/hooks/shopify/", body, content_type="application/json", **headers).status_code
        == 401
    )
    body, headers = shopify.webhook("orders/paid", shopify_order(1))
    tampered = body.replace(b"45.00", b"4500.00")
    assert (
        client.post(
            "/hooks/shopify/", tampered, content_type="application/json", **headers
        ).status_code
        == 401
    )
    assert not StoreEvent.unscoped_all_merchants.exists()
    assert not Conversion.unscoped_all_merchants.exists()


def test_order_attribution_from_landing_site_and_note_attributes(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    installed(client, world)
    advocate = program_and_advocate(world)
    post_hook(
        client,
        shopify,
        "orders/paid",
        shopify_order(
            11,
            landing_site=f"/products/x?utm_source=y&ref={advocate.code}",
            orders_count=3,
            email="a@example.com",
        ),
    )
    post_hook(
        client,
        shopify,
        "orders/paid",
        shopify_order(
            12,
            codes=("SUMMER10",),
            email="b@example.com",
            note_attributes=[{"name": "ref", "value": advocate.code.lower()}],
        ),
    )
    post_hook(
        client,
        shopify,
        "orders/paid",
        shopify_order(13, codes=("SUMMER10",), email="c@example.com"),
    )
    with tenancy.merchant_context(world.acme):
        by_order = {c.order_id: c for c in Conversion.objects.all()}
    assert by_order["shopify-11"].referral_code == advocate.code
    assert by_order["shopify-11"].new_customer is False  # orders_count 3
    assert by_order["shopify-11"].amount == 4500
    assert by_order["shopify-11"].currency == "EUR"
    assert by_order["shopify-12"].referral_code == advocate.code  # the shop's own code skipped
    assert by_order["shopify-12"].new_customer is True
    assert by_order["shopify-13"].referral_code == ""  # no referral code at all
    assert by_order["shopify-13"].status == ConversionStatus.UNATTRIBUTED
    assert by_order["shopify-11"].metadata == {"store": "shopify", "shop": SHOP}


def test_unknown_shop_and_missing_delivery_id(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    response = post_hook(
        client, shopify, "orders/paid", shopify_order(1), shop="nobody.myshopify.com"
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored: unknown shop"
    body, headers = shopify.webhook("orders/paid", shopify_order(1))
    del headers["HTTP_X_SHOPIFY_WEBHOOK_ID"]
    response = client.post("/hooks/shopify/", body, content_type="application/json", **headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "delivery_id_missing"
    assert not Conversion.unscoped_all_merchants.exists()


# --- Discount codes --------------------------------------------------------------------------


def test_throttled_calls_back_off_then_succeed(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    installed(client, world)
    advocate = program_and_advocate(world)
    shopify.throttle_next = 2
    post_hook(client, shopify, "orders/paid", shopify_order(21, codes=(advocate.code,)))
    with tenancy.merchant_context(world.acme):
        (reward,) = Reward.objects.all()
    assert reward.status == RewardStatus.ISSUED
    # Bucket: 10 points asked, 5 available, 100 restored per second → 0.05 s, floored at 0.1 s.
    assert WAITS == [0.1, 0.1]
    assert len(shopify.discounts) == 1


def test_throttling_that_does_not_end_is_retried_later_not_failed(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    installed(client, world)
    advocate = program_and_advocate(world)
    shopify.throttle_next = 100
    post_hook(client, shopify, "orders/paid", shopify_order(22, codes=(advocate.code,)))
    with tenancy.merchant_context(world.acme):
        (reward,) = Reward.objects.all()
    assert reward.status == RewardStatus.APPROVED  # retried with the pipeline's backoff
    assert "throttling" in reward.last_error
    assert shopify.discounts == {}


def test_a_retry_finds_the_code_a_lost_attempt_made(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    integration = installed(client, world)
    advocate = program_and_advocate(world, {**REWARD, "fulfilment": "manual"})
    post_hook(client, shopify, "orders/paid", shopify_order(31, codes=(advocate.code,)))
    with tenancy.merchant_context(world.acme):
        (reward,) = Reward.objects.all()
        Reward.objects.filter(pk=reward.pk).update(fulfilment_method="shopify_discount_code")
        reward.refresh_from_db()
        method = fulfilment.REGISTRY["shopify_discount_code"]
        first = method.issue(reward)  # Shopify made it; say our commit was lost
        creates = shopify.graphql_calls().count("discountCodeBasicCreate")
        again = method.issue(reward)
    assert again == first
    assert shopify.graphql_calls().count("discountCodeBasicCreate") == creates == 1
    (discount,) = shopify.discounts.values()
    assert discount["title"] == f"Referral reward {reward.public_id}"
    assert discount["code"] == fulfilment.reward_code(reward)
    assert integration.connected


# --- Privacy topics --------------------------------------------------------------------------


def test_customers_redact_erases_the_customer_and_data_request_emails_the_owner(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    installed(client, world)
    advocate = program_and_advocate(world)
    post_hook(
        client,
        shopify,
        "orders/paid",
        shopify_order(41, codes=(advocate.code,), email="gianni@example.com"),
    )
    mail.outbox.clear()
    response = post_hook(
        client,
        shopify,
        "customers/data_request",
        {
            "shop_id": 1,
            "shop_domain": SHOP,
            "orders_requested": [41],
            "customer": {"id": 7001, "email": "gianni@example.com", "phone": None},
            "data_request": {"id": 9999},
        },
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "exported: sent to 1 owner(s)"
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    (attachment,) = message.attachments
    exported = json.loads(attachment[1])
    assert [c["order_id"] for c in exported["conversions"]] == ["shopify-41"]
    response = post_hook(
        client,
        shopify,
        "customers/redact",
        {
            "shop_id": 1,
            "shop_domain": SHOP,
            "customer": {"id": 7001, "email": "gianni@example.com"},
            "orders_to_redact": [41],
        },
    )
    assert response.status_code == 200
    assert response.json()["outcome"].startswith("erased: ")
    with tenancy.merchant_context(world.acme):
        conversion = Conversion.objects.get(order_id="shopify-41")
    assert conversion.customer_email != "gianni@example.com"
    assert "gianni" not in conversion.customer_email


# --- End to end ------------------------------------------------------------------------------


def test_end_to_end_install_order_reward_refund_uninstall(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    # given: the shop is installed and an advocate shares their code
    integration = installed(client, world)
    advocate = program_and_advocate(world)
    # when: a friend pays an order with the advocate's code
    delivery = "b7f1c3aa-0001"
    response = post_hook(
        client,
        shopify,
        "orders/paid",
        shopify_order(1001, codes=(advocate.code,)),
        webhook_id=delivery,
    )
    # then: one conversion, qualified, and the advocate's reward is a code in the shop
    assert response.status_code == 200, response.content
    assert response.json() == {
        "received": True,
        "duplicate": False,
        "outcome": "recorded shopify-1001",
    }
    with tenancy.merchant_context(world.acme):
        conversion = Conversion.objects.get(order_id="shopify-1001")
        (reward,) = Reward.objects.filter(conversion=conversion)
    assert conversion.status == ConversionStatus.QUALIFIED
    assert conversion.advocate_id == advocate.pk
    assert conversion.new_customer is True
    assert reward.status == RewardStatus.ISSUED
    ((gid, discount),) = shopify.discounts.items()
    assert reward.fulfilment_external_id == gid
    assert reward.fulfilment_code == discount["code"] == fulfilment.reward_code(reward)
    assert discount["title"] == f"Referral reward {reward.public_id}"
    assert discount["usageLimit"] == 1
    assert discount["appliesOncePerCustomer"] is True
    assert discount["customerGets"]["value"] == {"percentage": 0.15}
    assert discount["endsAt"] is not None
    assert discount["status"] == "ACTIVE"

    # a duplicate delivery changes nothing
    calls = len(shopify.calls)
    response = post_hook(
        client,
        shopify,
        "orders/paid",
        shopify_order(1001, codes=(advocate.code,)),
        webhook_id=delivery,
    )
    assert response.json()["duplicate"] is True
    # the same order under another delivery id (Shopify resends) is the same conversion
    response = post_hook(
        client, shopify, "orders/paid", shopify_order(1001, codes=(advocate.code,))
    )
    assert response.json()["outcome"] == "already recorded shopify-1001"
    with tenancy.merchant_context(world.acme):
        assert Conversion.objects.count() == 1
        assert Reward.objects.count() == 1
        assert StoreEvent.objects.count() == 2
    assert len(shopify.calls) == calls

    # when: the order is refunded in full
    response = post_hook(client, shopify, "refunds/create", shopify_refund(501, 1001))
    assert response.json()["outcome"] == "refund recorded on shopify-1001"
    reward.refresh_from_db()
    conversion.refresh_from_db()
    # then: the reward is clawed back and its code deactivated in the shop
    assert conversion.status == ConversionStatus.REFUNDED
    assert conversion.refunded_amount == 4500
    assert reward.status == RewardStatus.CLAWED_BACK
    assert shopify.discounts[gid]["status"] == "EXPIRED"
    assert reward.reasons[-1]["outcome"] == "reversed"

    # when: the merchant uninstalls the app in Shopify
    shopify.uninstall()
    response = post_hook(client, shopify, "app/uninstalled", {"id": 1, "domain": SHOP})
    assert response.json()["outcome"] == "disconnected: the store uninstalled the app"
    integration.refresh_from_db()
    assert integration.status == "disconnected"
    assert integration.access_token == ""
    # then: no further calls, whatever arrives
    calls = len(shopify.calls)
    response = post_hook(
        client,
        shopify,
        "orders/paid",
        shopify_order(1002, codes=(advocate.code,), email="x@example.com"),
    )
    assert response.json()["outcome"] == "ignored: the store is disconnected"
    with tenancy.merchant_context(world.acme):
        assert not Conversion.objects.filter(order_id="shopify-1002").exists()
        method = fulfilment.REGISTRY["shopify_discount_code"]
        with pytest.raises(fulfilment.FulfilmentError) as failed:
            method.issue(reward)
    assert failed.value.retriable is False
    assert len(shopify.calls) == calls
    with tenancy.merchant_context(world.acme):
        assert AuditEvent.objects.filter(action="integration.disconnected").count() == 1


def test_disconnect_from_the_dashboard_removes_webhooks_and_access(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    integration = installed(client, world)
    url = f"/m/{world.acme.slug}/integrations/{integration.public_id}/disconnect/"
    assert client.post(url).status_code == 302
    integration.refresh_from_db()
    assert integration.status == "disconnected"
    assert integration.access_token == ""
    assert integration.webhooks == []
    assert shopify.webhooks == {}
    assert shopify.tokens == {}
    with tenancy.merchant_context(world.acme):
        (event,) = AuditEvent.objects.filter(action="integration.disconnected")
    assert event.actor_user_id == world.alice.pk
    # Idempotent: a second click changes nothing and calls nothing.
    calls = len(shopify.calls)
    assert client.post(url).status_code == 302
    assert len(shopify.calls) == calls


def test_shop_redact_after_uninstall_forgets_the_deliveries(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    integration = installed(client, world)
    post_hook(client, shopify, "orders/paid", shopify_order(51))
    post_hook(client, shopify, "app/uninstalled", {"id": 1, "domain": SHOP})
    calls = len(shopify.calls)
    response = post_hook(client, shopify, "shop/redact", {"shop_id": 1, "shop_domain": SHOP})
    assert response.status_code == 200
    assert response.json()["outcome"] == "erased: 2 deliveries forgotten"
    with tenancy.merchant_context(world.acme):
        assert list(StoreEvent.objects.values_list("topic", flat=True)) == ["shop/redact"]
        # The merchant's own conversion stays: they are our customer, not only the shop's.
        assert Conversion.objects.filter(order_id="shopify-51").exists()
    integration.refresh_from_db()
    assert integration.access_token == ""
    assert len(shopify.calls) == calls


def test_a_shop_connected_to_one_merchant_cannot_be_installed_by_another(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    installed(client, world)
    charlie = login(Client(), world.charlie)
    response = install_shopify(charlie, world.globex)
    assert response.status_code == 302
    assert [str(m) for m in response.wsgi_request._messages] == [
        "This shop is connected to another account."
    ]
    with tenancy.merchant_context(world.globex):
        assert not Integration.objects.exists()
    # Refused before the code was exchanged: no second token for the shop.
    assert len(shopify.tokens) == 1


def test_check_now_finds_a_revoked_token_and_disconnects(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    integration = installed(client, world)
    check = f"/m/{world.acme.slug}/integrations/{integration.public_id}/check/"
    client.post(check)
    integration.refresh_from_db()
    assert integration.last_error == ""
    shopify.uninstall()  # removed in Shopify, and the app/uninstalled delivery never came
    client.post(check)
    integration.refresh_from_db()
    assert integration.status == "disconnected"
    assert integration.last_error == "The shop has uninstalled the app."
    assert integration.disconnect_reason == "The store refused our access."
    calls = len(shopify.calls)
    assert client.post(check).status_code == 404  # nothing connected to check any more
    assert len(shopify.calls) == calls


def test_a_refund_before_its_order_waits_and_is_applied_when_the_order_comes(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    installed(client, world)
    advocate = program_and_advocate(world)
    response = post_hook(client, shopify, "refunds/create", shopify_refund(601, 2001, "15.00"))
    assert response.json()["outcome"] == "waiting: the order shopify-2001 has not arrived yet"
    with tenancy.merchant_context(world.acme):
        assert not Conversion.objects.exists()
    response = post_hook(
        client, shopify, "orders/paid", shopify_order(2001, codes=(advocate.code,))
    )
    assert response.json()["outcome"] == "recorded shopify-2001; 1 refund(s)"
    with tenancy.merchant_context(world.acme):
        conversion = Conversion.objects.get(order_id="shopify-2001")
        waited = StoreEvent.objects.get(topic="refunds/create")
    assert conversion.refunded_amount == 1500
    assert (waited.waiting_for, waited.waiting_refunds) == ("", [])
    assert waited.outcome.endswith("; applied when the order arrived")
    # The refund delivered again later: recorded once.
    post_hook(client, shopify, "refunds/create", shopify_refund(601, 2001, "15.00"))
    conversion.refresh_from_db()
    assert conversion.refunded_amount == 1500


def test_a_full_refund_before_its_order_means_no_reward_and_no_code(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    installed(client, world)
    advocate = program_and_advocate(world)
    post_hook(client, shopify, "refunds/create", shopify_refund(602, 2002))
    post_hook(client, shopify, "orders/paid", shopify_order(2002, codes=(advocate.code,)))
    with tenancy.merchant_context(world.acme):
        conversion = Conversion.objects.get(order_id="shopify-2002")
        issued = Reward.objects.filter(status=RewardStatus.ISSUED).count()
    assert conversion.status == ConversionStatus.REFUNDED
    assert issued == 0
    assert shopify.discounts == {}


def test_installing_again_keeps_the_webhooks_already_pointing_at_us(
    client: Client, world: World, shopify: FakeShopify
) -> None:
    first = installed(client, world)
    hooks = dict(shopify.webhooks)
    response = install_shopify(client, world.acme)  # e.g. the merchant reinstalls to re-grant
    assert response.status_code == 302
    again = connected(world.acme, "shopify")
    assert again.pk == first.pk
    assert again.access_token != first.access_token  # the new token replaces the old one
    assert shopify.webhooks == hooks  # no second subscription (Shopify would refuse one)
    assert sorted(w["id"] for w in again.webhooks) == sorted(hooks)
    assert shopify.graphql_calls().count("webhookSubscriptionCreate") == 3
