"""Daily roll-ups: what the overview reads instead of scanning millions of raw clicks.

A periodic task (`analytics.tasks`) computes closed days (UTC) from the raw tracking rows and
replaces their roll-up rows whole; the overview adds today's numbers live and says when the
roll-ups were last computed. Counts are additive across days, programs and variants. Distinct
people (unique visitors, customers seen) are not, so each day keeps a HyperLogLog sketch that
merges exactly across days (`analytics.sketch`).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from referral_saas.tenancy import TenantModel


class DailyStats(TenantModel):
    """One UTC day of one program (null: orders with no program), A/B variant ("" without one)
    and currency. Counts sit on the program-currency row; money on its own currency's row."""

    day = models.DateField()
    program = models.ForeignKey(
        "programs.Program", null=True, on_delete=models.CASCADE, related_name="+"
    )
    variant_key = models.CharField(max_length=30, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    clicks = models.PositiveIntegerField(default=0)
    advocates = models.PositiveIntegerField(default=0)
    referrals = models.PositiveIntegerField(default=0)
    referred_conversions = models.PositiveIntegerField(default=0)
    new_referred_customers = models.PositiveIntegerField(default=0)
    referred_revenue = models.BigIntegerField(default=0)
    orders = models.PositiveIntegerField(default=0)
    revenue = models.BigIntegerField(default=0)
    rewards = models.PositiveIntegerField(default=0)
    reward_cost = models.BigIntegerField(default=0)
    # The day's click cohort (analytics.compute.click_cohort), stored when the day is frozen
    # (RollupState.cohort_frozen_through): once retention deletes the clicks, the referrals
    # no longer lead to them, and these are the record the conversion rate is read from.
    clicks_signed_up = models.PositiveIntegerField(default=0)
    clicks_ordered = models.PositiveIntegerField(default=0)
    clicks_rewarded = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "day", "program", "variant_key", "currency"],
                name="daily_stats_unique",
                nulls_distinct=False,
            ),
        ]
        indexes = [models.Index(fields=["merchant", "day"], name="daily_stats_merchant_day")]


class SketchKind(models.TextChoices):
    VISITORS = "visitors", "Unique visitors (per program)"
    CUSTOMERS = "customers", "Customers seen in orders (whole merchant)"
    PARTICIPANTS = "participants", "Customers seen in orders who are advocates (per program)"


class DailySketch(TenantModel):
    """A HyperLogLog sketch of the distinct people of one day: visitors per program, customers
    for the whole merchant (program null), and those customers who are the program's
    advocates (participants, per program)."""

    day = models.DateField()
    program = models.ForeignKey(
        "programs.Program", null=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=SketchKind.choices)
    registers = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "day", "program", "kind"],
                name="daily_sketch_unique",
                nulls_distinct=False,
            ),
        ]
        indexes = [models.Index(fields=["merchant", "day"], name="daily_sketch_merchant_day")]


class RollupState(TenantModel):
    """How far the merchant's roll-ups reach (every closed day up to `through_day` is rolled
    up) and when they were last brought up to date (changes to earlier days such as reviews
    and refunds made after `computed_at` appear on the next run)."""

    through_day = models.DateField(null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)
    # Days up to this one had their clicks' personal fields cleared by the retention job after
    # it rolled them up: their visitor sketches are kept as stored, never recomputed from
    # clicks that no longer say who clicked (each would count as a visitor of its own).
    visitors_frozen_through = models.DateField(null=True, blank=True)
    # Days up to this one have their click cohort stored (DailyStats.clicks_signed_up...),
    # taken when they were frozen, while their clicks and the referrals' links to them were
    # still there; the overview reads these days' cohort from the roll-ups.
    cohort_frozen_through = models.DateField(null=True, blank=True)
    # Moves on with every change to the stored roll-ups (`analytics.services.stored_changed`),
    # in the same transaction: the overview caches what it read of them under this version.
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant"], name="rollup_state_one_per_merchant")
        ]
