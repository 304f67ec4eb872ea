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


class RewardRecipient(models.TextChoices):
    ADVOCATE = "advocate", "Advocate"
    FRIEND = "friend", "Friend"


class RewardStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # on hold until `available_at`
    HELD = "held", "Held"  # fraud review
    APPROVED = "approved", "Approved"
    ISSUED = "issued", "Issued"
    REJECTED = "rejected", "Rejected"
    VOIDED = "voided", "Voided"  # refund before issue
    CLAWED_BACK = "clawed_back", "Clawed back"  # refund after issue
    FAILED = "failed", "Failed"  # fulfilment gave up after retries


class Reward(TenantModel):
    """What one side (advocate or friend) earns from one qualified conversion.

    One reward per (conversion, recipient role, tier), enforced by the database: a duplicate
    or concurrent evaluation of the same conversion cannot mint a second one. `tier` is 0 for
    non-tiered programs. The value is a copy of the reward spec at creation (kind, amount or
    percent, points, label), so later program edits do not rewrite it. Transitions happen in
    `rewards.services`, each a conditional UPDATE on the current status.
    """

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "rwd"), editable=False
    )
    recipient = models.CharField(max_length=16, choices=RewardRecipient.choices)
    advocate = models.ForeignKey("tracking.Advocate", on_delete=models.PROTECT, related_name="+")
    conversion = models.ForeignKey(
        "tracking.Conversion", on_delete=models.PROTECT, related_name="+"
    )
    tier = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=32)
    amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    percent = models.PositiveIntegerField(null=True, blank=True)
    points = models.PositiveIntegerField(null=True, blank=True)
    label = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=16, choices=RewardStatus.choices, default=RewardStatus.PENDING
    )
    available_at = models.DateTimeField(null=True, blank=True)
    fulfilment_method = models.CharField(max_length=32)
    fulfilment_code = models.CharField(max_length=200, blank=True)
    fulfilment_external_id = models.CharField(max_length=200, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "conversion", "recipient", "tier"],
                name="reward_one_per_conversion_recipient_tier",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(percent__isnull=True),
                name="reward_amount_or_percent",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status"], name="reward_merchant_status")]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.recipient}, {self.status})"
