"""Thin billing tasks: grace-period expiry, owner emails, releasing over-limit conversions."""

from __future__ import annotations

import importlib
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from billing import services
from referral_saas.celery import app
from referral_saas.workers import merchant_task

logger = logging.getLogger(__name__)

EMAIL_SUBJECTS = {
    "payment_failed": lambda c: (
        _("Your payment for %(merchant)s failed: please update your card")
        % {"merchant": c["merchant"].name}
    ),
    "downgraded": lambda c: (
        _("%(merchant)s has moved to the Free plan") % {"merchant": c["merchant"].name}
    ),
}


@app.task(name="billing.tasks.subscription_grace_sweep_task", acks_late=True)
def subscription_grace_sweep_task() -> int:
    """Beat, every 5 minutes: one `subscription_grace_expire_task` per merchant whose payment
    grace period has run out. Safe to run twice: the per-merchant task re-checks under a lock.
    (Limits already treat an expired grace period as Free, so a late sweep costs nothing.)"""
    merchant_ids = services.merchants_with_expired_grace()
    for merchant_id in merchant_ids:
        subscription_grace_expire_task.delay(merchant_id=merchant_id)
    return len(merchant_ids)


@merchant_task(name="billing.tasks.subscription_grace_expire_task")
def subscription_grace_expire_task(*, merchant_id: int) -> bool:
    return services.subscription_grace_expire()


@merchant_task(name="billing.tasks.billing_email_task", autoretry_for=(OSError,), max_retries=5)
def billing_email_task(*, merchant_id: int, kind: str) -> int:
    """Email the merchant's owners about billing (`payment_failed`, `downgraded`). Retries on
    mail-server errors; a rerun after a crash may send the email twice, never zero times."""
    if kind not in EMAIL_SUBJECTS:
        raise ValueError(f"unknown billing email {kind!r}")
    recipients = services.owner_emails()
    if not recipients:
        return 0
    context = services.event_context()
    context["billing_url"] = settings.PUBLIC_BASE_URL + _billing_path(context["merchant"].slug)
    return send_mail(
        subject=EMAIL_SUBJECTS[kind](context),
        message=render_to_string(f"billing/email/{kind}.txt", context),
        from_email=None,
        recipient_list=recipients,
    )


def _billing_path(merchant_slug: str) -> str:
    return reverse("billing_overview", kwargs={"merchant_slug": merchant_slug})


@merchant_task(
    name="billing.tasks.over_limit_release_task", autoretry_for=(OSError,), max_retries=5
)
def over_limit_release_task(*, merchant_id: int) -> None:
    """After an upgrade raised the conversion limit: hand the conversions the old plan held
    back to the reward pipeline (it un-flags them, so they are evaluated and rewarded)."""
    # Imported by name at run time: the pipeline (rewards) depends on billing, not the reverse.
    pipeline = importlib.import_module("rewards.pipeline")
    pipeline.over_limit_release(merchant_id=merchant_id)
