"""Baseline of the `conversions` scenario: the project's database work for one reported order.

As the project does it (accounts.services.api_key_authenticate, tracking.services.
conversion_record), written directly against the project's tables:

1. one indexed SELECT of the API key by its SHA-256, joined to the merchant;
2. an UPDATE of the key's `last_used_at` when it is older than a minute (so almost never);
3. one INSERT into `tracking_conversion` in a transaction, the same columns and values as the
   project's; a repeated order id answers 200 with the first conversion, as the project does.

Only the checks that keep the INSERT valid; no authentication class, no serializer.
"""

import hashlib
import secrets
import string
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.urls import path
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

LAST_USED_RESOLUTION = timedelta(minutes=1)
_PUBLIC_ID_ALPHABET = string.ascii_letters + string.digits

_SELECT_KEY = """
SELECT k.id, k.merchant_id, k.kind, k.last_used_at, k.expires_at, k.revoked_at
FROM accounts_apikey k JOIN accounts_merchant m ON m.id = k.merchant_id
WHERE k.key_hash = %s
ORDER BY k.id
LIMIT 1
"""
_TOUCH_KEY = "UPDATE accounts_apikey SET last_used_at = %s WHERE id = %s"
_INSERT = """
INSERT INTO tracking_conversion (
    public_id, merchant_id, program_id, program_version_id, advocate_id, referral_id,
    order_id, amount, currency, refunded_amount, customer_email, customer_id, customer_name,
    referral_code, click_public_id, new_customer, metadata, occurred_at, status, risk_score,
    reasons, evaluated_at, created_at
) VALUES (
    %s, %s, NULL, NULL, NULL, NULL,
    %s, %s, %s, 0, %s, '', '',
    %s, '', NULL, '{}'::jsonb, %s, 'received', NULL,
    '[]'::jsonb, NULL, %s
) RETURNING id
"""
_SELECT_EXISTING = (
    "SELECT public_id, status FROM tracking_conversion WHERE merchant_id = %s AND order_id = %s"
)


def _public_id() -> str:
    return "conv_" + "".join(secrets.choice(_PUBLIC_ID_ALPHABET) for _ in range(20))


def _merchant_id(request: Request) -> int | None:
    """The merchant of an active secret key in `Authorization: Bearer <key>`, or None."""
    scheme, _, plaintext = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not plaintext.strip():
        return None
    key_hash = hashlib.sha256(plaintext.strip().encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(_SELECT_KEY, [key_hash])
        row = cursor.fetchone()
        if row is None:
            return None
        key_id, merchant_id, kind, last_used_at, expires_at, revoked_at = row
        now = timezone.now()
        if kind != "secret" or revoked_at is not None or (expires_at and expires_at <= now):
            return None
        if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
            cursor.execute(_TOUCH_KEY, [now, key_id])
    return int(merchant_id)


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
        public_id, now = _public_id(), timezone.now()
        values = [
            public_id,
            merchant_id,
            order["order_id"],
            order["amount"],
            order["currency"],
            order["email"],
            order["code"],
            now,
            now,
        ]
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_INSERT, values)
        except IntegrityError:
            with connection.cursor() as cursor:
                cursor.execute(_SELECT_EXISTING, [merchant_id, order["order_id"]])
                row = cursor.fetchone()
            if row is None:
                raise
            return Response({"id": row[0], "status": row[1]}, status=200)
        return Response({"id": public_id, "status": "received"}, status=202)


urlpatterns = [path("conversions", ConversionsView.as_view())]
