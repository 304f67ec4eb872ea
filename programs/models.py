"""Referral programs. The foundation holds the core fields; rewards, rules, versions and
variants are added by the programs issue."""

from __future__ import annotations

import functools

from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel


class ProgramType(models.TextChoices):
    ONE_SIDED = "one_sided", _("One-sided")
    TWO_SIDED = "two_sided", _("Two-sided")
    TIERED = "tiered", _("Tiered")


class ProgramStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    ARCHIVED = "archived", _("Archived")


class Program(TenantModel):
    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "prg"), editable=False
    )
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    type = models.CharField(max_length=16, choices=ProgramType.choices)
    status = models.CharField(
        max_length=16, choices=ProgramStatus.choices, default=ProgramStatus.DRAFT
    )
    currency = models.CharField(max_length=3)
    default_locale = models.CharField(max_length=5, default="en")
    locales = models.JSONField(default=list)
    destination_url = models.URLField(max_length=500)
    allowed_domains = models.JSONField(default=list)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    # Branding: colours as #rrggbb; the logo's type and size are checked by the service.
    brand_color = models.CharField(max_length=7, default="#3b2fc9")
    accent_color = models.CharField(max_length=7, default="#0f7b5f")
    logo = models.FileField(upload_to="logos/%Y/%m/", blank=True)
    # The number of the current ProgramVersion (what new conversions are judged by).
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "slug"], name="program_unique_slug"),
        ]
        indexes = [models.Index(fields=["merchant", "status"], name="program_merchant_status")]

    def __str__(self) -> str:
        return self.name


class ProgramVersion(TenantModel):
    """An immutable snapshot of what conversions are judged by: rewards, tiers, rules, fraud
    settings and A/B variants. Editing an active or paused program's configuration adds a
    version; a draft's single version is edited in place (nothing was judged by it yet)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    config = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "number"], name="program_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.program_id} v{self.number}"


class ProgramCopy(TenantModel):
    """The words on the hosted pages, per locale. Plain text: tags are stripped on save. Empty
    fields fall back to the default locale's (`programs.localized`); `name` empty falls back to
    `Program.name` (the default locale's name)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    locale = models.CharField(max_length=5)
    name = models.CharField(max_length=120, blank=True)
    headline = models.CharField(max_length=200, blank=True)
    description = models.TextField(max_length=2000, blank=True)
    terms = models.TextField(max_length=10000, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "locale"], name="program_copy_unique"),
        ]


class CodePool(TenantModel):
    """Merchant-made coupon codes, handed out one per reward by the `code_pool` method."""

    public_id = models.CharField(
        max_length=32,
        unique=True,
        default=functools.partial(new_public_id, "pool"),
        editable=False,
    )
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    low_stock_threshold = models.PositiveIntegerField(default=20)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.name


class PoolCode(TenantModel):
    pool = models.ForeignKey(CodePool, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Set once, when fulfilment hands the code to a reward (claimed with a conditional UPDATE).
    assigned_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.CharField(max_length=32, blank=True, help_text="Reward public id")

    class Meta:
        constraints = [
            # Shops match coupon codes case-insensitively: SAVE10 and save10 are one coupon.
            models.UniqueConstraint(models.F("pool"), Upper("code"), name="pool_code_unique_ci"),
            # One code per reward, whatever the application does.
            models.UniqueConstraint(
                fields=["pool", "assigned_to"],
                condition=~models.Q(assigned_to=""),
                name="pool_code_one_per_reward",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "pool", "assigned_at"], name="pool_code_available"),
        ]
