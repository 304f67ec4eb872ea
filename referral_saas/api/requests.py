"""Request-body and query checks shared by every `/api/v1/` view, answering 400 in the envelope
(never a 500) for what PostgreSQL or the services could not take."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from referral_saas.api.errors import ApiError
from referral_saas.api.parsers import text_problem


def invalid(message: str, param: str | None) -> ApiError:
    return ApiError(
        status_code=400, type="invalid_request_error", code="invalid", message=message, param=param
    )


def json_object_body(request: Request) -> dict[str, Any]:
    data = request.data
    # NUL and lone surrogates were refused by the parser (`referral_saas.api.parsers`).
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.", None)
    return data


# No parameter of the API is longer (ids, emails, cursors, statuses): a longer value is a probe,
# and SQLite refuses a LIKE pattern (case-insensitive email filters) past 50 kB with an error.
MAX_QUERY_VALUE_LENGTH = 1000


def query_params_check(request: Request) -> None:
    """Every query parameter, on every route, before a view reads one: NUL (which PostgreSQL
    cannot compare), invalid Unicode or a value over 1,000 characters is a 400 naming it."""
    for name, values in request.query_params.lists():
        problem = text_problem(name)
        if problem is not None:
            raise invalid("A parameter name: " + problem[0].lower() + problem[1:], None)
        for value in values:
            problem = text_problem(value)
            if problem is not None:
                raise invalid(f"{name}: {problem}", name)
            if len(value) > MAX_QUERY_VALUE_LENGTH:
                raise invalid(f"{name}: at most {MAX_QUERY_VALUE_LENGTH} characters.", name)


def choice_param(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if value not in choices:
        raise invalid(f"{name} must be one of: {', '.join(choices)}.", name)
    return value
