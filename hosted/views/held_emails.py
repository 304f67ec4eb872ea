"""Test mode's outbox: the advocate and friend emails of the test data space, kept instead of sent
(`hosted.emails.send_once`), newest first, each readable in full."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.decorators import MerchantRequest, merchant_view
from hosted.models import HeldEmail

PAGE = 50


@require_GET
@merchant_view()
def held_emails(request: MerchantRequest) -> HttpResponse:
    if request.merchant.livemode:  # nothing is held in live mode: say where to look
        return render(request, "hosted/held_emails.html", {"emails": [], "live": True})
    emails = list(HeldEmail.objects.order_by("-created_at", "-pk")[:PAGE])
    chosen = None
    if request.GET.get("email", "").isdigit():
        chosen = HeldEmail.objects.filter(pk=int(request.GET["email"])).first()
    return render(request, "hosted/held_emails.html", {"emails": emails, "chosen": chosen})
