"""`/api/v1/webhook-endpoints`: list, register, delete and rotate the secret of the merchant's
outbound webhook endpoints. Secret keys only.

Each handler checks the body's shape (known fields only, at most 64 KB, as the tracking API),
calls one `webhooks.services` service and serialises. The signing secret appears whole only in
the create and rotate responses; lists show `secret_prefix`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from referral_saas.api.pagination import list_schema, paginate
from referral_saas.api.schema import IDEMPOTENCY_KEY, error_responses
from tracking.api import examples as ex
from tracking.api.views import BODY_NOTE, TrackingApiView
from webhooks import services
from webhooks.api.serializers import (
    RotateSecretInputSerializer,
    WebhookEndpointInputSerializer,
    WebhookEndpointOutputSerializer,
    WebhookEndpointWithSecretSerializer,
)
from webhooks.models import WebhookEndpoint

ENDPOINT_LIST = list_schema(WebhookEndpointOutputSerializer, "WebhookEndpointList")
ENDPOINT: dict[str, Any] = {
    "id": "we_4hNq8XzT2mLc7VbWr3Ks",
    "object": "webhook_endpoint",
    "url": "https://shop.example.com/hooks/referrals",
    "description": "Order system",
    "events": ["reward.issued", "reward.voided"],
    "enabled": True,
    "disabled_reason": "",
    "secret_prefix": "whsec_MfKQ",
    "previous_secret_expires_at": None,
    "created_at": "2026-11-22T10:00:00.000000Z",
}
# Made-up secrets for the documentation.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw5k2J1q2XQ0o="  # noqa: S105
ROTATED_SECRET = "whsec_Zp3v7TQeWc2bNq8xYk1LmR4sDf6gHj9aKo0uVi5tEr8="  # noqa: S105
SSRF_ERROR = ex.error(
    "url",
    "This host resolves to a private, loopback, link-local or otherwise non-public address; "
    "webhooks can only be sent to the public internet.",
)


def _endpoints(endpoints: Sequence[WebhookEndpoint]) -> list[dict[str, Any]]:
    serializer = WebhookEndpointOutputSerializer(instance=endpoints, many=True)  # type: ignore[arg-type]
    return list(serializer.data)


def _get_endpoint(endpoint_id: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(public_id=endpoint_id).first()  # the key's merchant
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def _with_secret(endpoint: WebhookEndpoint, status_code: int) -> Response:
    data = WebhookEndpointWithSecretSerializer(instance=endpoint).data
    return Response(data, status=status_code)


class WebhookEndpointListApi(TrackingApiView):
    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="List webhook endpoints",
        description="Newest first. Secrets are not shown, only their first characters.",
        parameters=ENDPOINT_LIST["parameters"],
        responses=error_responses(400) | {200: ENDPOINT_LIST["responses"]},
        examples=[
            ex.response("A page of endpoints", {"data": [ENDPOINT], "next_cursor": None}, 200)
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(paginate(request, WebhookEndpoint.objects.all(), _endpoints))

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register a webhook endpoint",
        description="Events are signed the Standard Webhooks way with the returned `secret` "
        "(`whsec_…`), which this response shows once and never again. The URL must be https "
        "and its host must resolve only to public addresses (400 on `url` otherwise, and when "
        "it cannot be resolved). `events` empty or omitted: every event." + BODY_NOTE,
        request=WebhookEndpointInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 413, idempotent=True)
        | {201: WebhookEndpointWithSecretSerializer},
        examples=[
            ex.request(
                "Some events",
                {
                    "url": ENDPOINT["url"],
                    "events": ENDPOINT["events"],
                    "description": ENDPOINT["description"],
                },
            ),
            ex.request("Every event", {"url": ENDPOINT["url"]}),
            ex.response("Endpoint with its secret", {**ENDPOINT, "secret": SECRET}, 201),
            ex.response("Private address", SSRF_ERROR, 400),
            OpenApiExample(
                "Unknown event",
                value=ex.error("events[1]", "Unknown event type. Choose from: …"),
                response_only=True,
                status_codes=["400"],
            ),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.body(request, WebhookEndpointInputSerializer)
        endpoint = services.endpoint_create(
            url=data.get("url"),
            events=data.get("events"),
            description=data.get("description"),
            request=request._request,
        )
        return _with_secret(endpoint, status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(TrackingApiView):
    @extend_schema(
        operation_id="webhook_endpoints_delete",
        summary="Delete a webhook endpoint",
        description="Nothing more is sent to it.",
        responses=error_responses(404) | {204: None},
        examples=[ex.not_found("webhook endpoint")],
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.endpoint_delete(endpoint=_get_endpoint(endpoint_id), request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretApi(TrackingApiView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="Rotate an endpoint's signing secret",
        description="Returns the new `secret` once. For `grace_hours` (default 24, up to 168; "
        "0: none) deliveries carry a signature with the old secret too, so your verifier can "
        "switch without rejecting any. Rotating again drops a secret still in its grace "
        "period: at most two are ever valid." + BODY_NOTE,
        request=RotateSecretInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=error_responses(400, 404, 413, idempotent=True)
        | {200: WebhookEndpointWithSecretSerializer},
        examples=[
            ex.request("Default grace (24 hours)", {}),
            ex.request("Old secret refused at once", {"grace_hours": 0}),
            ex.response(
                "Endpoint with its new secret",
                {
                    **ENDPOINT,
                    "secret_prefix": ROTATED_SECRET[:10],
                    "previous_secret_expires_at": "2026-11-23T10:00:00.000000Z",
                    "secret": ROTATED_SECRET,
                },
                200,
            ),
            ex.response(
                "Invalid",
                ex.error("grace_hours", "Choose a grace period from 0 to 168 hours."),
                400,
            ),
            ex.not_found("webhook endpoint"),
            ex.TOO_LARGE,
        ],
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _get_endpoint(endpoint_id)  # before the body: "not yours" answers as absent
        data = self.body(request, RotateSecretInputSerializer)
        rotated = services.endpoint_rotate_secret(
            endpoint=endpoint, grace_hours=data.get("grace_hours"), request=request._request
        )
        return _with_secret(rotated, status.HTTP_200_OK)
