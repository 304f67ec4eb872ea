"""Billing pages (owners only) and our Stripe billing webhook.

Dashboard: `/m/<merchant_slug>/billing/` (plan, usage, plans to upgrade to), `…/checkout/`
(POST: off to Stripe Checkout), `…/portal/` (POST: off to the customer portal), `…/invoices/`.
Only owners may see or change billing: other members get 403, outsiders 404
(`merchant_view`).

Webhook: `POST /hooks/billing/stripe/`, signed with `STRIPE_BILLING_WEBHOOK_SECRET`. Refusals
(bad, stale or missing signature; not an event) answer 400 and write nothing; Stripe being
unreachable while we re-read the subscription answers 503 so Stripe delivers the event again.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import merchant_view
from accounts.models import Role, User
from billing import selectors, services
from billing.events import billing_event_process
from referral_saas.api.errors import error_body
from referral_saas.stripe_gateway import (
    StripeCallError,
    WebhookError,
    WebhookSignatureError,
    billing_verify_webhook,
)

logger = logging.getLogger(__name__)


def _billing_url(request: HttpRequest, **query: str) -> str:
    path = reverse("billing_overview", kwargs={"merchant_slug": request.merchant.slug})  # type: ignore[attr-defined]
    url = request.build_absolute_uri(path)
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _report(request: HttpRequest, error: ValidationError) -> None:
    for text in error.messages:
        messages.error(request, text)


@require_GET
@merchant_view(least_role=Role.OWNER, live_only=True)
def billing_overview(request: HttpRequest) -> HttpResponse:
    context = selectors.billing_page(merchant_id=request.merchant.pk)  # type: ignore[attr-defined]
    checkout = request.GET.get("checkout", "")
    context["checkout_returned"] = checkout == "success"
    if request.htmx and request.GET.get("part") == "plan":  # type: ignore[attr-defined]
        # Polled after a checkout until Stripe's webhook has changed the plan; then the whole
        # page reloads, so the plan cards stop offering the checkout that just succeeded.
        response = render(request, "billing/_current_plan.html", context)
        if context["has_live_subscription"]:
            response["HX-Refresh"] = "true"
        return response
    if checkout == "success" and not context["has_live_subscription"]:
        messages.info(
            request,
            _(
                "Thank you! Stripe is confirming your payment; your new plan appears here within "
                "a few seconds."
            ),
        )
    elif checkout == "cancelled":
        messages.info(
            request, _("Checkout cancelled: nothing was charged and your plan is unchanged.")
        )
    return render(request, "billing/overview.html", context)


@require_POST
@merchant_view(least_role=Role.OWNER, live_only=True)
def billing_checkout(request: HttpRequest) -> HttpResponse:
    try:
        url = services.checkout_start(
            actor=_user(request),
            plan_code=request.POST.get("plan", ""),
            success_url=_billing_url(request, checkout="success"),
            cancel_url=_billing_url(request, checkout="cancelled"),
        )
    except ValidationError as error:
        _report(request, error)
    except StripeCallError as error:
        logger.warning("billing: checkout could not start: %s", error.message)
        messages.error(
            request,
            _("Stripe could not start the checkout: %(reason)s") % {"reason": error.message},
        )
    else:
        return HttpResponseRedirect(url, status=303)
    return redirect("billing_overview", merchant_slug=request.merchant.slug)  # type: ignore[attr-defined]


@require_POST
@merchant_view(least_role=Role.OWNER, live_only=True)
def billing_portal(request: HttpRequest) -> HttpResponse:
    try:
        url = services.portal_open(actor=_user(request), return_url=_billing_url(request))
    except ValidationError as error:
        _report(request, error)
    except StripeCallError as error:
        logger.warning("billing: portal could not open: %s", error.message)
        messages.error(
            request,
            _("Stripe could not open the billing portal: %(reason)s") % {"reason": error.message},
        )
    else:
        return HttpResponseRedirect(url, status=303)
    return redirect("billing_overview", merchant_slug=request.merchant.slug)  # type: ignore[attr-defined]


@require_GET
@merchant_view(least_role=Role.OWNER, live_only=True)
def billing_invoices(request: HttpRequest) -> HttpResponse:
    error = ""
    try:
        invoices = services.invoices_list()
    except StripeCallError as failure:
        logger.warning("billing: invoices could not be listed: %s", failure.message)
        invoices = []
        error = failure.message
    rows = selectors.invoice_rows(invoices, locale=to_locale(get_language() or "en"))
    return render(request, "billing/invoices.html", {"invoices": rows, "error": error})


@require_GET
@merchant_view()
def billing_banners(request: HttpRequest) -> HttpResponse:
    """The dashboard's billing banners (payment failed, conversion limit near or reached).

    Loaded by htmx after the page, so dashboard pages keep their own query counts; every
    member sees them, only owners get the link to the billing page they alone may open."""
    found = selectors.banners(merchant_id=request.merchant.pk)  # type: ignore[attr-defined]
    owner = request.membership.role == Role.OWNER  # type: ignore[attr-defined]
    billing_url = (
        reverse("billing_overview", kwargs={"merchant_slug": request.merchant.slug})  # type: ignore[attr-defined]
        if found and owner
        else ""
    )
    return render(
        request, "billing/_banners_list.html", {"banners": found, "billing_url": billing_url}
    )


def _refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        error_body(type="invalid_request_error", code=code, message=message), status=status
    )


@csrf_exempt
@require_POST
def billing_stripe_hook(request: HttpRequest) -> HttpResponse:
    try:
        event = billing_verify_webhook(request.body, request.headers.get("Stripe-Signature"))
    except WebhookError as error:
        code = "signature_invalid" if isinstance(error, WebhookSignatureError) else "invalid_event"
        return _refuse(400, code, error.message)
    try:
        receipt = billing_event_process(event=event)
    except StripeCallError as error:
        logger.warning("billing: event %s not processed: %s", event.get("id"), error.message)
        if error.retriable:
            return _refuse(503, "stripe_unavailable", "Stripe could not be reached; retry later.")
        return _refuse(400, "stripe_refused", error.message)
    return JsonResponse(
        {
            "received": True,
            "event": receipt.event_id,
            "duplicate": receipt.duplicate,
            "outcome": receipt.outcome,
        }
    )
