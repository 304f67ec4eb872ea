"""Cursor pagination: {"data": [...], "next_cursor": "<opaque>" | null}, ?limit= and ?cursor=."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from referral_saas.api.errors import ApiError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

M = TypeVar("M", bound=Model)


def _invalid(param: str, message: str) -> ApiError:
    return ApiError(
        status_code=400, type="invalid_request_error", code="invalid", message=message, param=param
    )


def parse_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _invalid("limit", f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return int(raw)


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{pk}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> int:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        version, pk = text.split(":", 1)
        if version != "v1" or not pk.isdigit():
            raise ValueError(text)
        return int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid("cursor", "cursor is not one this API returned.") from None


def paginate(
    request: Request,
    queryset: QuerySet[M],
    serialize: Callable[[Sequence[M]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """Newest first, keyset on the internal primary key (stable under concurrent inserts)."""
    limit = parse_limit(request)
    cursor = request.query_params.get("cursor")
    if cursor:
        queryset = queryset.filter(pk__lt=decode_cursor(cursor))
    rows = list(queryset.order_by("-pk")[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1].pk) if len(rows) > limit else None
    return {"data": serialize(rows[:limit]), "next_cursor": next_cursor}


def list_schema(item: type[serializers.Serializer[Any]], name: str) -> dict[str, Any]:
    """`extend_schema` arguments documenting a paginated list of `item`."""
    return {
        "parameters": [
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                description=f"1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})",
            ),
            OpenApiParameter("cursor", str, description="`next_cursor` of the previous page"),
        ],
        "responses": inline_serializer(
            name=name,
            fields={
                "data": item(many=True),
                "next_cursor": serializers.CharField(allow_null=True),
            },
        ),
    }
