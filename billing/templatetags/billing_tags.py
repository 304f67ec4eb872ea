"""`{% powered_by merchant %}`: our footer on hosted pages, unless the plan removes it.

Removing the footer is what the Custom branding feature sells (Scale). A self-hosted
installation has every feature, so it shows no footer either."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from billing.limits import feature_enabled
from billing.plans import Feature

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
