"""Test mode: a conversion made from the dashboard with a chosen outcome, to watch the whole flow
(attribution, fraud rules, rewards, webhooks) on test data before going live.

The order goes through `tracking.services.conversion_record`, the service the API uses, so the
pipeline judges it as it would a storefront's: a *qualified* order comes from a fresh customer,
a *review* one from a disposable address (the `disposable_email` rule holds it for review), and
a *refund* one is qualified and then refunded in full.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.decorators import MerchantRequest, merchant_view
from accounts.models import Role
from programs.models import Program, ProgramStatus
from programs.services import program_config
from referral_saas.ids import random_string
from tracking.models import Advocate
from tracking.services import advocate_enroll, conversion_record, refund_record

OUTCOMES = {"qualified", "review", "refund"}
TEST_ADVOCATE_EMAIL = "test.advocate@example.com"


@require_POST
@merchant_view(least_role=Role.ADMIN)
def test_conversion_create(request: MerchantRequest) -> HttpResponse:
    if request.merchant.livemode:
        raise Http404("Test conversions are made in test mode.")
    outcome = request.POST.get("outcome", "")
    back = redirect("test_data", merchant_slug=request.merchant.slug)
    if outcome not in OUTCOMES:
        messages.error(request, "Choose an outcome: qualified, review or refund.")
        return back
    program = (
        Program.objects.filter(status=ProgramStatus.ACTIVE).order_by("-created_at", "-pk").first()
    )
    if program is None:
        messages.error(request, "Create and activate a program in test mode first.")
        return back
    advocate = Advocate.objects.filter(program=program, email=TEST_ADVOCATE_EMAIL).first()
    if advocate is None:
        advocate = advocate_enroll(
            program=program, email=TEST_ADVOCATE_EMAIL, name="Test advocate"
        ).advocate
    tag = random_string(6).lower()
    domain = "mailinator.com" if outcome == "review" else "example.com"
    minimum = program_config(program).rules.min_order_amount or 0
    result = conversion_record(
        order_id=f"TEST-{tag.upper()}",
        amount=max(5000, minimum + 1000),
        currency=program.currency,
        customer={"email": f"test.buyer.{tag}@{domain}"},
        code=advocate.code,
        new_customer=True,
    )
    if outcome == "refund":
        refund_record(conversion=result.conversion, amount=None)
    messages.success(
        request,
        f"Test order {result.conversion.order_id} reported ({outcome}); follow it on the "
        "Conversions page.",
    )
    return back
