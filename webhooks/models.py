"""Outbound webhooks: the merchant's endpoints, the outbox of messages, one delivery per
(message, endpoint) and every HTTP attempt. The tables keep their names from when these models
lived in `rewards` (moved by state-only migrations: no data moved)."""

from __future__ import annotations

import functools

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events import EVENT_TYPES
from referral_saas.crypto import EncryptedTextField
from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel

# Every event an endpoint can subscribe to: every event there is (DESIGN.md "Outbound webhooks").
WEBHOOK_EVENTS: tuple[str, ...] = EVENT_TYPES


class WebhookEndpoint(TenantModel):
    """A merchant URL we POST signed events to (Standard Webhooks).

    The signing secrets cannot be hashed like API keys (we compute an HMAC with them on every
    delivery): they are encrypted at rest (`referral_saas.crypto`). They are shown in full only
    in the responses that mint them (create, rotate); every other view shows `secret_prefix`.
    """

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "we"), editable=False
    )
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # The subscribed event types, in WEBHOOK_EVENTS; an empty list means every event.
    events = models.JSONField(default=list, blank=True)
    # `whsec_` + base64 of 32 random bytes.
    secret = EncryptedTextField()
    # After a rotation the old secret keeps signing (a second signature) until it expires, so
    # the merchant can switch their verifier without rejecting deliveries in between.
    previous_secret = EncryptedTextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Since when every delivery to this endpoint has been failing (None while healthy): after
    # about three days of failures the endpoint is disabled and the merchant told.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "rewards_webhookendpoint"  # the table from before the move out of rewards
        indexes = [
            models.Index(fields=["merchant", "-created_at"], name="webhookendpoint_merchant_ct")
        ]

    def __str__(self) -> str:
        return f"{self.public_id} → {self.url}"

    @property
    def secret_prefix(self) -> str:
        """Enough of the secret to tell two apart, never enough to sign with."""
        return self.secret[: len("whsec_") + 4]

    def subscribes_to(self, event: str) -> bool:
        return not self.events or event in self.events


class WebhookMessage(TenantModel):
    """One event to tell the merchant about, written in the same transaction as the change it
    describes (an outbox): its id is the Standard Webhooks `webhook-id`, stable across retries
    and replays so the merchant can deduplicate."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "msg"), editable=False
    )
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "rewards_webhookmessage"
        indexes = [models.Index(fields=["merchant", "-created_at"], name="webhookmsg_merchant_ct")]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")  # waiting for its first or next attempt
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")  # gave up (retries exhausted or endpoint disabled)


class WebhookDelivery(TenantModel):
    """A message's journey to one endpoint: one row per (message, endpoint), retried with
    backoff until it succeeds or the schedule (about three days) runs out."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "dlv"), editable=False
    )
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "rewards_webhookdelivery"
        constraints = [
            models.UniqueConstraint(
                fields=["message", "endpoint"], name="webhookdelivery_one_per_endpoint"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdelivery_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["merchant", "endpoint", "-created_at"], name="webhookdelivery_log"
            ),
        ]


class WebhookAttempt(TenantModel):
    """Every HTTP attempt of a delivery, for the delivery log (what we sent, what came back)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="+")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    # True when a person asked for this attempt (replay) rather than the retry schedule.
    manual = models.BooleanField(default=False)

    class Meta:
        db_table = "rewards_webhookattempt"
        indexes = [models.Index(fields=["merchant", "delivery"], name="webhookattempt_delivery")]
