"""A merchant's subscription to one of our plans, and the ledger of Stripe billing events.

`Subscription` belongs to a merchant, so it is a `TenantModel` (the dashboard and tasks reach
it through the scoped manager). Two readers cross tenants on purpose, through
`unscoped_all_merchants`: the billing webhook, which knows only a Stripe customer id until it
has found the merchant, and `billing.limits`, which the reward pipeline calls with an explicit
`merchant_id`.

`BillingEvent` is platform-level, not tenant-owned: it records *our* Stripe account's events,
deduplicated by Stripe's event id before we know (or even if we never learn) which merchant an
event concerns. It has no foreign key to a merchant for that reason, only the customer id.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from billing.plans import FREE, PLAN_CHOICES
from referral_saas.tenancy import TenantModel


class SubscriptionStatus(models.TextChoices):
    """Stripe's subscription statuses, plus `none` for a merchant who never subscribed."""

    NONE = "none", "No subscription"
    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    UNPAID = "unpaid", "Unpaid"
    CANCELED = "canceled", "Canceled"
    PAUSED = "paused", "Paused"


# Statuses in which the subscription still stands (possibly with a payment problem).
LIVE_STATUSES = frozenset(
    {
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.UNPAID,
    }
)
PAID_UP_STATUSES = frozenset({SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE})
PAYMENT_FAILED_STATUSES = frozenset({SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID})


class Subscription(TenantModel):
    """The merchant's plan and its mirror of the Stripe subscription paying for it.

    One row per merchant (created on first need; no row means Free). `plan` is what the
    merchant gets now; during a payment grace period it stays the paid plan until
    `grace_period_ends_at`, then `billing.services.subscription_grace_expire` moves it to Free
    (and `billing.limits` already treats an expired grace period as Free before that runs).
    """

    plan = models.CharField(max_length=16, choices=PLAN_CHOICES, default=FREE)
    status = models.CharField(
        max_length=24, choices=SubscriptionStatus.choices, default=SubscriptionStatus.NONE
    )
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    stripe_subscription_id = models.CharField(max_length=64, blank=True)
    # Stripe's `created` of that subscription: with two subscriptions in flight (an old one being
    # canceled, a new one starting) the newer one wins, whatever order their events arrive in.
    stripe_subscription_created = models.DateTimeField(null=True, blank=True)
    stripe_price_id = models.CharField(max_length=64, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    payment_failed_at = models.DateTimeField(null=True, blank=True)
    grace_period_ends_at = models.DateTimeField(null=True, blank=True)
    # When a grace period ran out and we moved the merchant to Free (shown on the billing page).
    downgraded_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True, help_text="Last Stripe state applied.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant"], name="billing_subscription_one_per_merchant"
            ),
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=~models.Q(stripe_customer_id=""),
                name="billing_subscription_unique_customer",
            ),
        ]
        indexes = [
            # The grace-period sweeper (crosses tenants by design: it fans out per merchant).
            models.Index(
                fields=["grace_period_ends_at"],
                name="billing_subscription_grace",
                condition=models.Q(grace_period_ends_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id}: {self.plan} ({self.status})"

    @property
    def in_grace_period(self) -> bool:
        return self.grace_period_ends_at is not None and self.grace_period_ends_at > timezone.now()


class BillingEventOutcome(models.TextChoices):
    APPLIED = "applied", "Applied"
    IGNORED = "ignored", "Ignored (type we do not act on)"
    UNKNOWN_CUSTOMER = "unknown_customer", "No merchant has this Stripe customer"
    STALE = "stale", "Concerns an older subscription"
    UNKNOWN_PRICE = "unknown_price", "Subscription to a price we do not sell"


class BillingEvent(models.Model):
    """One Stripe event of our own billing account, recorded once (dedupe by `event_id`).

    Inserted in the same transaction as its effects, so a crash leaves neither and Stripe's
    retry processes it again; a concurrent duplicate waits on the unique index and then finds
    the row. Platform-level on purpose (see the module docstring)."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    merchant_public_id = models.CharField(max_length=32, blank=True)
    outcome = models.CharField(max_length=24, choices=BillingEventOutcome.choices)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["-received_at"], name="billing_event_received")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.outcome})"
