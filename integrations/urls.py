"""Routes of the store integrations. Parameter names the cross-tenant test fills by name:
merchant_slug, integration_id (Integration.public_id)."""

from django.urls import path

from integrations import hooks, views

urlpatterns = [
    path("hooks/shopify/", hooks.shopify_hook, name="shopify_hook"),
    path(
        "hooks/woocommerce/<str:integration_id>/",
        hooks.woocommerce_hook,
        name="woocommerce_hook",
    ),
    path(
        "integrations/shopify/callback/",
        views.shopify_callback,
        name="integrations_shopify_callback",
    ),
    path("m/<slug:merchant_slug>/integrations/", views.integrations_list, name="integrations"),
    path(
        "m/<slug:merchant_slug>/integrations/shopify/install/",
        views.shopify_install,
        name="integrations_shopify_install",
    ),
    path(
        "m/<slug:merchant_slug>/integrations/woocommerce/connect/",
        views.woocommerce_connect,
        name="integrations_woocommerce_connect",
    ),
    path(
        "m/<slug:merchant_slug>/integrations/<str:integration_id>/check/",
        views.integration_check,
        name="integration_check",
    ),
    path(
        "m/<slug:merchant_slug>/integrations/<str:integration_id>/disconnect/",
        views.integration_disconnect,
        name="integration_disconnect",
    ),
]
