"""Advocates and clicks. The foundation holds what the demo seed needs; the hosted-pages and
tracking-API issues add codes' rules, referrals, conversions and refunds."""

from __future__ import annotations

import functools
from typing import Any

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from programs.models import Program
from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel
from tracking import visitors


class Advocate(TenantModel):
    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "adv"), editable=False
    )
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    email = models.EmailField()
    name = models.CharField(max_length=120, blank=True)
    customer_id = models.CharField(max_length=120, blank=True)
    code = models.CharField(max_length=40)
    locale = models.CharField(max_length=5, default="en")
    # The A/B variant, assigned once at enrolment (programs.services.variant_for) and kept.
    variant_key = models.CharField(max_length=30, blank=True)
    # Fraud evidence from enrolment (hosted join form or the API), compared with the friend's.
    visitor_id = models.CharField(max_length=64, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    # The advocate's connected Stripe account (`acct_…`), for cash rewards paid by transfer.
    stripe_account_id = models.CharField(max_length=64, blank=True)
    # Conversions counted toward tier milestones; incremented under the advocate's row lock.
    qualified_conversions = models.PositiveIntegerField(default=0)
    # A blocked advocate's new conversions are rejected with the reason `advocate_blocked`.
    blocked_at = models.DateTimeField(null=True, blank=True)
    blocked_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["merchant", "-created_at"], name="advocate_merchant_time"),
        ]
        constraints = [
            # `/r/<code>` names no merchant, so a code is unique across all merchants, enforced
            # here (a check before the write let two merchants take one code at once). Its
            # index also serves that lookup and every per-merchant one (migration 0008).
            models.UniqueConstraint(fields=["code"], name="advocate_code_unique"),
            models.UniqueConstraint(
                "merchant", "program", Lower("email"), name="advocate_unique_email_per_program"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.email})"


class Click(TenantModel):
    """A visit through a referral link. Never the raw IP: a keyed hash and a truncated prefix.

    On PostgreSQL the table is partitioned by month of `created_at` (`tracking.partitions`),
    and a partitioned table's unique keys must include `created_at`: the public id is unique
    with it (`click_public_id_unique`, whose index also serves lookups by public id), and is
    unique alone because it is 119 random bits (`referral_saas.ids`). Foreign keys to clicks
    carry no database constraint (`db_constraint=False`) for the same reason."""

    public_id = models.CharField(
        max_length=32, default=functools.partial(new_public_id, "clk"), editable=False
    )
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    ip_hash = models.CharField(max_length=64, blank=True)
    ip_prefix = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    referer = models.CharField(max_length=500, blank=True)
    visitor_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Where this click's visitor falls in the unique-visitor sketches (`tracking.visitors`),
    # set on save; NULL for clicks recorded before it existed or erased since (read by key).
    visitor_register = models.IntegerField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["merchant", "advocate", "-created_at"], name="click_advocate_time"
            ),
            models.Index(fields=["merchant", "-created_at"], name="click_merchant_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["public_id", "created_at"], name="click_public_id_unique"
            )
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding and self.visitor_register is None:
            self.visitor_register = visitors.click_register(self)
        super().save(*args, **kwargs)


