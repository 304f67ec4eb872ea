"""The merchant overview (`/m/<merchant>/`): the getting-started checklist above the figures
of every program. Here, above the apps it reads (accounts, programs, tracking), so none of them
imports analytics."""

from __future__ import annotations

from typing import Any

from allauth.mfa.utils import is_mfa_enabled
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.decorators import MerchantRequest, merchant_view
from accounts.models import ApiKey, Membership, Role
from analytics.kpis import all_time_counts
from analytics.models import RollupState
from analytics.views import overview_context
from programs.models import Program, ProgramStatus
from tracking.models import Conversion


def _getting_started(request: MerchantRequest, counts: dict[str, int]) -> list[dict[str, Any]]:
    """The newcomer's checklist. Each item is done when the thing itself exists (a program
    that went live, a recorded click, a received conversion...), never by a flag we set, so an
    item turns green the moment the store really does it, and back if it is undone."""
    merchant = request.merchant
    membership = request.membership
    slug = merchant.slug
    is_admin, is_owner = membership.has_role(Role.ADMIN), membership.role == Role.OWNER
    programs_url = reverse("program_list", kwargs={"merchant_slug": slug})
    keys_url = reverse("api_keys", kwargs={"merchant_slug": slug}) if is_admin else ""
    settings_url = reverse("merchant_settings", kwargs={"merchant_slug": slug}) if is_owner else ""
    docs_url = reverse("api_docs")
    return [
        {"key": "account", "label": _("Create your business account"), "done": True, "url": ""},
        {
            "key": "program",
            "label": _("Create a referral program"),
            "done": counts["programs"] > 0,
            "url": programs_url,
        },
        {
            "key": "activate",
            "label": _("Activate it, so its landing page opens"),
            "done": Program.objects.exclude(status=ProgramStatus.DRAFT).exists(),
            "url": programs_url,
        },
        {
            "key": "api_key",
            "label": _("Create an API key for your store"),
            "done": ApiKey.objects.exists(),
            "url": keys_url,
        },
        {
            "key": "tracking",
            "label": _("Install tracking: record your first referral click"),
            "hint": _("Share a referral link, or send POST /api/v1/clicks from your store."),
            "done": counts["clicks"] > 0,
            "url": docs_url,
        },
        {
            "key": "conversion",
            "label": _("Report your first conversion"),
            "hint": "Send POST /api/v1/conversions when an order is paid, or connect Stripe "
            "webhooks in Settings.",
            "done": Conversion.objects.exists(),
            "url": docs_url,
        },
        {
            "key": "privacy",
            "label": _("Link your privacy policy"),
            "done": bool(merchant.privacy_policy_url),
            "url": settings_url + "#business" if settings_url else "",
        },
        {
            "key": "team",
            "label": _("Invite your team"),
            "done": Membership.objects.count() > 1,
            "url": reverse("team", kwargs={"merchant_slug": slug}),
        },
        {
            "key": "mfa",
            "label": _("Turn on two-factor authentication"),
            "done": is_mfa_enabled(request.user),
            "url": reverse("mfa_index"),
        },
    ]


@require_GET
@merchant_view()
def overview(request: MerchantRequest) -> HttpResponse:
    """The merchant's numbers for the chosen period (analytics.views.overview_context) under
    the getting-started checklist. Totals come from the roll-ups, never a count of raw clicks."""
    rollups = RollupState.objects.first()
    context, status = overview_context(request, None, rollups=rollups)
    counts = {
        "programs": Program.objects.count(),
        **all_time_counts(rollups, context["overview"]),
    }
    checklist = _getting_started(request, counts)
    context.update(
        {
            "counts": counts,
            "checklist": checklist,
            "checklist_done": sum(1 for item in checklist if item["done"]),
            "programs": Program.objects.order_by("name").only("public_id", "name"),
        }
    )
    return render(request, "dashboard/overview.html", context, status=status)
