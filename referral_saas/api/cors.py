"""CORS for the endpoints browsers call with a publishable key (advocates POST, clicks,
referrals).

A preflight carries no `Authorization` header, so the key (and its allowed origins) cannot be
checked there: `CorsPreflightMiddleware` answers it for any origin, for views marked
`cors_enabled`. The actual response gets `Access-Control-Allow-Origin` only when the request
was made with a publishable key from one of that key's allowed origins (`allow_origin`); the
authentication class already refuses other origins with 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers

PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key",
    "Access-Control-Max-Age": "600",
}


def _cors_enabled(view_func: Callable[..., Any]) -> bool:
    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    return bool(getattr(view_class, "cors_enabled", False))


class CorsPreflightMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponseBase | None:
        origin = request.headers.get("Origin")
        if (
            request.method != "OPTIONS"
            or not origin
            or "Access-Control-Request-Method" not in request.headers
            or not _cors_enabled(view_func)
        ):
            return None
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Origin"] = origin
        for name, value in PREFLIGHT_HEADERS.items():
            response[name] = value
        patch_vary_headers(response, ["Origin"])
        return response


def allow_origin(request: HttpRequest, response: HttpResponseBase, key: Any) -> None:
    """Let the browser read `response` if `key` is a publishable key allowed from the request's
    Origin. (`key` is the authenticated `accounts.models.ApiKey`, or None.)"""
    patch_vary_headers(response, ["Origin"])
    origin = request.headers.get("Origin", "")
    if key is None or getattr(key, "kind", None) != "publishable" or not origin:
        return
    if origin.rstrip("/").lower() in key.allowed_origins:
        response["Access-Control-Allow-Origin"] = origin
