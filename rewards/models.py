"""Rewards, qualification and fraud. (Outbound webhooks' models live in `webhooks.models`.)"""

from __future__ import annotations

import functools

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel


class RewardRecipient(models.TextChoices):
    ADVOCATE = "advocate", _("Advocate")
    FRIEND = "friend", _("Friend")


class RewardStatus(models.TextChoices):
    PENDING = "pending", _("Pending")  # on hold until `available_at`
    HELD = "held", _("Held")  # fraud review
    APPROVED = "approved", _("Approved")
    ISSUED = "issued", _("Issued")
    REJECTED = "rejected", _("Rejected")
    VOIDED = "voided", _("Voided")  # refund before issue
    CLAWED_BACK = "clawed_back", _("Clawed back")  # refund after issue
    FAILED = "failed", _("Failed")  # fulfilment gave up after retries
    REDEEMED = "redeemed", _("Redeemed")  # a friend's offer, spent on an order
    EXPIRED = "expired", _("Expired")  # a friend's offer, unspent by its expiry


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
    # Null only for a friend's offer not yet redeemed: it is issued before the first order
    # (rewards.friend_offer), and gets the conversion it was spent on when redeemed.
    conversion = models.ForeignKey(
        "tracking.Conversion", null=True, on_delete=models.PROTECT, related_name="+"
    )
    # A friend's offer: the referral it was issued for and the friend's normalised email (the
    # idempotency key: one offer per program and person, whatever the spelling). Empty
    # otherwise.
    referral = models.ForeignKey(
        "tracking.Referral", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A keyed hash of the normalised email (never the address itself: erasure of the friend
    # leaves nothing personal here), the friend's language and the keyed hash of the IP they
    # asked from (velocity per IP at issue time).
    friend_key = models.CharField(max_length=64, blank=True)
    friend_locale = models.CharField(max_length=5, blank=True)
    friend_ip_hash = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
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
    # What an issued commission gave the advocate outside payouts (a Stripe transfer, a Stripe
    # balance credit, by hand) before a partial refund lowered `amount`: set by the first such
    # refund. The difference is owed back and deducted from the advocate's next payout
    # (payouts.services); a claw-back then reverses only the lowered `amount`. A Stripe
    # transfer sets it when it is decided, before the first call (rewards.fulfilment._net_owed).
    given_amount = models.BigIntegerField(null=True, blank=True)
    # Negative balances netted against a Stripe transfer (rewards.fulfilment._net_owed):
    # `netted_amount` is how much of this reward settled what the advocate owed back instead
    # of being transferred (decided once, before the first transfer call, so every retry sends
    # the same amount; None until then); `settled_amount` is how much of what this reward owes
    # back was settled that way by a later reward's transfer (the ledger counts it paid).
    netted_amount = models.BigIntegerField(null=True, blank=True)
    settled_amount = models.BigIntegerField(default=0)
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
            # One friend's offer per (program, normalised email): asking again, also 50 times
            # at once, finds the first one.
            models.UniqueConstraint(
                fields=["merchant", "program", "friend_key"],
                condition=~models.Q(friend_key=""),
                name="reward_one_friend_offer",
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
            # Friends' offers: found by their code at checkout, expired by the sweep.
            models.Index(
                fields=["merchant", "fulfilment_code"],
                name="reward_friend_code",
                condition=~models.Q(friend_key=""),
            ),
            models.Index(
                fields=["expires_at"],
                name="reward_offer_expiry_due",
                condition=models.Q(status="issued") & ~models.Q(friend_key=""),
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
