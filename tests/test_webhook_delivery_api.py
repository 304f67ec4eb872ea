"""`GET /api/v1/webhook-endpoints/<id>/deliveries` over HTTP on PostgreSQL: the delivery log of
one endpoint, newest first, filtered by status, paginated; secret keys only; another merchant's
endpoint is a 404 like a missing one."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.utils import timezone

from accounts.services import IssuedKey
from referral_saas import tenancy
from tests.conftest import World, make_key
from webhooks.delivery import outbox_record as emit
from webhooks.models import WebhookDelivery, WebhookEndpoint

FIELDS = {
    "id",
    "object",
    "livemode",
    "endpoint",
    "message_id",
    "event_type",
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_error",
    "created_at",
}


def _get(client: Client, path: str, key: IssuedKey) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")


def _log(world: World, count: int) -> tuple[WebhookEndpoint, list[WebhookDelivery]]:
    """An endpoint with `count` deliveries, still waiting (the test holds the tasks back)."""
    with tenancy.merchant_context(world.acme):
        endpoint = WebhookEndpoint.objects.create(url="https://a.example/", secret="whsec_x")
        WebhookEndpoint.objects.create(url="https://b.example/", secret="whsec_x")
        deliveries = []
        for number in range(count):
            message = emit("reward.issued", {"n": number})
            deliveries.append(WebhookDelivery.objects.get(message=message, endpoint=endpoint))
        return endpoint, deliveries


def test_the_delivery_log_of_an_endpoint(
    client: Client, world: World, acme_secret: IssuedKey, django_assert_num_queries: Any
) -> None:
    endpoint, deliveries = _log(world, 3)
    with tenancy.merchant_context(world.acme):
        WebhookDelivery.objects.filter(pk=deliveries[0].pk).update(
            status="failed", attempts=12, last_status_code=503, last_attempt_at=timezone.now()
        )
    path = f"/api/v1/webhook-endpoints/{endpoint.public_id}/deliveries"
    _get(client, path, acme_secret)  # warm the key's last-used stamp

    # key, endpoint, one page of deliveries with their messages
    with django_assert_num_queries(3):
        response = _get(client, path, acme_secret)

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert [row["id"] for row in body["data"]] == [d.public_id for d in reversed(deliveries)]
    newest, oldest = body["data"][0], body["data"][-1]
    assert set(newest) == FIELDS
    assert newest["object"] == "webhook_delivery"
    assert newest["endpoint"] == endpoint.public_id
    assert newest["message_id"] == deliveries[-1].message.public_id
    assert (newest["event_type"], newest["status"], newest["attempts"]) == (
        "reward.issued",
        "pending",
        0,
    )
    assert newest["next_attempt_at"] is not None
    assert (oldest["status"], oldest["attempts"], oldest["last_status_code"]) == (
        "failed",
        12,
        503,
    )
    assert oldest["next_attempt_at"] is None


def test_filtering_by_status_and_paginating(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    endpoint, deliveries = _log(world, 5)
    with tenancy.merchant_context(world.acme):
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries[:2]]).update(
            status="failed"
        )
    path = f"/api/v1/webhook-endpoints/{endpoint.public_id}/deliveries"

    failed = _get(client, f"{path}?status=failed", acme_secret).json()
    first = _get(client, f"{path}?limit=3", acme_secret).json()
    second = _get(client, f"{path}?limit=3&cursor={first['next_cursor']}", acme_secret).json()
    bad = _get(client, f"{path}?status=lost", acme_secret)

    assert {row["id"] for row in failed["data"]} == {d.public_id for d in deliveries[:2]}
    assert len(first["data"]) == 3
    assert len(second["data"]) == 2
    assert second["next_cursor"] is None
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "status"


def test_another_merchants_endpoint_is_not_found_and_publishable_keys_are_refused(
    client: Client, world: World, acme_secret: IssuedKey, globex_secret: IssuedKey
) -> None:
    endpoint, _ = _log(world, 1)
    path = f"/api/v1/webhook-endpoints/{endpoint.public_id}/deliveries"
    missing = "/api/v1/webhook-endpoints/we_00000000000000000000/deliveries"

    theirs = _get(client, path, globex_secret)
    nowhere = _get(client, missing, globex_secret)
    publishable = _get(client, path, make_key(world.acme, "publishable", ["https://shop.example"]))

    assert theirs.status_code == 404
    assert theirs.json() == nowhere.json()
    assert theirs.json()["error"]["message"] == "No such webhook endpoint."
    assert publishable.status_code == 403
    assert _get(client, path, acme_secret).status_code == 200
