"""The retention page: what is kept for how long, the last nightly run, and (owners) the
periods."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.decorators import merchant_view
from accounts.models import Membership, Role, User
from retention import policy as policies
from retention.forms import RetentionPolicyForm
from retention.models import RetentionRun
from retention.services import retention_policy_update


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.ADMIN)
def retention_page(request: HttpRequest) -> HttpResponse:
    membership = cast(Membership, request.membership)  # type: ignore[attr-defined]
    may_edit = membership.has_role(Role.OWNER)
    policy = policies.current()
    form = RetentionPolicyForm(
        initial={
            "click_personal_months": policy.click_personal_months,
            "referral_email_months": policy.referral_email_months,
        }
    )
    status = 200
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied
        form = RetentionPolicyForm(request.POST)
        if form.is_valid():
            retention_policy_update(
                actor=cast(User, request.user), request=request, **form.cleaned_data
            )
            messages.success(request, _("The retention periods were saved."))
            merchant_slug = cast(Any, request).merchant.slug
            return redirect("retention", merchant_slug=merchant_slug)
        status = 400
    context = {
        "kinds": policies.kinds(policy),
        "last_run": RetentionRun.objects.order_by("-started_at").first(),
        "form": form,
        "may_edit": may_edit,
    }
    return render(request, "retention/page.html", context, status=status)
