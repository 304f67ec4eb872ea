"""`GET|PATCH /api/v1/merchant`: the key's own merchant, as advocates and friends see it.

The body is parsed by `accounts.forms.MerchantProfileForm`, the same parser as the dashboard's
Settings page, so both accept and refuse exactly the same values; every invalid field is
listed in `error.errors` (`error.param` names the first). Then one service saves it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import MerchantAPIView
from accounts.forms import MerchantProfileForm
from accounts.mail import merchant_from_email
from accounts.models import Merchant
from accounts.services import PROFILE_FIELDS, merchant_update_profile
from referral_saas.api.errors import error_body
from referral_saas.api.requests import json_object_body
from referral_saas.api.schema import error_responses

# Every other field of the resource is the platform's: refused by name, never ignored.
READ_ONLY_FIELDS = ("id", "object", "livemode", "slug", "from_email", "created_at")
OPTIONAL_FIELDS = ("privacy_policy_url", "sender_name", "reply_to_email")


class MerchantOutputSerializer(serializers.Serializer[Merchant]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    name = serializers.CharField(help_text="The business name shown to advocates and friends.")
    slug = serializers.CharField(help_text="In the landing page URLs; fixed.")
    privacy_policy_url = serializers.SerializerMethodField()
    sender_name = serializers.SerializerMethodField()
    reply_to_email = serializers.SerializerMethodField()
    from_email = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_object(self, merchant: Merchant) -> str:
        return "merchant"

    def get_privacy_policy_url(self, merchant: Merchant) -> str | None:
        """Linked from every hosted page that asks for an email, and from every email."""
        return merchant.privacy_policy_url or None

    def get_sender_name(self, merchant: Merchant) -> str | None:
        """The sender name of advocate and friend emails; null = the business name."""
        return merchant.sender_name or None

    def get_reply_to_email(self, merchant: Merchant) -> str | None:
        """Where replies to advocate and friend emails go; null = no Reply-To."""
        return merchant.reply_to_email or None

    def get_from_email(self, merchant: Merchant) -> str:
        """The From header advocate and friend emails carry."""
        return merchant_from_email(merchant)


class MerchantInputSerializer(serializers.Serializer[dict[str, Any]]):
    """Documents the body only; `MerchantProfileForm` parses it."""

    name = serializers.CharField(required=False, max_length=120)
    privacy_policy_url = serializers.URLField(
        required=False, allow_null=True, max_length=500, help_text='null or "" removes it.'
    )
    sender_name = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=80
    )
    reply_to_email = serializers.EmailField(
        required=False, allow_null=True, allow_blank=True, max_length=254
    )


EXAMPLE = {
    "id": "mer_3kT9aQ2xLm8ZrV1cWbN0",
    "object": "merchant",
    "name": "Acme Coffee",
    "slug": "acme-coffee",
    "privacy_policy_url": "https://shop.example.com/privacy",
    "sender_name": "Acme Coffee Rewards",
    "reply_to_email": "support@shop.example.com",
    "from_email": "Acme Coffee Rewards <referrals@referrals.example.com>",
    "created_at": "2026-01-05T09:30:00.000000Z",
}


def _errors_response(problems: dict[str, list[str]]) -> Response:
    listed = [
        {"param": field, "message": message, "code": "invalid"}
        for field, messages in problems.items()
        for message in messages
    ]
    first = listed[0]
    body = error_body(
        type="invalid_request_error", code="invalid", message=first["message"], param=first["param"]
    )
    body["error"]["errors"] = listed
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _is_text(value: str) -> bool:
    """False for lone surrogates, which JSON can carry but a database cannot store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse(data: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The fields sent, cleaned; and every problem, by field."""
    problems: dict[str, list[str]] = {}
    sent: dict[str, str] = {}
    for field, value in data.items():
        if field in READ_ONLY_FIELDS:
            problems[field] = [f"{field} is set by us and cannot be changed."]
        elif field not in PROFILE_FIELDS:
            problems[field] = [
                f"Unknown field {field!r}; this resource takes: {', '.join(PROFILE_FIELDS)}."
            ]
        elif value is None and field in OPTIONAL_FIELDS:
            sent[field] = ""
        elif not isinstance(value, str):
            problems[field] = [f"{field} must be a string."]
        elif not _is_text(value):
            problems[field] = [f"{field} contains characters that are not valid text."]
        else:
            sent[field] = value
    form = MerchantProfileForm(data=sent)
    form.is_valid()
    for field in sent:
        if field in form.errors:
            problems[field] = [str(message) for message in form.errors[field]]
    cleaned = {field: form.cleaned_data[field] for field in sent if field in form.cleaned_data}
    return cleaned, problems


class MerchantApi(MerchantAPIView):
    @extend_schema(
        operation_id="merchant_retrieve",
        summary="Retrieve your merchant",
        description="The merchant the key belongs to: business name, privacy policy and the "
        "sender of advocate and friend emails.",
        responses=error_responses() | {200: MerchantOutputSerializer},
        examples=[OpenApiExample("Merchant", value=EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response(MerchantOutputSerializer(self.merchant).data)

    @extend_schema(
        operation_id="merchant_update",
        summary="Update your merchant",
        description="Partial update of `name`, `privacy_policy_url`, `sender_name` and "
        '`reply_to_email` (null or "" clears the last three). Any other field is refused '
        "with 400 naming it; every invalid field is listed in `error.errors`. The slug never "
        "changes, so links already handed out keep working.",
        request=MerchantInputSerializer,
        responses=error_responses(400) | {200: MerchantOutputSerializer},
        examples=[
            OpenApiExample(
                "Sender and reply-to",
                value={
                    "sender_name": "Acme Coffee Rewards",
                    "reply_to_email": "support@shop.example.com",
                },
                request_only=True,
            ),
            OpenApiExample("Merchant", value=EXAMPLE, response_only=True),
        ],
    )
    def patch(self, request: Request) -> Response:
        values, problems = _parse(json_object_body(request))
        if problems:
            return _errors_response(problems)
        try:
            merchant = merchant_update_profile(actor=None, values=values, request=request._request)
        except ValidationError as error:
            return _errors_response(error.message_dict)
        return Response(MerchantOutputSerializer(merchant).data)
