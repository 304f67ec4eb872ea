"""The move of outbound webhooks out of `rewards` into their own app changed nothing a deployed
system depends on: Celery task names (queued messages and beat carry them), table names, URL
names and paths, and every event still reaches the outbox."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.urls import reverse

import events
from webhooks import tasks
from webhooks.delivery import outbox_consumer


def test_task_names_are_the_ones_from_before_the_move() -> None:
    assert tasks.webhook_deliver_task.name == "rewards.tasks_webhooks.webhook_deliver_task"
    assert tasks.webhook_replay_task.name == "rewards.tasks_webhooks.webhook_replay_task"
    assert (
        tasks.webhook_deliveries_sweep_task.name
        == "rewards.tasks_webhooks.webhook_deliveries_sweep_task"
    )
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "rewards.tasks_webhooks.webhook_deliveries_sweep_task" in scheduled


def test_the_models_belong_to_webhooks_and_keep_their_tables() -> None:
    tables = {
        model.__name__: model._meta.db_table
        for model in apps.get_app_config("webhooks").get_models()
    }
    assert tables == {
        "WebhookEndpoint": "rewards_webhookendpoint",
        "WebhookMessage": "rewards_webhookmessage",
        "WebhookDelivery": "rewards_webhookdelivery",
        "WebhookAttempt": "rewards_webhookattempt",
    }
    assert not [
        model
        for model in apps.get_app_config("rewards").get_models()
        if "Webhook" in model.__name__
    ]


def test_url_names_and_paths_are_unchanged() -> None:
    slug = {"merchant_slug": "acme"}
    endpoint = {**slug, "endpoint_id": "we_1"}
    delivery = {**slug, "delivery_id": "dlv_1"}
    assert reverse("webhooks", kwargs=slug) == "/m/acme/webhooks/"
    assert reverse("webhook_endpoint_create", kwargs=slug) == "/m/acme/webhooks/new/"
    assert reverse("webhook_endpoint", kwargs=endpoint) == "/m/acme/webhooks/endpoints/we_1/"
    for action in ("update", "rotate", "delete", "disable", "enable", "recover"):
        assert (
            reverse(f"webhook_endpoint_{action}", kwargs=endpoint)
            == f"/m/acme/webhooks/endpoints/we_1/{action}/"
        )
    assert reverse("webhook_delivery", kwargs=delivery) == "/m/acme/webhooks/deliveries/dlv_1/"
    assert (
        reverse("webhook_delivery_replay", kwargs=delivery)
        == "/m/acme/webhooks/deliveries/dlv_1/replay/"
    )
    assert reverse("api_webhook_endpoints") == "/api/v1/webhook-endpoints"


def test_the_outbox_consumes_every_event_type() -> None:
    assert all(outbox_consumer in events.consumers(t) for t in events.EVENT_TYPES)
