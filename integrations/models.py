"""A merchant's connected stores and every delivery their webhooks sent us.

Credentials (Shopify access token, WooCommerce key pair, the secret we gave WooCommerce to
sign its webhooks) are encrypted at rest (`referral_saas.crypto`), never shown again after they
are entered, and wiped when the store is disconnected or uninstalls us.
"""

from __future__ import annotations

import functools

from django.db import models
from django.utils import timezone

from referral_saas.crypto import EncryptedTextField
from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel


class Provider(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"


class IntegrationStatus(models.TextChoices):
    CONNECTED = "connected", "Connected"
    DISCONNECTED = "disconnected", "Disconnected"


class Integration(TenantModel):
    """One store connected to one merchant. A shop is connected to at most one merchant at a
    time, and a merchant has at most one connected store per provider (the fulfilment methods
    `shopify_discount_code` / `woocommerce_coupon` name a provider, not a store)."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "int"), editable=False
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    status = models.CharField(
        max_length=16, choices=IntegrationStatus.choices, default=IntegrationStatus.CONNECTED
    )
    # Shopify: the shop's `*.myshopify.com` domain; WooCommerce: the store's base URL.
    shop = models.CharField(max_length=300)
    scopes = models.CharField(max_length=500, blank=True)
    access_token = EncryptedTextField(blank=True)  # Shopify
    consumer_key = EncryptedTextField(blank=True)  # WooCommerce REST key pair
    consumer_secret = EncryptedTextField(blank=True)
    webhook_secret = EncryptedTextField(blank=True)  # ours, given to WooCommerce to sign with
    # [{"topic": "orders/paid", "id": "<the store's subscription id>"}]
    webhooks = models.JSONField(default=list, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    disconnect_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "shop"],
                condition=models.Q(status="connected"),
                name="integration_one_merchant_per_shop",
            ),
            models.UniqueConstraint(
                fields=["merchant", "provider"],
                condition=models.Q(status="connected"),
                name="integration_one_store_per_provider",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "-created_at"], name="integration_merchant")]

    def __str__(self) -> str:
        return f"{self.provider} {self.shop} ({self.status})"

    @property
    def connected(self) -> bool:
        return self.status == IntegrationStatus.CONNECTED


class StoreEvent(TenantModel):
    """One inbound webhook delivery, recorded once per (integration, the store's delivery id):
    a redelivery finds its row and changes nothing. No payload is kept (it is personal data)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="events")
    delivery_id = models.CharField(max_length=200)
    topic = models.CharField(max_length=100)
    outcome = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    # A refund that came before its order: the order id it waits for and its refund lines (ids
    # and amounts only), applied when that order is recorded (`integrations.inbound`).
    waiting_for = models.CharField(max_length=200, blank=True)
    waiting_refunds = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "delivery_id"], name="storeevent_once_per_delivery"
            )
        ]
        indexes = [
            models.Index(
                fields=["merchant", "integration", "-received_at"], name="storeevent_recent"
            ),
            models.Index(
                fields=["merchant", "waiting_for"],
                condition=~models.Q(waiting_for=""),
                name="storeevent_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.delivery_id}"
