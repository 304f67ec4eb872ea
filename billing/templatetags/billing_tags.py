"""Plan-aware bits of templates.

- `{% powered_by merchant %}`: our footer on hosted pages, unless the plan removes it. Removing
  it is what the Custom branding feature sells (Scale). A self-hosted installation has every
  feature, so it shows no footer either.
- `{% plan_feature_notice "webhooks" %}`: on a dashboard page of a gated feature, an upgrade
  note when the plan lacks it (the services refuse it anyway: `billing.limits.require_feature`).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.urls import reverse

from accounts.models import Role
from billing.limits import current_plan, feature_enabled
from billing.plans import PLANS, Feature

register = template.Library()


@register.inclusion_tag("billing/_powered_by.html")
def powered_by(merchant: Any) -> dict[str, Any]:
    merchant_id = getattr(merchant, "pk", None)
    show = merchant_id is not None and not feature_enabled(
        merchant_id=merchant_id, feature=Feature.CUSTOM_BRANDING
    )
    return {
        "show": show,
        "product": settings.PRODUCT_NAME,
        "product_url": settings.PUBLIC_BASE_URL.rstrip("/") + "/",
    }


@register.inclusion_tag("billing/_feature_notice.html", takes_context=True)
def plan_feature_notice(context: template.Context, feature: str) -> dict[str, Any]:
    """On a dashboard page of a gated feature: say up front, before a form is filled in, that
    the merchant's plan does not include it, which plans do, and (for owners) where to upgrade."""
    merchant = context.get("current_merchant")
    if merchant is None or feature_enabled(merchant_id=merchant.pk, feature=feature):
        return {"show": False}
    membership = context.get("current_membership")
    owner = membership is not None and membership.role == Role.OWNER
    return {
        "show": True,
        "feature": feature,
        "label": str(Feature.LABELS.get(feature, feature)),
        "plan": current_plan(merchant_id=merchant.pk).name,
        "plans": " and ".join(p.name for p in PLANS.values() if p.has(feature)),
        "billing_url": reverse("billing_overview", kwargs={"merchant_slug": merchant.slug})
        if owner
        else "",
    }
