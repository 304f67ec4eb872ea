"""How long a merchant keeps personal data, and what each nightly run cleared.

Defaults (`DEFAULT_*`) apply to every merchant until an owner changes them; the policy row is
written only then. The audit log is not configurable: it is the legal record of what was done
(accounts.AuditEvent, append-only) and is kept.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from referral_saas.tenancy import TenantModel

DEFAULT_CLICK_MONTHS = 13
DEFAULT_REFERRAL_EMAIL_MONTHS = 12
# Never under 12 months: the longest attribution window is 365 days, and an order inside it
# must still find its friend's referral (by email) and click (by visitor id).
MONTH_CHOICES = [(months, str(months)) for months in (12, 13, 18, 24, 36)]


class RetentionPolicy(TenantModel):
    """The merchant's retention periods (one row, once changed from the defaults)."""

    click_personal_months = models.PositiveSmallIntegerField(
        default=DEFAULT_CLICK_MONTHS, choices=MONTH_CHOICES
    )
    referral_email_months = models.PositiveSmallIntegerField(
        default=DEFAULT_REFERRAL_EMAIL_MONTHS, choices=MONTH_CHOICES
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant"], name="retention_policy_one_per_merchant")
        ]


class RetentionRun(TenantModel):
    """One run of the nightly job for one merchant: the cut-offs it applied and what it cleared
    (shown on the retention page, so the merchant sees the job works)."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    clicks_before = models.DateTimeField()
    referrals_before = models.DateTimeField()
    clicks_cleared = models.PositiveIntegerField(default=0)
    consents_cleared = models.PositiveIntegerField(default=0)
    referrals_cleared = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["merchant", "-started_at"], name="retention_run_time")]
