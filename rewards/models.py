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
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Since when every delivery to this endpoint has been failing (None while healthy): after
    # about three days of failures the endpoint is disabled and the merchant told.
    failing_since = models.DateTimeField(null=True, blank=True)
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
    program = models.ForeignKey(
        "programs.Program", null=True, on_delete=models.PROTECT, related_name="+"
    )
    # What the reward costs the merchant in the program's currency (minor units): the amount
    # for money rewards, the percent of the order for percent discounts, 0 otherwise. Budgets
    # sum it over rewards that are not rejected or voided.
    cost = models.BigIntegerField(default=0)
    # The reward spec it was minted from (as in the program version: code prefix and length,
    # code pool, expiry), so fulfilment never re-reads a program that may have changed since.
    spec = models.JSONField(default=dict, blank=True)
    # Fulfilment retries: attempts so far, when the next one is due, the last error.
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # When an issued reward was reversed after a refund, and how (or why it could not be).
    clawed_back_at = models.DateTimeField(null=True, blank=True)
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
        indexes = [
            models.Index(fields=["merchant", "status"], name="reward_merchant_status"),
            models.Index(fields=["merchant", "advocate", "status"], name="reward_advocate"),
            models.Index(fields=["merchant", "created_at"], name="reward_merchant_time"),
            # The release task: pending rewards whose hold ended.
            models.Index(
                fields=["available_at"],
                name="reward_release_due",
                condition=models.Q(status="pending"),
            ),
            # The fulfilment sweep: approved rewards waiting for (another) attempt.
            models.Index(
                fields=["next_attempt_at"],
                name="reward_fulfil_due",
                condition=models.Q(status="approved"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.recipient}, {self.status})"


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
        indexes = [models.Index(fields=["merchant", "-created_at"], name="webhookmsg_merchant_ct")]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its first or next attempt
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # gave up (retries exhausted or endpoint disabled)


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
        indexes = [models.Index(fields=["merchant", "delivery"], name="webhookattempt_delivery")]
