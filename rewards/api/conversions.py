"""`/api/v1/conversions`: reporting an order and reading conversions with their decision.

Ingest is `tracking.services.conversion_record`; a conversion as read carries what the pipeline
decided (status, reasons, the rewards created for it), so the resource is served here, above both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from referral_saas.api.pagination import list_schema, paginate
from referral_saas.api.requests import choice_param
from referral_saas.api.schema import IDEMPOTENCY_KEY, error_responses
from rewards.api.reward_serializers import RewardOutputSerializer
from rewards.models import Reward
from rewards.selectors import rewards_for_conversions
from tracking import services
from tracking.api import examples as ex
from tracking.api.selectors import conversion_list
from tracking.api.serializers import (
    ConversionInputSerializer,
    ConversionObjectField,
    ConversionStatusField,
    CustomerOutputSerializer,
    ReasonSerializer,
    _id_of,
)
from tracking.api.views import BODY_NOTE, TrackingApiView, _get_conversion, _text_param
from tracking.models import Conversion, ConversionStatus


class ConversionListSerializer(serializers.ListSerializer[Conversion]):
    """Fetches the rewards of the whole page in one query (no query per conversion)."""

    def to_representation(self, data: Any) -> list[Any]:
        conversions = list(data.all() if hasattr(data, "all") else data)
        child = self.child
        assert isinstance(child, ConversionOutputSerializer)
        child.rewards_by_conversion = rewards_for_conversions(c.pk for c in conversions)
        return super().to_representation(conversions)


@extend_schema_serializer(component_name="Conversion")
class ConversionOutputSerializer(serializers.Serializer[Conversion]):
    """A conversion. Attribution (program, advocate, referral), the decision (status,
    risk_score, reasons) and the program version are filled in by the pipeline that judges
    received conversions; until then they are null."""

    id = serializers.CharField(source="public_id")
    object = ConversionObjectField()
    order_id = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units.")
    currency = serializers.CharField()
    refunded_amount = serializers.IntegerField(help_text="Minor units.")
    status = ConversionStatusField()
    program = _id_of("program", "Null until attributed.")
    advocate = _id_of("advocate", "Null until attributed.")
    referral = _id_of("referral", "Null until attributed.")
    customer = CustomerOutputSerializer(source="*")
    program_version = serializers.IntegerField(
        source="program_version.number",
        allow_null=True,
        help_text="The program configuration version it was judged by; null until evaluated.",
    )
    risk_score = serializers.IntegerField(allow_null=True)
    reasons = ReasonSerializer(many=True)
    rewards = serializers.SerializerMethodField(
        help_text="Its rewards (advocate's and friend's), oldest first."
    )
    referral_code = serializers.CharField(help_text="The code reported with the order.")
    click_id = serializers.CharField(
        source="click_public_id", help_text="The click id reported with the order."
    )
    new_customer = serializers.BooleanField(allow_null=True)
    subscription_id = serializers.CharField(
        help_text="The subscription it is an invoice of, as reported (empty: none)."
    )
    metadata = serializers.DictField()
    occurred_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    evaluated_at = serializers.DateTimeField(allow_null=True)

    # Set by ConversionListSerializer for a page; a single conversion fetches its own.
    rewards_by_conversion: dict[int, list[Reward]] | None = None

    class Meta:
        list_serializer_class = ConversionListSerializer

    @extend_schema_field(RewardOutputSerializer(many=True))
    def get_rewards(self, conversion: Conversion) -> list[dict[str, Any]]:
        known = self.rewards_by_conversion
        if known is not None and conversion.pk in known:
            rewards = known[conversion.pk]
        else:
            rewards = rewards_for_conversions([conversion.pk])[conversion.pk]
        return list(RewardOutputSerializer(instance=rewards, many=True).data)  # type: ignore[arg-type]


CONVERSION_LIST = list_schema(ConversionOutputSerializer, "ConversionList")


def _conversions(conversions: Sequence[Conversion]) -> list[dict[str, Any]]:
    serializer = ConversionOutputSerializer(instance=conversions, many=True)  # type: ignore[arg-type]
    return list(serializer.data)


class ConversionListApi(TrackingApiView):
    @extend_schema(
        operation_id="conversions_list",
        summary="List conversions",
        description="Newest first. Filter by `status` and `program` (id).",
        parameters=[
            *CONVERSION_LIST["parameters"],
            OpenApiParameter("status", str, enum=ConversionStatus.values),
            OpenApiParameter("program", str, description="A program id."),
        ],
        responses=error_responses(400) | {200: CONVERSION_LIST["responses"]},
        examples=[
            ex.response("A page of conversions", {"data": [ex.EVALUATED], "next_cursor": None}, 200)
        ],
    )
    def get(self, request: Request) -> Response:
        conversions = conversion_list(
            status=choice_param(request, "status", ConversionStatus.values),
            program=_text_param(request, "program"),
        )
        return Response(paginate(request, conversions, _conversions))

    @extend_schema(
        operation_id="conversions_create",
        summary="Report a conversion",
        description="Stores the order as `received` and answers 202 at once; attribution and "
        "the decision follow asynchronously (see GET). Idempotent by `order_id`: posting the "
        "same order again, or concurrently, returns the first conversion with 200 and never "
        "a second reward. Secret keys only." + BODY_NOTE,
        request=ConversionInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 413, idempotent=True)
        | {
            200: ConversionOutputSerializer,
            202: inline_serializer(
                name="ConversionReceived",
                fields={
                    "id": serializers.CharField(),
                    "object": serializers.CharField(default="conversion"),
                    "order_id": serializers.CharField(),
                    "status": serializers.CharField(default="received"),
                    "created_at": serializers.DateTimeField(),
                },
            ),
        },
        examples=[
            ex.request(
                "Order",
                {
                    "order_id": "ORD-10045",
                    "amount": 8900,
                    "currency": "EUR",
                    "customer": {"email": "luca@example.com", "id": "cus_2210", "name": "Luca"},
                    "code": "MARIA-7KQ2XP",
                    "new_customer": True,
                },
            ),
            ex.response(
                "Received",
                {
                    "id": ex.CONVERSION["id"],
                    "object": "conversion",
                    "order_id": ex.CONVERSION["order_id"],
                    "status": "received",
                    "created_at": ex.CONVERSION["created_at"],
                },
                202,
            ),
            ex.response("Already received", ex.CONVERSION, 200),
            ex.response(
                "Invalid", ex.error("customer.email", "'luca@' is not a valid email address."), 400
            ),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.body(request, ConversionInputSerializer)
        result = services.conversion_record(
            order_id=data.get("order_id"),
            amount=data.get("amount"),
            currency=data.get("currency"),
            customer=data.get("customer"),
            code=data.get("code"),
            click_id=data.get("click_id"),
            occurred_at=data.get("occurred_at"),
            new_customer=data.get("new_customer"),
            metadata=data.get("metadata"),
            visitor_id=data.get("visitor_id"),
            ip=data.get("ip"),
            user_agent=data.get("user_agent"),
            country=data.get("country"),
            payment_fingerprint=data.get("payment_fingerprint"),
            subscription_id=data.get("subscription_id"),
        )
        conversion = result.conversion
        if result.created:
            # The hot path: the contract's small acknowledgement, built without a serializer
            # (the full resource costs ~1 ms of CPU per request; GET it when needed).
            return Response(
                {
                    "id": conversion.public_id,
                    "object": "conversion",
                    "order_id": conversion.order_id,
                    "status": conversion.status,
                    "created_at": conversion.created_at,
                },
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(ConversionOutputSerializer(instance=conversion).data)


class ConversionDetailApi(TrackingApiView):
    @extend_schema(
        operation_id="conversions_retrieve",
        summary="Retrieve a conversion",
        description="With its status, decision reasons and the rewards created for it (one per "
        "recipient and tier).",
        responses=error_responses(404) | {200: ConversionOutputSerializer},
        examples=[ex.response("Evaluated", ex.EVALUATED, 200), ex.not_found("conversion")],
    )
    def get(self, request: Request, conversion_id: str) -> Response:
        return Response(ConversionOutputSerializer(instance=_get_conversion(conversion_id)).data)
