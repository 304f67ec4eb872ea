"""Plan gates in the dashboard: a feature the plan lacks is an upgrade message, never a 500.

The services raise `billing.limits.FeatureNotInPlan` where a gated feature is created or switched
on (webhook endpoints, A/B variants, Stripe or webhook fulfilment). The API answers it itself (it
is an `ApiError`: 403 `plan_feature_unavailable`); a dashboard view that does not catch it lands
here, and the person is sent back to the page they came from with the message, which names the
feature, the plans that include it and the Billing page (linked for owners).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from accounts.models import Role
from billing.limits import FeatureNotInPlan


class PlanFeatureMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, FeatureNotInPlan):
            return None
        merchant = getattr(request, "merchant", None)
        membership = getattr(request, "membership", None)
        text = exception.message
        if merchant is not None and membership is not None and membership.role == Role.OWNER:
            billing_url = reverse("billing_overview", kwargs={"merchant_slug": merchant.slug})
            messages.error(
                request,
                format_html('{} <a href="{}">{}</a>', text, billing_url, _("Go to Billing")),
            )
        else:
            messages.error(request, text)
        back = request.headers.get("Referer", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = (
                reverse("merchant_overview", kwargs={"merchant_slug": merchant.slug})
                if merchant is not None
                else "/"
            )
        if request.headers.get("HX-Request") == "true":
            # An htmx request would swap the redirect's page into a fragment: navigate instead.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = back
            return response
        return HttpResponseRedirect(back, status=303)
