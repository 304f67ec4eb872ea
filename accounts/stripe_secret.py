"""The merchant's Stripe signing secret (for `POST /hooks/stripe/<merchant-id>/`), set from
Settings: checked for shape, stored encrypted (`Merchant.stripe_webhook_secret`), audited with
its last four characters, shown back only as those."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User
from accounts.services import audit_record
from referral_saas.errors import InvalidInput
from referral_saas.tenancy import get_current_merchant

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def secret_ending(secret: str) -> str:
    """How a signing secret is shown back: never more than its last 4 characters."""
    return f"{WEBHOOK_SECRET_PREFIX}…{secret[-4:]}" if secret else ""


def stripe_webhook_secret_set(
    *, actor: User, secret: str, request: HttpRequest | None = None
) -> None:
    """Set or replace the current merchant's Stripe signing secret. Audited with its last 4
    characters only."""
    secret = secret.strip()
    if (
        not secret.startswith(WEBHOOK_SECRET_PREFIX)
        or len(secret) <= len(WEBHOOK_SECRET_PREFIX) + 4
        or len(secret) > 200
        or any(c.isspace() for c in secret)
    ):
        raise InvalidInput({"secret": "Paste the endpoint's signing secret, which starts whsec_."})
    merchant = get_current_merchant()
    replaced = bool(merchant.stripe_webhook_secret)
    merchant.stripe_webhook_secret = secret
    merchant.save(update_fields=["stripe_webhook_secret"])
    audit_record(
        action="merchant.stripe_webhook_secret_replaced"
        if replaced
        else "merchant.stripe_webhook_secret_set",
        actor=actor,
        target=merchant,
        data={"ending": secret[-4:]},
        request=request,
    )
