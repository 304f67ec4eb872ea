"""Referral programs. The foundation holds the core fields; rewards, rules, versions and
variants are added by the programs issue."""

from __future__ import annotations

import functools

from django.db import models
from django.utils import timezone

from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel


class ProgramType(models.TextChoices):
    ONE_SIDED = "one_sided", "One-sided"
    TWO_SIDED = "two_sided", "Two-sided"
    TIERED = "tiered", "Tiered"


class ProgramStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


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
