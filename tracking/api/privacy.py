"""`POST /api/v1/privacy/export` and `POST /api/v1/privacy/erase`: a data subject's data, or its
erasure, within the key's merchant only. Secret keys only. See `tracking.privacy` for what is
found, exported and erased."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from referral_saas.api.schema import IDEMPOTENCY_KEY, ClosedObjectSerializer, error_responses
from tracking import privacy
from tracking.api import examples as ex
from tracking.api.views import BODY_NOTE, TrackingApiView

# --- Documentation of the bodies (tracking.privacy validates and builds them) ----------------


class PrivacyRequestSerializer(ClosedObjectSerializer):
    email = serializers.EmailField(help_text="The data subject's email (case-insensitive).")


class _PrivacyClickSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    created_at = serializers.DateTimeField()


class _PrivacyOwnClickSerializer(_PrivacyClickSerializer):
    ip_prefix = serializers.CharField(help_text="Truncated IP; the full address is never kept.")
    user_agent = serializers.CharField()
    referer = serializers.CharField()
    visitor_id = serializers.CharField()


class _PrivacyMadeReferralSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    click = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class _PrivacyAttributedConversionSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units.")
    currency = serializers.CharField()
    refunded_amount = serializers.IntegerField()
    status = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class _PrivacyAdvocateSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    program = serializers.CharField()
    email = serializers.EmailField()
    name = serializers.CharField()
    customer_id = serializers.CharField()
    code = serializers.CharField()
    locale = serializers.CharField()
    variant = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    clicks = _PrivacyClickSerializer(many=True, help_text="Visits through the advocate's link.")
    referrals = _PrivacyMadeReferralSerializer(
        many=True, help_text="Friends referred (the friends' personal data is theirs)."
    )
    conversions = _PrivacyAttributedConversionSerializer(
        many=True, help_text="Orders attributed to the advocate."
    )


class _PrivacyReferralSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    program = serializers.CharField()
    advocate = serializers.CharField()
    email = serializers.EmailField()
    customer_id = serializers.CharField()
    name = serializers.CharField()
    click = _PrivacyOwnClickSerializer(allow_null=True)
    created_at = serializers.DateTimeField()


class _PrivacyCustomerSerializer(serializers.Serializer[dict[str, Any]]):
    email = serializers.EmailField()
    id = serializers.CharField()
    name = serializers.CharField()


class _PrivacyRefundSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    amount = serializers.IntegerField()
    external_id = serializers.CharField()
    created_at = serializers.DateTimeField()


class _PrivacyConversionSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    order_id = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units.")
    currency = serializers.CharField()
    refunded_amount = serializers.IntegerField()
    status = serializers.CharField()
    program = serializers.CharField(allow_null=True)
    advocate = serializers.CharField(allow_null=True)
    referral = serializers.CharField(allow_null=True)
    customer = _PrivacyCustomerSerializer()
    referral_code = serializers.CharField()
    click_id = serializers.CharField()
    new_customer = serializers.BooleanField(allow_null=True)
    metadata = serializers.DictField()
    occurred_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    refunds = _PrivacyRefundSerializer(many=True)


class PrivacyExportSerializer(serializers.Serializer[dict[str, Any]]):
    object = serializers.CharField(default="privacy_export")
    email = serializers.EmailField(help_text="Normalised (lower case).")
    generated_at = serializers.DateTimeField()
    advocates = _PrivacyAdvocateSerializer(many=True, help_text="The subject as an advocate.")
    referrals = _PrivacyReferralSerializer(many=True, help_text="The subject as a referred friend.")
    conversions = _PrivacyConversionSerializer(many=True, help_text="The subject's own orders.")


class _PrivacyErasedCountsSerializer(serializers.Serializer[dict[str, int]]):
    advocates = serializers.IntegerField()
    clicks = serializers.IntegerField()
    referrals = serializers.IntegerField()
    conversions = serializers.IntegerField()
    idempotency_records = serializers.IntegerField(
        help_text="Stored Idempotency-Key responses that contained the email, deleted."
    )


class PrivacyErasureSerializer(serializers.Serializer[dict[str, Any]]):
    object = serializers.CharField(default="privacy_erasure")
    email_hash = serializers.CharField(help_text="sha256 (hex) of the normalised email.")
    erased = _PrivacyErasedCountsSerializer(help_text="Rows changed per table (zero when none).")
    erased_at = serializers.DateTimeField()


# --- Examples --------------------------------------------------------------------------------

EXPORT_EXAMPLE: dict[str, Any] = {
    "object": "privacy_export",
    "email": "luca@example.com",
    "generated_at": "2026-11-24T08:00:00.000000Z",
    "advocates": [],
    "referrals": [
        {
            **{k: ex.REFERRAL[k] for k in ("id", "program", "advocate", "email", "customer_id")},
            "name": "Luca",
            "click": {
                "id": ex.CLICK["id"],
                "ip_prefix": "203.0.113.0/24",
                "user_agent": "Mozilla/5.0",
                "referer": "https://shop.example.com/?ref=MARIA-7KQ2XP",
                "visitor_id": "",
                "created_at": ex.CLICK["created_at"],
            },
            "created_at": ex.REFERRAL["created_at"],
        }
    ],
    "conversions": [
        {
            **{
                k: ex.EVALUATED[k]
                for k in (
                    "id",
                    "order_id",
                    "amount",
                    "currency",
                    "status",
                    "program",
                    "advocate",
                    "referral",
                    "customer",
                    "referral_code",
                    "click_id",
                    "new_customer",
                    "metadata",
                    "occurred_at",
                    "created_at",
                )
            },
            "refunded_amount": ex.REFUND["amount"],
            "refunds": [{k: ex.REFUND[k] for k in ("id", "amount", "external_id", "created_at")}],
        }
    ],
}
ERASURE_EXAMPLE: dict[str, Any] = {
    "object": "privacy_erasure",
    "email_hash": "6c3f0c2b0a6f6d1f3f1f0d8e2b5c9a7e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a",
    "erased": {
        "advocates": 0,
        "clicks": 1,
        "referrals": 1,
        "conversions": 1,
        "idempotency_records": 0,
    },
    "erased_at": "2026-11-24T08:05:00.000000Z",
}
INVALID_EMAIL = ex.response(
    "Invalid", ex.error("email", "'luca@' is not a valid email address."), 400
)


class PrivacyExportApi(TrackingApiView):
    @extend_schema(
        operation_id="privacy_export",
        summary="Export a data subject's data",
        description="Everything this merchant holds about the email: as an advocate (with the "
        "ids, times and amounts of their clicks, referrals and attributed orders — not the "
        "friends' personal data), as a referred friend (with their own visit) and as a customer "
        "(orders and refunds). Rows carrying a customer id found on those rows are included. "
        "Times are ISO-8601 UTC, money in minor units. An unknown email returns empty lists. "
        "Audited as `privacy.exported` with the email hashed. Secret keys only. The answer "
        "holds personal data: avoid sending an `Idempotency-Key`, whose response is stored "
        "for 24 hours." + BODY_NOTE,
        request=PrivacyRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: PrivacyExportSerializer, **error_responses(413, idempotent=True)},
        examples=[
            ex.request("Export", {"email": "luca@example.com"}),
            ex.response("Export", EXPORT_EXAMPLE, 200),
            INVALID_EMAIL,
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.body(request, PrivacyRequestSerializer)
        return Response(privacy.subject_export(data.get("email")))


class PrivacyEraseApi(TrackingApiView):
    @extend_schema(
        operation_id="privacy_erase",
        summary="Erase a data subject's personal data",
        description="In one transaction, replaces the personal data of the email (and of rows "
        "carrying a customer id found on its rows) with tombstones, keeping every row and "
        "amount so that counts and totals survive: emails become `erased+<id>@invalid`; "
        "names, customer ids, order metadata and the visitor data of their clicks are "
        "emptied; an erased advocate's referral code is replaced, so their links stop "
        "working. Stored `Idempotency-Key` responses holding the email are deleted. The "
        "audit log is kept as the legal record and is not erased. Idempotent: erasing again "
        "reports zeros. Audited as `privacy.erased` with the email hashed. Secret keys "
        "only." + BODY_NOTE,
        request=PrivacyRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: PrivacyErasureSerializer, **error_responses(413, idempotent=True)},
        examples=[
            ex.request("Erase", {"email": "luca@example.com"}),
            ex.response("Erased", ERASURE_EXAMPLE, 200),
            INVALID_EMAIL,
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.body(request, PrivacyRequestSerializer)
        return Response(privacy.subject_erase(data.get("email")).as_dict())
