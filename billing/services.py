"""Writes and state transitions of SaaS billing: checkout, portal, Stripe sync, grace periods.

Every Stripe call goes through `referral_saas.stripe_gateway` (its "SaaS billing" section).
The merchant's plan follows Stripe, never the other way round: `subscription_sync` re-reads the
subscription from Stripe and applies that state under a row lock, so webhooks that arrive late,
twice or out of order all converge on what Stripe says now.

Plan changes never delete anything. A downgrade pauses the programs beyond the new plan's
active-program limit (oldest stay live) and keeps every row; members beyond the seat count stay;
conversions beyond the monthly limit are stored and released to the pipeline on an upgrade.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit_record
from billing.models import (
    LIVE_STATUSES,
    PAID_UP_STATUSES,
    PAYMENT_FAILED_STATUSES,
    BillingEventOutcome,
    Subscription,
    SubscriptionStatus,
)
from billing.plans import (
    FREE,
    PLANS,
    Plan,
    billing_configured,
    limit_grew,
    plan_for,
    plan_for_price,
)
from programs.models import Program, ProgramStatus
from programs.services import program_pause
from referral_saas import stripe_gateway, tenancy
from referral_saas.stripe_gateway import BillingInvoice, BillingSubscription
from referral_saas.workers import enqueue_on_commit

logger = logging.getLogger(__name__)


def _from_timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


# --- The merchant's subscription row -----------------------------------------------------------


def subscription_get() -> Subscription:
    """The current merchant's subscription row, created (on Free) the first time it is needed.
    Two concurrent first requests: the unique constraint lets one insert, the other reads it."""
    row = Subscription.objects.first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return Subscription.objects.create()
    except IntegrityError:
        return Subscription.objects.get()


def _subscription_locked() -> Subscription:
    subscription_get()
    return Subscription.objects.select_for_update().get()


# --- Checkout, portal, invoices ----------------------------------------------------------------


def _customer_ensure(*, actor: User) -> str:
    """Our Stripe customer id for the current merchant, created on first need.

    The row is locked while the customer is created, so two concurrent upgrades store one id;
    the gateway's idempotency key (`billing-customer-<merchant>`) covers a crash in between."""
    merchant = tenancy.get_current_merchant()
    with transaction.atomic():
        row = _subscription_locked()
        if not row.stripe_customer_id:
            row.stripe_customer_id = stripe_gateway.billing_customer_create(
                merchant_public_id=merchant.public_id, email=actor.email, name=merchant.name
            )
            row.save(update_fields=["stripe_customer_id", "updated_at"])
        return row.stripe_customer_id


