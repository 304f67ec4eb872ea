"""Inbound Stripe webhooks: `POST /hooks/stripe/<merchant public id>/`.

The merchant points an endpoint of their own Stripe account here and pastes its signing secret
in Settings. The view finds the merchant, verifies the signature (through the Stripe gateway,
the only module that talks to Stripe) and hands the event to `tracking.stripe_events` inside
the merchant's context. Refusals (unknown merchant 404; no secret, bad or stale signature, not
an event: 400) write nothing.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import Merchant
from referral_saas.api.errors import error_body
from referral_saas.stripe_gateway import WebhookError, WebhookSignatureError, verify_webhook
from referral_saas.tenancy import merchant_context
from tracking.stripe_events import stripe_event_process


def _refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        error_body(type="invalid_request_error", code=code, message=message), status=status
    )


@csrf_exempt
@require_POST
def stripe_hook(request: HttpRequest, merchant_id: str) -> HttpResponse:
    # No tenant yet by nature: the merchant is what the URL names (plain manager, not scoped).
    merchant = Merchant.objects.filter(public_id=merchant_id).first()
    if merchant is None:
        return _refuse(404, "resource_missing", "No such merchant.")
    if not merchant.stripe_webhook_secret:
        return _refuse(
            400,
            "webhook_secret_missing",
            "This merchant has not set a Stripe webhook signing secret yet: an owner can add "
            "it in the dashboard under Settings → Stripe webhooks.",
        )
    try:
        event = verify_webhook(
            request.body, request.headers.get("Stripe-Signature"), merchant.stripe_webhook_secret
        )
    except WebhookError as error:
        code = "signature_invalid" if isinstance(error, WebhookSignatureError) else "invalid_event"
        return _refuse(400, code, error.message)
    with merchant_context(merchant):
        receipt = stripe_event_process(event=event)
    return JsonResponse(
        {
            "received": True,
            "event": receipt.event.event_id,
            "duplicate": receipt.duplicate,
            "outcome": receipt.event.outcome,
        }
    )
