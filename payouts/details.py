"""Advocates' payout details: where an advocate wants their cash (a Stripe Express account, a
PayPal email, or an IBAN for a SEPA credit transfer).

Stored minimally: the IBAN is kept only in its compact form and encrypted at rest
(`EncryptedTextField`); pages and the API show `iban_masked` (country and last four). It is
validated by `schwifty` (check digits, the country's length and structure, SEPA membership),
so a typo is refused before any money is sent. Errors are `SpecError`s naming the field.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from payouts.models import PayoutDetails, PayoutMethod
from programs.specs import SpecError
from tracking.models import Advocate

ADVOCATE_METHODS = (
    PayoutMethod.STRIPE_TRANSFER,
    PayoutMethod.PAYPAL,
    PayoutMethod.SEPA_CREDIT_TRANSFER,
)


def iban_parse(value: Any, *, field: str = "iban") -> IBAN:
    """A valid IBAN in a SEPA country, or `SpecError` on `field` saying what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError({field: "Enter your IBAN."})
    try:
        iban = IBAN(value.strip())
    except SchwiftyException as error:
        raise SpecError({field: f"This is not a valid IBAN ({error})."}) from None
    if not iban.in_sepa_zone:
        raise SpecError({field: "SEPA transfers reach IBANs of SEPA countries only."})
    return iban


def _bic(value: Any) -> str:
    if not value:
        return ""
    if not isinstance(value, str):
        raise SpecError({"bic": "Must be a string."})
    try:
        return str(BIC(value.strip()).compact)
    except SchwiftyException as error:
        raise SpecError({"bic": f"This is not a valid BIC ({error})."}) from None


def payout_details_get(advocate: Advocate) -> PayoutDetails | None:
    return PayoutDetails.objects.filter(advocate=advocate).first()


@transaction.atomic
def payout_details_set(
    *,
    advocate: Advocate,
    method: str,
    paypal_email: str = "",
    iban: str = "",
    account_holder: str = "",
    bic: str = "",
) -> PayoutDetails:
    """Choose how the advocate is paid, with the account that method needs. Choosing PayPal or
    SEPA replaces the other's details (we keep only what is used); the Stripe account, once
    created, is kept so onboarding does not start again."""
    if method not in ADVOCATE_METHODS:
        raise SpecError({"method": f"Must be one of: {', '.join(ADVOCATE_METHODS)}."})
    details, _ = PayoutDetails.objects.select_for_update().get_or_create(advocate=advocate)
    details.method = method
    details.paypal_email = ""
    details.iban = details.iban_country = details.iban_last4 = details.bic = ""
    details.account_holder = ""
    if method == PayoutMethod.PAYPAL:
        email = (paypal_email or "").strip()
        try:
            validate_email(email)
        except ValidationError:
            raise SpecError({"paypal_email": "Enter the email of your PayPal account."}) from None
        details.paypal_email = email
    elif method == PayoutMethod.SEPA_CREDIT_TRANSFER:
        parsed = iban_parse(iban)
        holder = (account_holder or "").strip()
        if not holder:
            raise SpecError({"account_holder": "Enter the account holder's name."})
        if len(holder) > 70:
            raise SpecError({"account_holder": "At most 70 characters."})
        details.iban = str(parsed.compact)
        details.iban_country = str(parsed.country_code)
        details.iban_last4 = str(parsed.compact)[-4:]
        details.bic = _bic(bic)
        details.account_holder = holder
    details.updated_at = timezone.now()
    details.save()
    return details


def payout_details_export(advocate: Advocate) -> dict[str, Any] | None:
    """The advocate's payout details for their privacy export (the IBAN in full: it is theirs)."""
    details = payout_details_get(advocate)
    if details is None:
        return None
    return {
        "method": details.method,
        "stripe_account": details.stripe_account_id or None,
        "paypal_email": details.paypal_email or None,
        "iban": details.iban or None,
        "bic": details.bic or None,
        "account_holder": details.account_holder or None,
    }


def payout_details_erase(advocates: list[Advocate]) -> int:
    """Delete the payout details of these advocates (erasure). What they were paid stays in
    `Payout` rows, which hold amounts, not accounts."""
    deleted, _ = PayoutDetails.objects.filter(advocate__in=advocates).delete()
    return int(deleted)
