"""Request-body and query checks shared by every `/api/v1/` view, answering 400 in the envelope
(never a 500) for what PostgreSQL or the services could not take."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from referral_saas.api.errors import ApiError


def invalid(message: str, param: str | None) -> ApiError:
    return ApiError(
        status_code=400, type="invalid_request_error", code="invalid", message=message, param=param
    )


def nul_character_at(value: Any) -> str | None:
    """The path of a string (or key) holding a NUL character: PostgreSQL can store
    none in text or jsonb, so it must be refused here rather than fail at INSERT."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return path or None
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    return child_path
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
    return None


def json_object_body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.", None)
    path = nul_character_at(data)
    if path is not None:
        raise invalid("Text cannot contain NUL (\\u0000) characters.", path)
    return data


def choice_param(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if value not in choices:
        raise invalid(f"{name} must be one of: {', '.join(choices)}.", name)
    return value
