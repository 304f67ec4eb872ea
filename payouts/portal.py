"""The advocate's payouts in their portal (the same magic link: no login, no cookie): how they
want to be paid (PayPal email, IBAN for SEPA, or a Stripe Express account onboarded through
Stripe's account link), shown masked, and their payouts with their status.

Forms are protected like the portal's own (signed form token, same origin; no CSRF cookie
before consent). The page is in the advocate's language (`payouts/locale`)."""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import Merchant
from hosted.form_text import refuse_invalid_text
from hosted.pages import chrome, page_locale, render_page, same_origin
from hosted.views.portal import _advocate, _link_problem
from payouts import services
from payouts.details import payout_details_get, payout_details_set
from payouts.models import Payout, PayoutDetails, PayoutMethod
from programs.specs import SpecError
from referral_saas import stripe_gateway, tenancy
from tracking import links
from tracking.models import Advocate


def _page(
    request: HttpRequest,
    token: str,
    merchant: Merchant,
    advocate: Advocate,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    program = advocate.program
    path = reverse("portal_payouts", args=[token])
    with tenancy.merchant_context(merchant):
        locale = page_locale(request, program, advocate.locale)
        with translation.override(locale):
            details = payout_details_get(advocate)
            context: dict[str, Any] = chrome(
                request, merchant=merchant, program=program, locale=locale, path=path
            )
            context.update(
                {
                    "token": token,
                    "form_token": links.form_token(program),
                    "portal_url": reverse("hosted_portal", args=[token]),
                    "details": details,
                    "payouts": list(
                        Payout.objects.filter(advocate=advocate).order_by("-created_at")[:50]
                    ),
                    "balance": services.advocate_balance(advocate).total,
                    "currency": program.currency,
                    "stripe_available": bool(merchant.stripe_account_id),
                    "errors": errors or {},
                    "values": values or {},
                    "saved": request.GET.get("saved") == "1",
                }
            )
    return render_page(request, "payouts/portal.html", context, locale=locale, status=status)


def _form_ok(request: HttpRequest, advocate: Advocate) -> bool:
    return same_origin(request) and links.form_token_valid(
        request.POST.get("form_token", ""), advocate.program
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
@refuse_invalid_text
def payout_details_page(request: HttpRequest, token: str) -> HttpResponse:
    found = _advocate(token)
    if found is None:
        return _link_problem(request, token)
    merchant, advocate = found
    if request.method == "GET":
        return _page(request, token, merchant, advocate)
    values = {
        k: request.POST.get(k, "")[:200]
        for k in ("method", "paypal_email", "iban", "account_holder", "bic")
    }
    if not _form_ok(request, advocate):
        with translation.override(advocate.locale):
            errors = {"form": _("This form has expired: please try again.")}
        return _page(request, token, merchant, advocate, errors=errors, values=values, status=400)
    try:
        with tenancy.merchant_context(merchant):
            payout_details_set(advocate=advocate, **values)
    except SpecError as error:
        return _page(
            request,
            token,
            merchant,
            advocate,
            errors=_translated(error, advocate),
            values=values,
            status=400,
        )
    return HttpResponseRedirect(reverse("portal_payouts", args=[token]) + "?saved=1")


def _translated(error: SpecError, advocate: Advocate) -> dict[str, str]:
    """The advocate reads their language: one sentence per field at fault."""
    with translation.override(advocate.locale):
        texts = {
            "method": _("Choose how you want to be paid."),
            "paypal_email": _("Enter the email of your PayPal account."),
            "iban": _("This IBAN is not valid: check the country code and the digits."),
            "account_holder": _("Enter the account holder's name."),
            "bic": _("This BIC is not valid."),
        }
        return {field: texts.get(field, message) for field, message in error.errors.items()}


def _stripe_urls(request: HttpRequest, token: str) -> tuple[str, str]:
    back = request.build_absolute_uri(reverse("portal_payouts_stripe_return", args=[token]))
    again = request.build_absolute_uri(reverse("portal_payouts_stripe", args=[token]))
    return again, back


@csrf_exempt
@require_http_methods(["GET", "POST"])
def stripe_onboarding_start(request: HttpRequest, token: str) -> HttpResponse:
    """POST from the page (a new Express account, once), or GET as Stripe's refresh URL (an
    expired account link): a fresh account link, then off to Stripe."""
    found = _advocate(token)
    if found is None:
        return _link_problem(request, token)
    merchant, advocate = found
    if request.method == "POST" and not _form_ok(request, advocate):
        return _page(request, token, merchant, advocate, status=400)
    refresh_url, return_url = _stripe_urls(request, token)
    try:
        with tenancy.merchant_context(merchant):
            details, _created = PayoutDetails.objects.get_or_create(advocate=advocate)
            if not details.stripe_account_id:
                details.stripe_account_id = stripe_gateway.express_account_create(
                    account=merchant.stripe_account_id,
                    email=advocate.email,
                    idempotency_key=f"{advocate.public_id}:express",
                )
                details.method = PayoutMethod.STRIPE_TRANSFER
                details.save(update_fields=["stripe_account_id", "method"])
            url = stripe_gateway.express_account_link(
                account=merchant.stripe_account_id,
                express_account=details.stripe_account_id,
                refresh_url=refresh_url,
                return_url=return_url,
                idempotency_key=f"{advocate.public_id}:link:{secrets.token_hex(8)}",
            )
    except stripe_gateway.StripeCallError:
        with translation.override(advocate.locale):
            errors = {"stripe": _("Stripe is not available right now: please try again later.")}
        return _page(request, token, merchant, advocate, errors=errors, status=502)
    return HttpResponseRedirect(url)


@require_GET
def stripe_onboarding_return(request: HttpRequest, token: str) -> HttpResponse:
    """Stripe's return URL: read the account back; payouts go there once Stripe enables them."""
    found = _advocate(token)
    if found is None:
        return _link_problem(request, token)
    merchant, advocate = found
    with tenancy.merchant_context(merchant):
        details = payout_details_get(advocate)
        if details is not None and details.stripe_account_id:
            try:
                account = stripe_gateway.express_account_retrieve(
                    account=merchant.stripe_account_id, express_account=details.stripe_account_id
                )
            except stripe_gateway.StripeCallError:
                account = None
            if account is not None:
                PayoutDetails.objects.filter(pk=details.pk).update(
                    stripe_payouts_enabled=account.payouts_enabled,
                    method=PayoutMethod.STRIPE_TRANSFER,
                )
    return HttpResponseRedirect(reverse("portal_payouts", args=[token]) + "?saved=1")
