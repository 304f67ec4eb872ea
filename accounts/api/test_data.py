"""`DELETE /api/v1/test-data` (erase the test data space, async) and `GET /api/v1/test-data`
(the latest erasure and its progress). Test secret keys only: a live key is refused (403), so no
call of this endpoint can ever reach live data."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import testmode
from accounts.api.base import MerchantAPIView
from accounts.models import TestDataErasure
from referral_saas.api.errors import ApiError
from referral_saas.api.permissions import SecretKeyOnly, api_key_of
from referral_saas.api.schema import error_responses


class TestDataErasureSerializer(serializers.Serializer[TestDataErasure]):
    __test__ = False  # not a pytest test class

    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    status = serializers.CharField(help_text="pending, running, done or failed.")
    deleted = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rows deleted so far, per kind of object."
    )
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_object(self, erasure: TestDataErasure) -> str:
        return "test_data_erasure"


EXAMPLE = {
    "id": "tde_8ZQ4bT2c9xVn",
    "object": "test_data_erasure",
    "livemode": False,
    "status": "pending",
    "deleted": {},
    "created_at": "2026-12-03T10:00:00Z",
    "finished_at": None,
}


def _test_key_only(request: Request) -> None:
    if api_key_of(request).merchant.livemode:
        raise ApiError(
            status_code=403,
            type="invalid_request_error",
            code="test_key_required",
            message="Test data is erased with a test secret key (sk_test_…); live data never is.",
        )


class TestDataApi(MerchantAPIView):
    __test__ = False  # not a pytest test class

    permission_classes: list[type[BasePermission]] = [SecretKeyOnly]

    @extend_schema(
        operation_id="test_data_erasure_retrieve",
        summary="Progress of the latest test-data erasure",
        description="Test secret keys only (403 with a live key). 404 when none was asked for.",
        responses=error_responses(403, 404) | {200: TestDataErasureSerializer},
        examples=[OpenApiExample("Erasure", value=EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        _test_key_only(request)
        erasure = TestDataErasure.objects.order_by("-created_at", "-pk").first()
        if erasure is None:
            raise ApiError(
                status_code=404,
                type="invalid_request_error",
                code="resource_missing",
                message="No test-data erasure was asked for.",
            )
        return Response(TestDataErasureSerializer(erasure).data)

    @extend_schema(
        operation_id="test_data_erase",
        summary="Erase your test data",
        description="Deletes every object of the test data space (advocates, referrals, "
        "conversions, rewards, programs, webhook endpoints…) in the background and answers 202 "
        "with the erasure to follow with GET. Test keys and the audit log are kept. Test secret "
        "keys only: a live key gets 403.",
        request=None,
        responses=error_responses(403) | {202: TestDataErasureSerializer},
        examples=[OpenApiExample("Erasure", value=EXAMPLE, response_only=True)],
    )
    def delete(self, request: Request) -> Response:
        _test_key_only(request)
        erasure = testmode.test_data_erase_request(
            actor_label=f"API key {api_key_of(request).masked}"
        )
        erasure.refresh_from_db()  # in-process tasks (the embedded default) ran already
        return Response(TestDataErasureSerializer(erasure).data, status=status.HTTP_202_ACCEPTED)
