"""Rewards, qualification and fraud (the reward-pipeline issue fills this app), and the
merchant's outbound webhook endpoints (`WebhookEndpoint`)."""

from __future__ import annotations

import functools

from django.db import models
from django.utils import timezone

from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel

# Every event an endpoint can subscribe to (DESIGN.md §3 "Outbound webhooks").
WEBHOOK_EVENTS = (
    "advocate.created",
    "referral.created",
    "conversion.qualified",
    "conversion.rejected",
    "conversion.review",
    "reward.created",
    "reward.approved",
    "reward.issued",
    "reward.voided",
    "reward.clawed_back",
    "program.budget_exhausted",
)


class WebhookEndpoint(TenantModel):
    """A merchant URL we POST signed events to (Standard Webhooks).

    The signing secrets are stored as given, not hashed like API keys: we must compute an HMAC
    with them on every delivery, so a one-way hash would be useless. They are shown in full only
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
    secret = models.CharField(max_length=64)
    # After a rotation the old secret keeps signing (a second signature) until it expires, so
    # the merchant can switch their verifier without rejecting deliveries in between.
    previous_secret = models.CharField(max_length=64, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
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
