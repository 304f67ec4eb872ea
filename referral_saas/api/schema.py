"""OpenAPI pieces shared by every `/api/v1/` view: the error envelope, the statuses every view
can answer, and the `Idempotency-Key` header."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


class ClosedObjectSerializer(serializers.Serializer[Any]):
    """A serializer whose object has exactly its fields: documented with
    `additionalProperties: false`. For request bodies the view refuses unknown fields of
    (400 naming them), and for answers that must be told apart from a larger shape."""


class ClosedObjectExtension(OpenApiSerializerExtension):
    """drf-spectacular has no switch for `additionalProperties: false`; registered on import."""

    target_class = ClosedObjectSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


class ErrorDetailSerializer(serializers.Serializer[dict[str, Any]]):
    param = serializers.CharField(allow_null=True, help_text="The field path at fault.")
    message = serializers.CharField()
    code = serializers.CharField(help_text="Machine-readable reason, e.g. `invalid`, `required`.")


class ErrorBodySerializer(serializers.Serializer[dict[str, Any]]):
    type = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()
    param = serializers.CharField(allow_null=True, help_text="The field path at fault.")
    errors = ErrorDetailSerializer(  # type: ignore[assignment]  # a field, not Serializer.errors
        many=True,
        required=False,
        help_text="Validation errors (400) only: every invalid field, in order; `param`, "
        "`message` and `code` above repeat the first.",
    )


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    error = ErrorBodySerializer()


# Every `/api/v1/` view (`accounts.api.base.MerchantAPIView`) can answer these, whatever
# the endpoint: 401 without a valid key, 403 for a key of the wrong kind (or a publishable key
# from an origin it does not allow), 429 beyond the key's rate limit.
COMMON_ERROR_STATUSES = (401, 403, 429)
# A POST may carry an `Idempotency-Key`: 400 if malformed, 409 while the first request with the
# key is still running, 422 if the key is reused with another request.
IDEMPOTENT_ERROR_STATUSES = (400, 409, 422)


def error_responses(*statuses: int, idempotent: bool = False) -> dict[int, type[ErrorSerializer]]:
    """`extend_schema` responses: the error envelope for `statuses`, plus the statuses every
    API view can answer (and those of `Idempotency-Key` when `idempotent`)."""
    codes = {*statuses, *COMMON_ERROR_STATUSES}
    if idempotent:
        codes.update(IDEMPOTENT_ERROR_STATUSES)
    return {code: ErrorSerializer for code in sorted(codes)}


# Every POST of the API takes it (`accounts.api.idempotency`).
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"},
    OpenApiParameter.HEADER,
    description="Makes the POST safe to retry: the first response is replayed for 24 hours "
    "to a request with the same key and body. 1 to 255 printable ASCII characters (no "
    "leading or trailing space).",
)
