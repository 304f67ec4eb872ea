"""Dashboard pages for outbound webhooks: endpoints, secrets, event selection, delivery log, replay.

Viewers read everything except secrets; admins and owners configure. Each view parses, calls
one service (`webhooks.services`, `webhooks.delivery`) and renders. Objects are fetched through
the scoped managers under `merchant_view`, so another merchant's id is a plain 404.
"""

from __future__ import annotations

import json
from typing import cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import MerchantRequest, merchant_view
from accounts.models import Role, User
from programs.specs import SpecError
from webhooks import delivery as delivery_services
from webhooks import services
from webhooks.models import (
    WEBHOOK_EVENTS,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

DELIVERY_PAGE_SIZE = 50
EVENT_CHOICES = [(event, event) for event in WEBHOOK_EVENTS]
GRACE_CHOICES = [
    (0, _("Immediately")),
    (1, _("In 1 hour")),
    (24, _("In 24 hours")),
    (72, _("In 3 days")),
    (168, _("In 7 days")),
]


class EndpointForm(forms.Form):
    url = forms.CharField(
        label=_("Endpoint URL"),
        max_length=services.MAX_URL_LENGTH,
        widget=forms.URLInput(attrs={"placeholder": "https://shop.example.com/hooks/referrals"}),
        help_text=_("https only; it must resolve to a public address."),
    )
    description = forms.CharField(
        label=_("Description"), max_length=services.MAX_DESCRIPTION_LENGTH, required=False
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every event, including ones we add later."),
    )


class EndpointEventsForm(forms.Form):
    description = forms.CharField(
        label=_("Description"), max_length=services.MAX_DESCRIPTION_LENGTH, required=False
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every event."),
    )


class RotateForm(forms.Form):
    grace_hours = forms.TypedChoiceField(
        label=_("Old secret stops signing"), choices=GRACE_CHOICES, coerce=int, initial=24
    )


# --- Helpers ---------------------------------------------------------------------------------


def _user(request: MerchantRequest) -> User:
    return cast(User, request.user)


def _can_configure(request: MerchantRequest) -> bool:
    return request.membership.has_role(Role.ADMIN)


def _endpoint(endpoint_id: str) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, public_id=endpoint_id)


def _to_endpoint(request: MerchantRequest, endpoint: WebhookEndpoint) -> HttpResponse:
    return redirect(
        "webhook_endpoint", merchant_slug=request.merchant.slug, endpoint_id=endpoint.public_id
    )


def _no_store(response: HttpResponse) -> HttpResponse:
    # A response that carries a secret is never cached.
    response["Cache-Control"] = "no-store"
    return response


def _add_spec_errors(form: forms.Form, error: SpecError) -> None:
    for path, text in error.errors.items():
        field = path.split("[", 1)[0]
        form.add_error(field if field in form.fields else None, text)


# --- Endpoints -------------------------------------------------------------------------------


def _render_list(
    request: MerchantRequest,
    *,
    form: EndpointForm | None = None,
    created: WebhookEndpoint | None = None,
    status: int = 200,
) -> HttpResponse:
    endpoints = list(WebhookEndpoint.objects.order_by("-created_at"))
    context = {
        "endpoints": endpoints,
        "form": form or EndpointForm(),
        "created": created,
        "can_configure": _can_configure(request),
        "all_events": WEBHOOK_EVENTS,
    }
    response = render(request, "rewards/webhooks/list.html", context, status=status)
    return _no_store(response) if created is not None else response


@require_GET
@merchant_view()
def webhooks_list(request: MerchantRequest) -> HttpResponse:
    return _render_list(request)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def webhook_endpoint_create(request: MerchantRequest) -> HttpResponse:
    """Not PRG on success: the secret is shown once, in this response, never stored for later."""
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _render_list(request, form=form, status=400)
    try:
        endpoint = services.endpoint_create(
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
            actor=_user(request),
            request=request,
        )
    except SpecError as error:
        _add_spec_errors(form, error)
        return _render_list(request, form=form, status=400)
    messages.success(request, gettext("Endpoint added. Copy its signing secret now."))
    return _render_list(request, created=endpoint, status=201)


