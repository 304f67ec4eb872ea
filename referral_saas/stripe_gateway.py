"""The one module that talks to Stripe (STYLE.md: "Only one module talks to Stripe").

Everything else in the project calls these functions and never imports `stripe`, so the
boundary can be faked in tests and audited in review. For now: verifying inbound webhooks.
Later issues add the outbound calls (transfers, credits, promotion-code lookups) here.
"""

from __future__ import annotations

import json
from typing import Any

import stripe

WEBHOOK_TOLERANCE_SECONDS = 300


class WebhookError(Exception):
    """An inbound webhook we refuse: a bad or stale signature, or a body that is not an event.

    `message` is safe to show to the caller (it names what is wrong, never the secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WebhookSignatureError(WebhookError):
    """Missing, malformed, stale (replayed) or wrong signature."""


class WebhookPayloadError(WebhookError):
    """Correctly signed, but not a JSON object shaped like a Stripe event."""


def verify_webhook(payload: bytes, signature_header: str | None, secret: str) -> dict[str, Any]:
    """Verify `payload` against the `Stripe-Signature` header with `secret` (`whsec_…`) using
    Stripe's own `Webhook.construct_event` (timestamps older than 300 s are refused, so a
    captured request cannot be replayed later) and return the event as plain JSON data."""
    if not secret:
        raise WebhookSignatureError("No Stripe signing secret is configured.")
    try:
        stripe.Webhook.construct_event(
            payload, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as error:
        raise WebhookSignatureError(f"Invalid Stripe signature: {error.user_message}") from None
    except ValueError:  # not UTF-8 or not JSON (JSONDecodeError, UnicodeDecodeError)
        raise WebhookPayloadError("The body is not JSON.") from None
    except Exception:  # JSON that stripe cannot build an event from (e.g. a list)
        raise WebhookPayloadError("The body is not a Stripe event.") from None
    # construct_event returns a StripeObject; the rest of the code works on plain JSON data.
    event = json.loads(payload)
    data = event.get("data") if isinstance(event, dict) else None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise WebhookPayloadError(
            "The body is not a Stripe event (needs id, type and data.object)."
        )
    return event
