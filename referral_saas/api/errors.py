"""The public error envelope: {"error": {"type", "code", "message", "param"}}; a validation
error (400) also lists every invalid field in `errors: [{"param", "message", "code"}]`, so a
client fixes them all in one round trip (`param` and `message` name the first)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with an explicit type/code/param, raised by views and services' callers."""

    def __init__(
        self,
        *,
        status_code: int,
        type: str,
        code: str,
        message: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_type = type
        self.error_code = code
        self.param = param
        self.headers = headers or {}


def error_body(
    *,
    type: str,
    code: str,
    message: str,
    param: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The envelope. `errors` (validation errors only) lists every problem as
    `{"param", "message", "code"}`; `param`/`message`/`code` repeat its first."""
    body: dict[str, Any] = {"type": type, "code": code, "message": message, "param": param}
    if errors is not None:
        body["errors"] = errors
    return {"error": body}


def validation_error_body(problems: list[dict[str, Any]]) -> dict[str, Any]:
    """The 400 envelope for every problem of a request (at least one): the first in
    `param`/`message`/`code`, all of them in `errors`."""
    first = problems[0]
    return error_body(
        type="invalid_request_error",
        code=str(first.get("code") or "invalid"),
        message=str(first["message"]),
        param=first.get("param"),
        errors=[
            {
                "param": problem.get("param"),
                "message": str(problem["message"]),
                "code": str(problem.get("code") or "invalid"),
            }
            for problem in problems
        ],
    )


def _validation_errors(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Walk DRF's nested error detail to every leaf, in order: `{"param", "message", "code"}`
    with the field path (`customer.email`, `items[2].amount`)."""
    if isinstance(detail, dict):
        found: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            found += _validation_errors(value, path)
        return found
    if isinstance(detail, list):
        found = []
        for index, value in enumerate(detail):
            if value:
                sub = f"{prefix}[{index}]" if isinstance(value, dict) else prefix
                found += _validation_errors(value, sub)
        return found
    code = getattr(detail, "code", "invalid") or "invalid"
    return [{"param": prefix or None, "message": str(detail), "code": str(code)}]


def _first_validation_error(detail: Any, prefix: str = "") -> tuple[str | None, str, str]:
    """The first leaf of DRF's nested error detail: (param path, message, code)."""
    problems = _validation_errors(detail, prefix) or [
        {"param": prefix or None, "message": "Invalid request.", "code": "invalid"}
    ]
    first = problems[0]
    return (first["param"], first["message"], first["code"])


_SIMPLE: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.NotAuthenticated: ("authentication_error", "missing_api_key"),
    exceptions.AuthenticationFailed: ("authentication_error", "invalid_api_key"),
    exceptions.PermissionDenied: ("permission_error", "forbidden"),
    exceptions.NotFound: ("invalid_request_error", "resource_missing"),
    exceptions.MethodNotAllowed: ("invalid_request_error", "method_not_allowed"),
    exceptions.NotAcceptable: ("invalid_request_error", "not_acceptable"),
    exceptions.UnsupportedMediaType: ("invalid_request_error", "unsupported_media_type"),
    exceptions.ParseError: ("invalid_request_error", "malformed_json"),
    exceptions.Throttled: ("rate_limit_error", "rate_limited"),
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("No such object.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApiError):
        # One problem by construction (a malformed body or header, a state refusal): no list.
        body = error_body(
            type=exc.error_type, code=exc.error_code, message=str(exc.detail), param=exc.param
        )
        return Response(body, status=exc.status_code, headers=exc.headers)

    if isinstance(exc, exceptions.ValidationError):
        problems = _validation_errors(exc.detail) or [
            {"param": None, "message": "Invalid request.", "code": "invalid"}
        ]
        return Response(validation_error_body(problems), status=status.HTTP_400_BAD_REQUEST)

    if isinstance(exc, exceptions.APIException):
        error_type, code = next(
            (pair for cls, pair in _SIMPLE.items() if isinstance(exc, cls)),
            ("api_error", str(exc.default_code)),
        )
        headers: dict[str, str] = {}
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if isinstance(exc, exceptions.NotAuthenticated):
            message = "No API key: send 'Authorization: Bearer <key>'."
        return Response(
            error_body(type=error_type, code=code, message=message),
            status=exc.status_code,
            headers=headers,
        )

    # A bug, not bad input: log it with its traceback and answer in the envelope.
    logger.exception("Unhandled API error", exc_info=exc)
    return Response(
        error_body(
            type="api_error",
            code="internal_error",
            message="Something went wrong on our "
            "side; the request may be retried with the same Idempotency-Key.",
        ),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