def _render_endpoint(
    request: MerchantRequest,
    endpoint: WebhookEndpoint,
    *,
    new_secret: str = "",
    events_form: EndpointEventsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    chosen = request.GET.get("status", "")
    deliveries = (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("message")
        .defer("message__payload")  # the log shows the type and id; payloads can be large
        .order_by("-created_at", "-pk")
    )
    if chosen in DeliveryStatus.values:
        deliveries = deliveries.filter(status=chosen)
    page = Paginator(deliveries, DELIVERY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "endpoint": endpoint,
        "page": page,
        "deliveries": page.object_list,
        "statuses": DeliveryStatus.choices,
        "chosen_status": chosen,
        "new_secret": new_secret,
        "can_configure": _can_configure(request),
        "events_form": events_form
        or EndpointEventsForm(
            initial={"events": endpoint.events, "description": endpoint.description}
        ),
        "rotate_form": RotateForm(),
        "signing_secrets": len(services.endpoint_signing_secrets(endpoint, timezone.now())),
    }
    response = render(request, "rewards/webhooks/endpoint.html", context, status=status)
    return _no_store(response) if new_secret else response


@require_GET
@merchant_view()
def webhook_endpoint(request: MerchantRequest, endpoint_id: str) -> HttpResponse:
    return _render_endpoint(request, _endpoint(endpoint_id))


@require_POST
@merchant_view(least_role=Role.ADMIN)
def webhook_endpoint_update(request: MerchantRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _endpoint(endpoint_id)
    form = EndpointEventsForm(request.POST)
    if form.is_valid():
        try:
            services.endpoint_update(
                endpoint=endpoint,
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                actor=_user(request),
                request=request,
            )
        except SpecError as error:
            _add_spec_errors(form, error)
        else:
            messages.success(request, gettext("Saved. New events follow the new selection."))
            return _to_endpoint(request, endpoint)
    return _render_endpoint(request, endpoint, events_form=form, status=400)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def webhook_endpoint_rotate(request: MerchantRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _endpoint(endpoint_id)
    form = RotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Choose when the old secret stops signing."))
        return _to_endpoint(request, endpoint)
    rotated = services.endpoint_rotate_secret(
        endpoint=endpoint,
        grace_hours=form.cleaned_data["grace_hours"],
        actor=_user(request),
        request=request,
    )
    messages.success(request, gettext("Secret rotated. Copy the new one now."))
    return _render_endpoint(request, rotated, new_secret=rotated.secret, status=201)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def webhook_endpoint_delete(request: MerchantRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _endpoint(endpoint_id)
    services.endpoint_delete(endpoint=endpoint, actor=_user(request), request=request)
    messages.success(request, f"Endpoint {endpoint.url} deleted. Nothing more is sent to it.")
    return redirect("webhooks", merchant_slug=request.merchant.slug)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def webhook_endpoint_disable(request: MerchantRequest, endpoint_id: str) -> HttpResponse:
    endpoint = services.endpoint_disable(
        endpoint=_endpoint(endpoint_id), actor=_user(request), request=request
    )
    messages.success(request, gettext("Endpoint disabled. Events are no longer sent to it."))
    return _to_endpoint(request, endpoint)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def webhook_endpoint_enable(request: MerchantRequest, endpoint_id: str) -> HttpResponse:
    endpoint = services.endpoint_enable(
        endpoint=_endpoint(endpoint_id), actor=_user(request), request=request
    )
    messages.success(
        request, "Endpoint enabled. New events are sent to it; replay the ones it missed below."
    )
    return _to_endpoint(request, endpoint)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def webhook_endpoint_recover(request: MerchantRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _endpoint(endpoint_id)
    try:
        queued = delivery_services.endpoint_recover(
            endpoint=endpoint, actor=_user(request), request=request
        )
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    else:
        if queued:
            messages.success(
                request,
                f"Replaying {queued} failed deliver{'y' if queued == 1 else 'ies'}; "
                "the log shows each outcome as it comes in.",
            )
        else:
            messages.warning(request, gettext("There are no failed deliveries to replay."))
    return _to_endpoint(request, endpoint)


# --- Deliveries ------------------------------------------------------------------------------


def _delivery(delivery_id: str) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.select_related("message", "endpoint"), public_id=delivery_id
    )


@require_GET
@merchant_view()
def webhook_delivery(request: MerchantRequest, delivery_id: str) -> HttpResponse:
    delivery = _delivery(delivery_id)
    attempts = WebhookAttempt.objects.filter(delivery=delivery).order_by("-attempted_at", "-pk")
    context = {
        "delivery": delivery,
        "endpoint": delivery.endpoint,
        "attempts": attempts,
        "payload": json.dumps(delivery.message.payload, indent=2, sort_keys=True),
        "can_configure": _can_configure(request),
    }
    return render(request, "rewards/webhooks/delivery.html", context)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def webhook_delivery_replay(request: MerchantRequest, delivery_id: str) -> HttpResponse:
    delivery = _delivery(delivery_id)
    try:
        attempt = delivery_services.delivery_replay(
            delivery=delivery, actor=_user(request), request=request
        )
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    else:
        if attempt.status_code is not None and 200 <= attempt.status_code < 300:
            messages.success(request, f"Sent again: the endpoint answered {attempt.status_code}.")
        elif attempt.status_code is not None and not attempt.error:
            messages.error(request, f"Sent again, but the endpoint answered {attempt.status_code}.")
        else:
            messages.error(request, f"Sent again, but it failed: {attempt.error}")
    return redirect(
        "webhook_delivery", merchant_slug=request.merchant.slug, delivery_id=delivery_id
    )
