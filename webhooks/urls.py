"""Dashboard routes for outbound webhooks. Parameter names the cross-tenant test fills by name:
merchant_slug, endpoint_id (WebhookEndpoint.public_id), delivery_id (WebhookDelivery.public_id)."""

from django.urls import path

from webhooks import views

urlpatterns = [
    path("m/<slug:merchant_slug>/webhooks/", views.webhooks_list, name="webhooks"),
    path(
        "m/<slug:merchant_slug>/webhooks/new/",
        views.webhook_endpoint_create,
        name="webhook_endpoint_create",
    ),
    path(
        "m/<slug:merchant_slug>/webhooks/endpoints/<str:endpoint_id>/",
        views.webhook_endpoint,
        name="webhook_endpoint",
    ),
    path(
        "m/<slug:merchant_slug>/webhooks/endpoints/<str:endpoint_id>/update/",
        views.webhook_endpoint_update,
        name="webhook_endpoint_update",
    ),
    path(
        "m/<slug:merchant_slug>/webhooks/endpoints/<str:endpoint_id>/rotate/",
        views.webhook_endpoint_rotate,
        name="webhook_endpoint_rotate",
    ),
    path(
        "m/<slug:merchant_slug>/webhooks/endpoints/<str:endpoint_id>/delete/",
        views.webhook_endpoint_delete,
        name="webhook_endpoint_delete",
    ),
    path(
        "m/<slug:merchant_slug>/webhooks/endpoints/<str:endpoint_id>/disable/",
        views.webhook_endpoint_disable,
        name="webhook_endpoint_disable",
    ),
    path(
        "m/<slug:merchant_slug>/webhooks/endpoints/<str:endpoint_id>/enable/",
        views.webhook_endpoint_enable,
        name="webhook_endpoint_enable",
    ),
    path(
        "m/<slug:merchant_slug>/webhooks/endpoints/<str:endpoint_id>/recover/",
        views.webhook_endpoint_recover,
        name="webhook_endpoint_recover",
    ),
    path(
        "m/<slug:merchant_slug>/webhooks/deliveries/<str:delivery_id>/",
        views.webhook_delivery,
        name="webhook_delivery",
    ),
    path(
        "m/<slug:merchant_slug>/webhooks/deliveries/<str:delivery_id>/replay/",
        views.webhook_delivery_replay,
        name="webhook_delivery_replay",
    ),
]