def checkout_start(*, actor: User, plan_code: str, success_url: str, cancel_url: str) -> str:
    """Start a Stripe Checkout for a paid plan; returns the URL to send the owner to.

    Refused (ValidationError) for Free, an unknown plan, a plan without a configured price, and
    for a merchant who already has a live subscription (plan changes go through the customer
    portal, so nobody ends up paying for two subscriptions). Audited as `billing.checkout_started`.
    The plan itself changes only when Stripe's webhook says the subscription exists.
    """
    if not billing_configured():
        raise ValidationError(
            {
                "plan": _(
                    "This installation does not sell plans: it is self-hosted, with no plan limits."
                )
            }
        )
    plan = PLANS.get(plan_code)
    if plan is None or not plan.is_paid:
        raise ValidationError({"plan": _("Choose a paid plan to upgrade to.")})
    if not plan.price_id:
        raise ValidationError(
            {"plan": _("The %(plan)s plan is not on sale yet.") % {"plan": plan.name}}
        )
    row = subscription_get()
    if row.status in LIVE_STATUSES and row.stripe_subscription_id:
        raise ValidationError(
            {
                "plan": _(
                    "You already have a subscription: change your plan in the billing portal "
                    "(Manage billing)."
                )
            }
        )
    customer_id = _customer_ensure(actor=actor)
    merchant = tenancy.get_current_merchant()
    session = stripe_gateway.billing_checkout_session_create(
        customer_id=customer_id,
        price_id=plan.price_id,
        merchant_public_id=merchant.public_id,
        plan=plan.code,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    audit_record(
        action="billing.checkout_started",
        actor=actor,
        target=merchant,
        data={"plan": plan.code, "session": session.id},
    )
    return session.url


def portal_open(*, actor: User, return_url: str) -> str:
    """A customer-portal session URL (payment method, plan change, cancellation, invoices)."""
    row = subscription_get()
    if not row.stripe_customer_id:
        raise ValidationError(
            _("There is nothing to manage yet: choose a paid plan first to start a subscription.")
        )
    url = stripe_gateway.billing_portal_session_create(
        customer_id=row.stripe_customer_id, return_url=return_url
    )
    audit_record(action="billing.portal_opened", actor=actor, target=tenancy.get_current_merchant())
    return url


def invoices_list() -> list[BillingInvoice]:
    """The current merchant's invoices from Stripe (none before the first checkout)."""
    row = subscription_get()
    if not row.stripe_customer_id:
        return []
    return stripe_gateway.billing_invoices_list(customer_id=row.stripe_customer_id)


# --- Sync from Stripe --------------------------------------------------------------------------


def _is_stale(row: Subscription, remote: BillingSubscription) -> bool:
    """An event about another subscription than the one we follow: adopt it only if it is
    live and not older than ours, so a late `deleted` of a replaced subscription (or a new
    checkout abandoned half-way) cannot take the merchant's plan away."""
    if not row.stripe_subscription_id or row.stripe_subscription_id == remote.id:
        return False
    if remote.status not in LIVE_STATUSES:
        return True
    ours = row.stripe_subscription_created
    theirs = _from_timestamp(remote.created)
    return row.status in LIVE_STATUSES and ours is not None and theirs is not None and theirs < ours


def _plan_for_remote(row: Subscription, remote: BillingSubscription, mapped: Plan) -> Plan:
    now = timezone.now()
    if remote.status in PAID_UP_STATUSES:
        return mapped
    if remote.status in PAYMENT_FAILED_STATUSES:
        grace = row.grace_period_ends_at
        return PLANS[FREE] if grace is not None and grace <= now else mapped
    if remote.status == SubscriptionStatus.INCOMPLETE:
        return plan_for(row.plan)  # first payment not through yet: nothing changes
    return PLANS[FREE]  # canceled, incomplete_expired, paused


def subscription_refresh(*, subscription_id: str, snapshot: dict[str, Any] | None) -> str:
    """Re-read a subscription from Stripe and apply it to the current merchant's row.

    The row is locked *before* Stripe is asked, so two concurrent events for the merchant are
    serialised and the one that reads later also writes later: an older state can never
    overwrite a newer one. If Stripe no longer has the subscription (deleted test data), a
    subscription event's own snapshot is applied instead; other events are ignored."""
    with transaction.atomic():
        _subscription_locked()
        remote = stripe_gateway.billing_subscription_retrieve(subscription_id)
        if remote is None:
            if snapshot is None:
                return BillingEventOutcome.IGNORED
            remote = stripe_gateway.billing_subscription_from_data(snapshot)
        return subscription_sync(remote=remote)


def subscription_sync(*, remote: BillingSubscription) -> str:
    """Apply Stripe's current state of a subscription to the current merchant's row.

    Returns the outcome (`applied`, `stale`, `unknown_price`). Idempotent: the same state twice
    changes nothing and records nothing. Side effects when the state changes: the plan (audited
    `billing.plan_changed`), a grace period and a "payment failed" email when a payment starts
    failing, programs paused beyond a smaller plan's limit, and the over-limit conversions
    released after commit when the conversion limit grew.
    """
    with transaction.atomic():
        row = _subscription_locked()
        if _is_stale(row, remote):
            return BillingEventOutcome.STALE
        if row.stripe_subscription_id not in ("", remote.id) and row.status in LIVE_STATUSES:
            # Two live subscriptions (e.g. two checkouts finished before the first webhook): we
            # follow the newer one; the operator must refund and cancel the other in Stripe.
            logger.error(
                "billing: merchant %s has two live subscriptions, %s replaces %s",
                row.merchant_id,
                remote.id,
                row.stripe_subscription_id,
            )
        mapped = plan_for_price(remote.price_id)
        if mapped is None and remote.status in LIVE_STATUSES | {SubscriptionStatus.INCOMPLETE}:
            logger.error(
                "billing: subscription %s uses price %r, which no plan sells",
                remote.id,
                remote.price_id,
            )
            return BillingEventOutcome.UNKNOWN_PRICE
        old_plan = plan_for(row.plan)
        status = remote.status if remote.status in SubscriptionStatus.values else "canceled"
        new_plan = _plan_for_remote(row, remote, mapped or PLANS[FREE])
        payment_started_failing = status in PAYMENT_FAILED_STATUSES and (
            row.grace_period_ends_at is None
        )
        now = timezone.now()
        if payment_started_failing:
            row.payment_failed_at = now
            row.grace_period_ends_at = now + timedelta(days=settings.BILLING_GRACE_PERIOD_DAYS)
        elif status not in PAYMENT_FAILED_STATUSES:
            row.payment_failed_at = None
            row.grace_period_ends_at = None
        if new_plan.is_paid:
            row.downgraded_at = None
        row.plan = new_plan.code
        row.status = status
        row.stripe_customer_id = row.stripe_customer_id or remote.customer_id
        row.stripe_subscription_id = remote.id
        row.stripe_subscription_created = _from_timestamp(remote.created)
        row.stripe_price_id = remote.price_id
        row.current_period_end = _from_timestamp(remote.current_period_end)
        row.cancel_at_period_end = remote.cancel_at_period_end
        row.synced_at = now
        row.save()
        _plan_changed(row=row, old=old_plan, new=new_plan, reason=f"stripe:{status}")
        if payment_started_failing:
            audit_record(
                action="billing.payment_failed",
                target=tenancy.get_current_merchant(),
                data={"grace_period_ends_at": row.grace_period_ends_at.isoformat()},  # type: ignore[union-attr]
            )
            _email_owners(kind="payment_failed")
    return BillingEventOutcome.APPLIED


def _plan_changed(*, row: Subscription, old: Plan, new: Plan, reason: str) -> None:
    if old.code == new.code:
        return
    audit_record(
        action="billing.plan_changed",
        target=tenancy.get_current_merchant(),
        data={"from": old.code, "to": new.code, "reason": reason},
    )
    plan_limits_enforce(plan=new)
    if limit_grew(old.limits.conversions_per_month, new.limits.conversions_per_month):
        from billing.tasks import over_limit_release_task

        merchant = tenancy.get_current_merchant()
        enqueue_on_commit(over_limit_release_task, merchant_id=merchant.pk)


def plan_limits_enforce(*, plan: Plan) -> list[Program]:
    """Bring the current merchant within `plan`'s active-program limit by *pausing* the most
    recently created active programs (never archiving or deleting: upgrading again and
    resuming them restores everything). Returns the programs paused."""
    limit = plan.limits.active_programs
    if limit is None:
        return []
    active = list(Program.objects.filter(status=ProgramStatus.ACTIVE).order_by("created_at", "pk"))
    paused = []
    for program in active[limit:]:
        paused.append(program_pause(actor=None, program=program))
    return paused


def _email_owners(*, kind: str) -> None:
    from billing.tasks import billing_email_task

    merchant = tenancy.get_current_merchant()
    enqueue_on_commit(billing_email_task, merchant_id=merchant.pk, kind=kind)


# --- Grace periods -----------------------------------------------------------------------------


def subscription_grace_expire() -> bool:
    """Move the current merchant to Free if its payment grace period has run out.

    Conditional under a row lock, so the sweeper running twice (or racing a payment that just
    succeeded) downgrades at most once and never after a recovery. Side effects: plan change
    (audited), programs beyond Free's limit paused, a "moved to Free" email. True if it acted."""
    with transaction.atomic():
        row = _subscription_locked()
        grace = row.grace_period_ends_at
        if grace is None or grace > timezone.now() or row.plan == FREE:
            return False
        old_plan = plan_for(row.plan)
        row.plan = FREE
        row.downgraded_at = timezone.now()
        row.save(update_fields=["plan", "downgraded_at", "updated_at"])
        _plan_changed(row=row, old=old_plan, new=PLANS[FREE], reason="grace_period_expired")
        _email_owners(kind="downgraded")
    return True


def merchants_with_expired_grace(*, now: datetime | None = None) -> list[int]:
    """Ids of merchants whose grace period ran out but who are still on a paid plan.
    Crosses tenants on purpose (the sweeper fans out one task per merchant)."""
    now = now or timezone.now()
    return list(
        Subscription.unscoped_all_merchants.filter(grace_period_ends_at__lte=now)
        .exclude(plan=FREE)
        .values_list("merchant_id", flat=True)
    )


def owner_emails() -> list[str]:
    from accounts.models import Membership, Role

    return list(
        Membership.objects.filter(role=Role.OWNER)
        .order_by("created_at")
        .values_list("user__email", flat=True)
    )


def event_context() -> dict[str, Any]:
    """What the billing emails say (current merchant)."""
    row = subscription_get()
    return {
        "merchant": tenancy.get_current_merchant(),
        "subscription": row,
        "plan": plan_for(row.plan),
        "free": PLANS[FREE],
    }
