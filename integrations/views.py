"""The Integrations page (`/m/<merchant>/integrations/`): connect a Shopify shop (OAuth) or a
WooCommerce store (URL and key pair), see each store's status (last event received, last
error, webhooks registered), check it live, disconnect it. Admins and owners only; every change
is audited by the services. Each view parses, calls one service and renders or redirects.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import merchant_view
from accounts.models import Role, User
from integrations import services, shopify_gateway
from integrations.models import Integration, IntegrationStatus, Provider, StoreEvent
from programs.specs import SpecError

RECENT_EVENTS = 10


class ShopifyForm(forms.Form):
    shop = forms.CharField(
        label="Shop domain",
        max_length=80,
        widget=forms.TextInput(attrs={"placeholder": "acme.myshopify.com"}),
        help_text="Your shop's myshopify.com domain (Settings → Domains in Shopify).",
    )


class WooCommerceForm(forms.Form):
    store_url = forms.CharField(
        label="Store URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://shop.example.com"}),
    )
    consumer_key = forms.CharField(label="Consumer key", max_length=200)
    consumer_secret = forms.CharField(
        label="Consumer secret", max_length=200, widget=forms.PasswordInput(render_value=False)
    )


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _add_errors(form: forms.Form, error: SpecError) -> None:
    for field, message in error.errors.items():
        form.add_error(field if field in form.fields else None, message)


def _page(
    request: HttpRequest,
    *,
    shopify_form: ShopifyForm | None = None,
    woocommerce_form: WooCommerceForm | None = None,
    status: int = 200,
) -> HttpResponse:
    integrations = list(Integration.objects.order_by("-created_at")[:20])
    connected = [i for i in integrations if i.status == IntegrationStatus.CONNECTED]
    events = {
        i.pk: list(
            StoreEvent.objects.filter(integration=i).order_by("-received_at")[:RECENT_EVENTS]
        )
        for i in connected
    }
    response = render(
        request,
        "integrations/list.html",
        {
            "connected": [(i, events[i.pk]) for i in connected],
            "past": [i for i in integrations if i.status != IntegrationStatus.CONNECTED][:10],
            "shopify_connected": any(i.provider == Provider.SHOPIFY for i in connected),
            "woocommerce_connected": any(i.provider == Provider.WOOCOMMERCE for i in connected),
            "shopify_configured": shopify_gateway.configured(),
            "shopify_form": shopify_form or ShopifyForm(),
            "woocommerce_form": woocommerce_form or WooCommerceForm(),
        },
        status=status,
    )
    # The install form's answer redirects to Shopify's consent screen: a browser follows a
    # form's redirect only to origins the page's `form-action` allows (as csp_update does).
    response._csp_update = {"form-action": [shopify_gateway.consent_origin()]}  # type: ignore[attr-defined]
    return response


@require_GET
@merchant_view(Role.ADMIN)
def integrations_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@merchant_view(Role.ADMIN)
def shopify_install(request: HttpRequest) -> HttpResponse:
    form = ShopifyForm(request.POST)
    if form.is_valid():
        try:
            url = services.shopify_install_begin(
                session=request.session,
                merchant_slug=request.merchant.slug,  # type: ignore[attr-defined]
                shop=form.cleaned_data["shop"],
            )
        except SpecError as error:
            _add_errors(form, error)
        else:
            return redirect(url)
    return _page(request, shopify_form=form, status=400)


@require_GET
@login_required
def shopify_callback(request: HttpRequest) -> HttpResponse:
    """Shopify's redirect after consent. One fixed URL (the app's allowed redirect), so the
    merchant comes from the state kept in this session, then membership is checked again."""
    params = {key: request.GET.get(key, "") for key in request.GET}
    try:
        callback = services.shopify_install_callback_check(session=request.session, params=params)
    except SpecError as error:
        return render(
            request,
            "integrations/install_failed.html",
            {"reasons": list(error.errors.values())},
            status=400,
        )
    # merchant_view takes the slug positionally (its wrapper's signature, not the view's).
    finish = cast(Any, _shopify_finish)
    return cast(HttpResponse, finish(request, callback.merchant_slug, callback=callback))


@merchant_view(Role.ADMIN)
def _shopify_finish(request: HttpRequest, *, callback: services.Callback) -> HttpResponse:
    try:
        integration = services.shopify_connect(
            shop=callback.shop, code=callback.code, actor=_user(request), request=request
        )
    except SpecError as error:
        for message in error.errors.values():
            messages.error(request, message)
    else:
        messages.success(request, f"{integration.shop} is connected.")
    return redirect("integrations", merchant_slug=request.merchant.slug)  # type: ignore[attr-defined]


@require_POST
@merchant_view(Role.ADMIN)
def woocommerce_connect(request: HttpRequest) -> HttpResponse:
    form = WooCommerceForm(request.POST)
    if form.is_valid():
        try:
            integration = services.woocommerce_connect(
                store_url=form.cleaned_data["store_url"],
                consumer_key=form.cleaned_data["consumer_key"],
                consumer_secret=form.cleaned_data["consumer_secret"],
                actor=_user(request),
                request=request,
            )
        except SpecError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"{integration.shop} is connected.")
            return redirect("integrations", merchant_slug=request.merchant.slug)  # type: ignore[attr-defined]
    return _page(request, woocommerce_form=form, status=400)


@require_POST
@merchant_view(Role.ADMIN)
def integration_disconnect(request: HttpRequest, integration_id: str) -> HttpResponse:
    integration = get_object_or_404(Integration, public_id=integration_id)
    if services.integration_disconnect(
        integration=integration,
        reason="Disconnected from the dashboard.",
        actor=_user(request),
        request=request,
    ):
        messages.success(request, f"{integration.shop} is disconnected.")
        if integration.last_error:
            messages.warning(request, f"The store said: {integration.last_error}")
    return redirect("integrations", merchant_slug=request.merchant.slug)  # type: ignore[attr-defined]


@require_POST
@merchant_view(Role.ADMIN)
def integration_check(request: HttpRequest, integration_id: str) -> HttpResponse:
    integration = get_object_or_404(
        Integration, public_id=integration_id, status=IntegrationStatus.CONNECTED
    )
    health = services.integration_health_check(integration=integration)
    (messages.success if health.ok else messages.error)(request, health.detail)
    return redirect("integrations", merchant_slug=request.merchant.slug)  # type: ignore[attr-defined]
