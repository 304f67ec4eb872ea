"""The dashboard's "View test data" switch: the same page, in the other data space."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts import testmode
from accounts.decorators import MerchantRequest, merchant_view, same_page_in
from accounts.models import Role, TestDataErasure, TestDataErasureStatus


@require_POST
@merchant_view()
def test_mode_switch(request: MerchantRequest) -> HttpResponse:
    """POST `mode` (test | live) and `next` (a dashboard path of this merchant): the same page
    in the test twin or the live account. Any member may look at test data."""
    current = request.merchant
    target = testmode.twin_of(current) if request.POST.get("mode") == "test" else current.account
    same_page = same_page_in(request.POST.get("next", ""), current, target)
    return redirect(
        same_page or reverse("merchant_overview", kwargs={"merchant_slug": target.slug})
    )


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.ADMIN)
def test_data(request: MerchantRequest) -> HttpResponse:
    """Test mode only: erase the test data space (async, audited), with the latest erasure's
    progress (the page refreshes itself while one runs)."""
    if request.merchant.livemode:
        if request.method == "POST":
            raise Http404("Test data is erased from test mode.")
        return render(request, "dashboard/test_data.html", {"live": True})
    if request.method == "POST":
        testmode.test_data_erase_request(actor_label=request.user.email)  # type: ignore[union-attr]
        messages.success(request, "Erasing your test data. Test keys and the audit log are kept.")
        return redirect("test_data", merchant_slug=request.merchant.slug)
    latest = TestDataErasure.objects.order_by("-created_at", "-pk").first()
    running = latest is not None and latest.status in {
        TestDataErasureStatus.PENDING,
        TestDataErasureStatus.RUNNING,
    }
    return render(
        request,
        "dashboard/test_data.html",
        {
            "latest": latest,
            "running": running,
            "deleted_total": sum(latest.deleted.values()) if latest else 0,
        },
    )
