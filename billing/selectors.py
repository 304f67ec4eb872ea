"""Reads for the billing page and the dashboard banners (current merchant)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from babel.numbers import format_currency
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.limits import (
    NEAR_LIMIT_RATIO,
    Usage,
    current_plan,
    effective_plan,
    month_conversions,
    month_start,
    monthly_usage,
    seats_used,
)
from billing.models import PAYMENT_FAILED_STATUSES, Subscription, SubscriptionStatus
from billing.plans import FREE, PLANS, Feature, Plan, billing_configured
from programs.models import Program, ProgramStatus
from referral_saas.money import to_major
from referral_saas.stripe_gateway import BillingInvoice
from tracking.models import Conversion


def subscription_or_default() -> Subscription:
    """The current merchant's row, or an unsaved Free one (a page view writes nothing)."""
    return Subscription.objects.first() or Subscription(status=SubscriptionStatus.NONE)


@dataclass(frozen=True)
class Meter:
    label: str
    used: int
    limit: int | None

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.limit)) if self.limit else 0

    @property
    def over(self) -> bool:
        return self.limit is not None and self.used >= self.limit


@dataclass(frozen=True)
class PlanCard:
    plan: Plan
    current: bool
    purchasable: bool  # a paid plan with a configured Stripe price
    upgrade: bool  # bigger than the current plan


def billing_page(*, merchant_id: int) -> dict[str, Any]:
    configured = billing_configured()
    row = subscription_or_default()
    plan = current_plan(merchant_id=merchant_id)
    usage = monthly_usage(merchant_id=merchant_id)
    limits = plan.limits
    meters = [
        Meter(
            _("Active programs"),
            Program.objects.filter(status=ProgramStatus.ACTIVE).count(),
            limits.active_programs,
        ),
        Meter(_("Team seats (members and pending invitations)"), seats_used(), limits.seats),
    ]
    cards = [
        PlanCard(
            plan=candidate,
            current=candidate.code == plan.code,
            purchasable=candidate.is_paid and bool(candidate.price_id),
            upgrade=candidate.rank > plan.rank,
        )
        for candidate in PLANS.values()
        if configured  # a self-hosted installation sells nothing
    ]
    has_live_subscription = bool(row.stripe_subscription_id) and row.status in {
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.UNPAID,
    }
    return {
        "subscription": row,
        "plan": plan,
        "usage": usage,
        "meters": meters,
        "cards": cards,
        "billing_configured": configured,
        "self_hosted": not configured,
        "feature_labels": [str(label) for label in Feature.LABELS.values()],
        "has_customer": bool(row.stripe_customer_id),
        "has_live_subscription": has_live_subscription,
        "payment_failed": row.status in PAYMENT_FAILED_STATUSES and row.grace_period_ends_at,
        "over_limit_held": Conversion.objects.filter(
            over_limit=True, created_at__gte=month_start(timezone.now())
        ).count()
        if usage.reached
        else 0,
    }


@dataclass(frozen=True)
class Banner:
    level: str  # info, warning, error (the .alert-* classes)
    message: str


def banners(*, merchant_id: int) -> list[Banner]:
    """Billing problems every dashboard page shows: a failed payment's grace period, and this
    month's conversion limit near or reached. Two small queries (the row, a capped count).
    None on a self-hosted installation: there is no plan to pay for and no limit to reach."""
    if not billing_configured():
        return []
    # Explicit merchant filter: also rendered where the merchant context has already ended.
    row = Subscription.unscoped_all_merchants.filter(merchant_id=merchant_id).first()
    found: list[Banner] = []
    now = timezone.now()
    if row is not None and row.grace_period_ends_at is not None:
        if row.grace_period_ends_at > now and row.status in PAYMENT_FAILED_STATUSES:
            found.append(
                Banner(
                    "error",
                    _(
                        "Payment failed — your %(plan)s plan stays active during a grace period "
                        "until %(date)s. Update your payment method to keep it."
                    )
                    % {
                        "plan": PLANS[row.plan].name if row.plan in PLANS else row.plan,
                        "date": formats.date_format(row.grace_period_ends_at, "DATETIME_FORMAT"),
                    },
                )
            )
        elif row.grace_period_ends_at <= now and row.status in PAYMENT_FAILED_STATUSES:
            found.append(
                Banner(
                    "error",
                    _(
                        "Payment failed and the grace period has ended: you are on the Free plan "
                        "now. Your data is all kept; update your payment method to restore your "
                        "plan."
                    ),
                )
            )
    plan = (
        effective_plan(plan_code=row.plan, grace_period_ends_at=row.grace_period_ends_at)
        if row is not None
        else PLANS[FREE]
    )
    usage = _usage_flags(merchant_id=merchant_id, plan=plan)
    if usage is not None and usage.reached:
        found.append(
            Banner(
                "error",
                _(
                    "You have reached this month's limit of %(limit)s tracked conversions on the "
                    "%(plan)s plan. New conversions are still recorded but not rewarded until "
                    "you upgrade."
                )
                % {
                    "limit": formats.number_format(usage.limit or 0, force_grouping=True),
                    "plan": usage.plan.name,
                },
            )
        )
    elif usage is not None and usage.near:
        found.append(
            Banner(
                "warning",
                _(
                    "You have used %(used)s of this month's %(limit)s tracked conversions on the "
                    "%(plan)s plan. Beyond the limit, conversions are recorded but not rewarded."
                )
                % {
                    "used": formats.number_format(usage.used, force_grouping=True),
                    "limit": formats.number_format(usage.limit or 0, force_grouping=True),
                    "plan": usage.plan.name,
                },
            )
        )
    return found


def _usage_flags(*, merchant_id: int, plan: Plan) -> Usage | None:
    """Near/reached only: the count stops at the limit, so a busy month costs no more."""
    limit = plan.limits.conversions_per_month
    if limit is None:
        return None
    now = timezone.now()
    used = month_conversions(merchant_id, now)[:limit].count()
    return Usage(
        used=used,
        limit=limit,
        near=used >= NEAR_LIMIT_RATIO * limit,
        reached=used >= limit,
        plan=plan,
        month_start=month_start(now),
    )


@dataclass(frozen=True)
class InvoiceRow:
    id: str
    number: str
    status: str
    created_at: datetime
    total_display: str
    hosted_invoice_url: str
    invoice_pdf: str


def invoice_rows(invoices: list[BillingInvoice], *, locale: str = "en") -> list[InvoiceRow]:
    """Invoices as the page shows them: dates in UTC, amounts from minor units in the
    invoice's currency (zero-decimal currencies such as JPY included)."""
    rows = []
    for invoice in invoices:
        currency = invoice.currency or "EUR"
        amount = to_major(invoice.total, currency)
        rows.append(
            InvoiceRow(
                id=invoice.id,
                number=invoice.number,
                status=invoice.status,
                created_at=datetime.fromtimestamp(invoice.created, tz=UTC),
                total_display=format_currency(amount, currency, locale=locale),
                hosted_invoice_url=invoice.hosted_invoice_url,
                invoice_pdf=invoice.invoice_pdf,
            )
        )
    return rows
