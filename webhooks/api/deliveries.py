"""`GET /api/v1/webhook-endpoints/<id>/deliveries`: an endpoint's delivery log (newest first,
optionally one status), so a merchant can see from their own systems what we sent, what
failed and when the next attempt is due. Secret keys only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from programs.api.serializers import NamedEnumField
from referral_saas.api.errors import ApiError
from referral_saas.api.pagination import list_schema, paginate
from referral_saas.api.schema import error_responses
from tracking.api import examples as ex
from tracking.api.views import TrackingApiView
from webhooks.api.serializers import WebhookEventField
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


class WebhookDeliveryObjectField(NamedEnumField):
    enum_name = "WebhookDeliveryObjectEnum"
    values = ("webhook_delivery",)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> str:
        return self.values[0]


class WebhookDeliveryStatusField(NamedEnumField):
    enum_name = "WebhookDeliveryStatusEnum"
    values = tuple(DeliveryStatus.values)


@extend_schema_serializer(component_name="WebhookDelivery")
class WebhookDeliveryOutputSerializer(serializers.Serializer[WebhookDelivery]):
    id = serializers.CharField(source="public_id")
    object = WebhookDeliveryObjectField()
    endpoint = serializers.CharField(source="endpoint.public_id")
    message_id = serializers.CharField(
        source="message.public_id",
        help_text="The `webhook-id` header: the same on every attempt and replay.",
    )
    event_type = WebhookEventField(source="message.event_type")
    status = WebhookDeliveryStatusField(
        help_text="`pending` (waiting for its first or next attempt), `succeeded`, or `failed` "
        "(retries exhausted, or the endpoint was disabled)."
    )
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.SerializerMethodField(
        help_text="When the next attempt is due; null unless pending."
    )
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(
        allow_null=True, help_text="The HTTP status of the last answer; null if none came."
    )
    last_error = serializers.CharField(
        help_text="Why the last attempt failed (timeout, refused, redirect…); empty otherwise."
    )
    created_at = serializers.DateTimeField()

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_next_attempt_at(self, delivery: WebhookDelivery) -> str | None:
        if delivery.status != DeliveryStatus.PENDING:
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)


DELIVERY_LIST = list_schema(WebhookDeliveryOutputSerializer, "WebhookDeliveryList")
DELIVERY: dict[str, Any] = {
    "id": "dlv_7Hc2Lm9QxV4bNt8KpR3s",
    "object": "webhook_delivery",
    "endpoint": "we_4hNq8XzT2mLc7VbWr3Ks",
    "message_id": "msg_2p8XkN4sQv7LmT9cWb3R",
    "event_type": "reward.issued",
    "status": "pending",
    "attempts": 2,
    "next_attempt_at": "2026-11-22T10:35:12.000000Z",
    "last_attempt_at": "2026-11-22T10:05:09.000000Z",
    "last_status_code": 503,
    "last_error": "",
    "created_at": "2026-11-22T10:00:00.000000Z",
}


def _deliveries(rows: Sequence[WebhookDelivery]) -> list[dict[str, Any]]:
    serializer = WebhookDeliveryOutputSerializer(instance=rows, many=True)  # type: ignore[arg-type]
    return list(serializer.data)


class WebhookDeliveryListApi(TrackingApiView):
    @extend_schema(
        operation_id="webhook_endpoints_deliveries_list",
        summary="List an endpoint's deliveries",
        description="The delivery log of one endpoint, newest first: each event we sent or "
        "are still trying to send, with its attempts so far and the last answer. Failed "
        "attempts are retried with backoff for about three days.",
        parameters=[
            *DELIVERY_LIST["parameters"],
            OpenApiParameter(
                "status", str, enum=list(DeliveryStatus.values), description="Only this status"
            ),
        ],
        responses=error_responses(400, 404) | {200: DELIVERY_LIST["responses"]},
        examples=[
            ex.response("A page of deliveries", {"data": [DELIVERY], "next_cursor": None}, 200),
            ex.not_found("webhook endpoint"),
        ],
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        # The key's merchant only: another merchant's endpoint is "no such endpoint".
        endpoint = WebhookEndpoint.objects.filter(public_id=endpoint_id).first()
        if endpoint is None:
            raise NotFound("No such webhook endpoint.")
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related(
            "message", "endpoint"
        )
        status = request.query_params.get("status")
        if status is not None:
            if status not in DeliveryStatus.values:
                choices = ", ".join(DeliveryStatus.values)
                raise ApiError(
                    status_code=400,
                    type="invalid_request_error",
                    code="invalid",
                    message=f"status must be one of: {choices}.",
                    param="status",
                )
            deliveries = deliveries.filter(status=status)
        return Response(paginate(request, deliveries.defer("message__payload"), _deliveries))
