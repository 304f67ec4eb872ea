"""Advocates and clicks. The foundation holds what the demo seed needs; the hosted-pages and
tracking-API issues add codes' rules, referrals, conversions and refunds."""

from __future__ import annotations

import functools

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from programs.models import Program
from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel


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
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="advocate_unique_code"),
            models.UniqueConstraint(
                "merchant", "program", Lower("email"), name="advocate_unique_email_per_program"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.email})"


class Click(TenantModel):
    """A visit through a referral link. Never the raw IP: a keyed hash and a truncated prefix."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "clk"), editable=False
    )
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    ip_hash = models.CharField(max_length=64, blank=True)
    ip_prefix = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    referer = models.CharField(max_length=500, blank=True)
    visitor_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["merchant", "advocate", "-created_at"], name="click_advocate_time"
            ),
            models.Index(fields=["merchant", "-created_at"], name="click_merchant_time"),
        ]


class ConversionStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    QUALIFIED = "qualified", "Qualified"
    REJECTED = "rejected", "Rejected"
    REVIEW = "review", "Review"
    REFUNDED = "refunded", "Refunded"


class Conversion(TenantModel):
    """An order reported by the storefront. The tracking-API issue adds customers, attribution
    and refunds; what is here already ties each decision to the program version it used."""

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
    order_id = models.CharField(max_length=200)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16, choices=ConversionStatus.choices, default=ConversionStatus.RECEIVED
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "order_id"], name="conversion_unique_order"
            ),
        ]