class Referral(TenantModel):
    """A friend (by email, and the storefront's customer id when known) tied to one advocate.
    One referrer per friend per program: the first advocate wins."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "ref"), editable=False
    )
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    # No database constraint: clicks are partitioned on PostgreSQL (see Click); SET_NULL is
    # done by Django on ORM deletes and by tracking.partitions when a month is dropped.
    click = models.ForeignKey(
        Click,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    email = models.EmailField()
    customer_id = models.CharField(max_length=120, blank=True)
    name = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "merchant", "program", Lower("email"), name="referral_one_referrer_per_friend"
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "advocate"], name="referral_advocate"),
            models.Index(fields=["merchant", "created_at"], name="referral_merchant_time"),
            models.Index(
                fields=["merchant", "program", "customer_id"], name="referral_customer_id"
            ),
        ]


class ConversionStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    QUALIFIED = "qualified", _("Qualified")
    REJECTED = "rejected", _("Rejected")
    REVIEW = "review", _("Review")
    REFUNDED = "refunded", _("Refunded")
    # No referral behind the order: kept for the referral share of revenue, never rewarded.
    UNATTRIBUTED = "unattributed", _("Unattributed")


class Conversion(TenantModel):
    """An order reported by the storefront (or derived from the merchant's Stripe events).

    The API stores it as received with the attribution hints as given (code, click id, email)
    and answers at once; workers resolve attribution and judge it under the program version they
    record here. `(merchant, order_id)` is the natural idempotency key."""

    public_id = models.CharField(
        max_length=32,
        unique=True,
        default=functools.partial(new_public_id, "conv"),
        editable=False,
    )
    program = models.ForeignKey(Program, null=True, on_delete=models.PROTECT, related_name="+")
    # The configuration the conversion is judged by, fixed when it is evaluated.
    program_version = models.ForeignKey(
        "programs.ProgramVersion", null=True, on_delete=models.PROTECT, related_name="+"
    )
    advocate = models.ForeignKey(Advocate, null=True, on_delete=models.SET_NULL, related_name="+")
    referral = models.ForeignKey(Referral, null=True, on_delete=models.SET_NULL, related_name="+")
    order_id = models.CharField(max_length=200)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    refunded_amount = models.BigIntegerField(default=0)
    customer_email = models.EmailField(blank=True)
    customer_id = models.CharField(max_length=120, blank=True)
    customer_name = models.CharField(max_length=120, blank=True)
    # The subscription the order is an invoice of (Stripe `sub_…`, or the merchant's own id):
    # its later invoices belong to its first attributed order's advocate (rewards.recurring).
    # db_default: rows written without it (the bench baseline's raw INSERT) stay valid
    subscription_id = models.CharField(max_length=120, blank=True, default="", db_default="")
    referral_code = models.CharField(max_length=40, blank=True, help_text="As reported")
    click_public_id = models.CharField(max_length=32, blank=True, help_text="As reported")
    new_customer = models.BooleanField(null=True)
    # Optional fraud evidence about the buyer, as reported (the IP only as hash and prefix).
    visitor_id = models.CharField(max_length=64, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    ip_prefix = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    country = models.CharField(max_length=2, blank=True)
    payment_fingerprint = models.CharField(max_length=120, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=16, choices=ConversionStatus.choices, default=ConversionStatus.RECEIVED
    )
    risk_score = models.PositiveIntegerField(null=True, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    # How attribution was resolved: code, click, visitor, email (empty until evaluated).
    attributed_by = models.CharField(max_length=16, blank=True)
    # Beyond the plan's monthly conversion limit: stored, not evaluated until the merchant
    # upgrades (billing), then released to the pipeline.
    over_limit = models.BooleanField(default=False)
    # The dispatcher's lease: a received conversion handed to a worker is not handed out again
    # before this time; if the worker is lost, the lease runs out and it is dispatched again.
    lease_until = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveIntegerField(default=0)
    # Review decisions (approve/reject of a conversion in review), audited as well.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "order_id"], name="conversion_unique_order"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0)
                & models.Q(refunded_amount__gte=0)
                & models.Q(refunded_amount__lte=models.F("amount")),
                name="conversion_refund_within_amount",
            ),
        ]
        indexes = [
            # The pipeline's dispatcher: conversions still waiting for a decision.
            models.Index(
                fields=["created_at"],
                name="conversion_dispatch",
                condition=models.Q(status="received", over_limit=False),
            ),
            models.Index(fields=["merchant", "advocate", "status"], name="conversion_advocate"),
            # Fraud rules' lookups (rewards.fraud.facts); the normalised-email expression
            # indexes are PostgreSQL-only, made in migration 0006.
            models.Index(fields=["merchant", "customer_id"], name="conversion_customer_id"),
            models.Index(fields=["merchant", "payment_fingerprint"], name="conversion_card"),
            models.Index(fields=["merchant", "-created_at"], name="conversion_merchant_time"),
            models.Index(fields=["merchant", "occurred_at"], name="conversion_merchant_occurred"),
            # A subscription's first attributed invoice (rewards.recurring), one lookup per
            # conversion that names a subscription.
            models.Index(
                fields=["merchant", "subscription_id", "occurred_at"],
                name="conversion_subscription",
                condition=~models.Q(subscription_id=""),
            ),
        ]


class Refund(TenantModel):
    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "rfd"), editable=False
    )
    conversion = models.ForeignKey(Conversion, on_delete=models.CASCADE, related_name="+")
    amount = models.BigIntegerField()
    # The storefront's or Stripe's id for this refund: a second report of it is the same refund.
    external_id = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_positive"),
            models.UniqueConstraint(
                fields=["merchant", "external_id"],
                condition=~models.Q(external_id=""),
                name="refund_unique_external_id",
            ),
        ]


class StripeEvent(TenantModel):
    """One event from the merchant's own Stripe account, recorded once (the idempotency key is
    `(merchant, event_id)`), with what we did about it.

    An event that refers to an order we have not seen yet (a refund before its checkout) waits:
    `processed_at` stays empty, `waiting_for` holds the order ids it may belong to and `payload`
    the event, until a conversion with one of those ids is recorded and it is applied. The
    payload is kept only while waiting (it holds customer data)."""

    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)
    waiting_for = models.JSONField(default=list, blank=True)
    payload = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "event_id"], name="stripe_event_unique_per_merchant"
            ),
        ]
        indexes = [
            models.Index(
                fields=["merchant", "received_at"],
                name="stripe_event_waiting",
                condition=models.Q(processed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"
