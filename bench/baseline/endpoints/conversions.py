"""Baseline of the `conversions` scenario: the project's database work for one reported order,
through Django's ORM (as the project) but with nothing else — no middleware, no authentication
class, no serializer, no validation beyond what keeps the INSERT valid:

1. one indexed SELECT of the API key by its SHA-256, joined to the merchant;
2. an UPDATE of the key's `last_used_at` when it is older than a minute (so almost never);
3. one INSERT into `tracking_conversion` in a transaction, the same columns and values as the
   project's; a repeated order id answers 200 with the first conversion, as the project does.

(An earlier version wrote the same statements as raw SQL; the project measured 0.51 of it.)
"""

import hashlib
import secrets
import string
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import path
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.baseline.models import ApiKeyRow, ConversionRow

LAST_USED_RESOLUTION = timedelta(minutes=1)
_PUBLIC_ID_ALPHABET = string.ascii_letters + string.digits


def _public_id() -> str:
    return "conv_" + "".join(secrets.choice(_PUBLIC_ID_ALPHABET) for _ in range(20))


def _merchant_id(request: Request) -> int | None:
    """The merchant of an active secret key in `Authorization: Bearer <key>`, or None."""
    scheme, _, plaintext = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not plaintext.strip():
        return None
    key_hash = hashlib.sha256(plaintext.strip().encode()).hexdigest()
    try:
        key = ApiKeyRow.objects.select_related("merchant").get(key_hash=key_hash)
    except ApiKeyRow.DoesNotExist:
        return None
    now = timezone.now()
    if (
        key.kind != "secret"
        or key.revoked_at is not None
        or (key.expires_at and key.expires_at <= now)
    ):
        return None
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKeyRow.objects.filter(pk=key.pk).update(last_used_at=now)
    return int(key.merchant_id)


def _order(data: Any) -> dict[str, Any] | None:
    """The INSERT's values from the body, or None when it could not be stored."""
    if not isinstance(data, dict):
        return None
    order_id, amount, currency = data.get("order_id"), data.get("amount"), data.get("currency")
    customer, code = data.get("customer"), data.get("code")
    email = customer.get("email") if isinstance(customer, dict) else None
    if (
        not isinstance(order_id, str)
        or not 0 < len(order_id) <= 200
        or isinstance(amount, bool)
        or not isinstance(amount, int)
        or amount < 0
        or not isinstance(currency, str)
        or len(currency) != 3
        or not isinstance(email, str)
        or "@" not in email
        or not (code is None or (isinstance(code, str) and len(code) <= 40))
    ):
        return None
    return {
        "order_id": order_id,
        "amount": amount,
        "currency": currency.upper(),
        "email": email.strip().lower(),
        "code": (code or "").strip().upper(),
    }


class ConversionsView(APIView):
    def post(self, request: Request) -> Response:
        merchant_id = _merchant_id(request)
        if merchant_id is None:
            return Response({"detail": "Invalid API key."}, status=401)
        order = _order(request.data)
        if order is None:
            return Response({"detail": "Invalid order."}, status=400)
        now = timezone.now()
        try:
            with transaction.atomic():
                row = ConversionRow.objects.create(
                    public_id=_public_id(),
                    merchant_id=merchant_id,
                    order_id=order["order_id"],
                    amount=order["amount"],
                    currency=order["currency"],
                    customer_email=order["email"],
                    referral_code=order["code"],
                    occurred_at=now,
                    created_at=now,
                )
        except IntegrityError:
            first = (
                ConversionRow.objects.filter(merchant_id=merchant_id, order_id=order["order_id"])
                .values("public_id", "status")
                .first()
            )
            if first is None:
                raise
            return Response({"id": first["public_id"], "status": first["status"]}, status=200)
        return Response({"id": row.public_id, "status": "received"}, status=202)


urlpatterns = [path("conversions", ConversionsView.as_view())]
