"""Connect Stripe from Settings: the merchant connects their own Stripe account with Stripe
Connect OAuth, through the one Stripe gateway.

- `stripe_connect_start` (owner, POST) makes a random state nonce, keeps it in the session with
  the merchant it is for, and sends the owner to Stripe's authorize page;
- `stripe_connect_callback` (GET, the one redirect URI registered with Stripe) accepts the code
  only with the nonce of this session (then forgotten: a replayed or forged callback is refused)
  and only for a merchant the user still owns; the account id becomes
  `Merchant.stripe_account_id`, which unlocks the Stripe fulfilment methods;
- `stripe_disconnect` (owner, POST) deauthorizes and clears it.
Each change is audited (`stripe.connected`, `stripe.disconnected`).
"""

from __future__ import annotations

import secrets
from typing import cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import merchant_view
from accounts.models import Membership, Merchant, Role, User
from accounts.services import audit_record
from referral_saas import stripe_gateway, tenancy

SESSION_KEY = "stripe_connect_state"


def _merchant(request: HttpRequest) -> Merchant:
    return cast(Merchant, request.merchant)  # type: ignore[attr-defined]


def _settings(merchant: Merchant) -> HttpResponse:
    response = redirect("merchant_settings", merchant_slug=merchant.slug)
    response["Location"] += "#stripe-connect"
    return response


@require_POST
@merchant_view(least_role=Role.OWNER)
def stripe_connect_start(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    state = secrets.token_urlsafe(24)
    request.session[SESSION_KEY] = {"state": state, "merchant": merchant.pk}
    try:
        url = stripe_gateway.connect_authorize_url(
            state=state,
            redirect_uri=request.build_absolute_uri(reverse("stripe_connect_callback")),
            email=request.user.email if request.user.is_authenticated else "",
        )
    except stripe_gateway.StripeCallError as error:
        messages.error(request, error.message)
        return _settings(merchant)
    return HttpResponseRedirect(url)


@require_GET
def stripe_connect_callback(request: HttpRequest) -> HttpResponse:
    pending = request.session.pop(SESSION_KEY, None)
    state = request.GET.get("state", "")
    if (
        not request.user.is_authenticated
        or not isinstance(pending, dict)
        or not state
        or not secrets.compare_digest(str(pending.get("state", "")), state)
    ):
        return HttpResponse("This Stripe connection link is not valid (any more).", status=400)
    merchant = Merchant.objects.filter(pk=int(pending.get("merchant") or 0)).first()
    if merchant is None:
        return HttpResponse("No such merchant.", status=404)
    with tenancy.merchant_context(merchant):
        membership = Membership.objects.filter(user=request.user).first()
        if membership is None or membership.role != Role.OWNER:
            return HttpResponse("Only the merchant's owners connect Stripe.", status=403)
        if request.GET.get("error"):
            messages.error(
                request,
                f"Stripe was not connected: {request.GET.get('error_description', '')[:200]}",
            )
            return _settings(merchant)
        try:
            account = stripe_gateway.connect_token(code=request.GET.get("code", ""))
        except stripe_gateway.StripeCallError as error:
            messages.error(request, error.message)
            return _settings(merchant)
        Merchant.objects.filter(pk=merchant.pk).update(stripe_account_id=account)
        audit_record(
            action="stripe.connected",
            actor=request.user,
            data={"account": account},
            request=request,
        )
    messages.success(request, f"Stripe account {account} connected.")
    return _settings(merchant)


@require_POST
@merchant_view(least_role=Role.OWNER)
def stripe_disconnect(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    account = Merchant.objects.filter(pk=merchant.pk).values_list("stripe_account_id", flat=True)
    connected = str(account.first() or "")
    if connected:
        try:
            stripe_gateway.connect_deauthorize(account=connected)
        except stripe_gateway.StripeCallError as error:
            # Already revoked on Stripe's side: still forget it here.
            messages.warning(request, error.message)
        Merchant.objects.filter(pk=merchant.pk).update(stripe_account_id="")
        audit_record(
            action="stripe.disconnected",
            actor=cast(User, request.user),
            data={"account": connected},
            request=request,
        )
        messages.success(request, "Stripe disconnected.")
    return _settings(merchant)
