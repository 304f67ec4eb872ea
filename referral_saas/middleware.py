"""A guard that no merchant leaks from one request to the next on a reused thread, and the
shorter middleware stack of the two hot paths (`bypassed_on_hot_paths`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from referral_saas import tenancy


class TenantContextGuardMiddleware:
    """Threads are reused across requests; start and end every request with no current merchant."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenancy.clear()
        try:
            return self.get_response(request)
        finally:
            tenancy.clear()


# --- The hot paths' shorter stack -----------------------------------------------------------

# `POST /api/v1/conversions` (the storefront's order) and `GET /r/<code>` (the referral link).
_REFERRAL_LINK = re.compile(r"^/r/[^/]+$")


def is_hot_path(request: HttpRequest) -> bool:
    path = request.path_info
    if path == "/api/v1/conversions":
        return True
    return request.method in {"GET", "HEAD"} and _REFERRAL_LINK.match(path) is not None


def bypassed_on_hot_paths(dotted_path: str) -> type:
    """A subclass of the middleware `dotted_path` (so checks such as the admin's still find it)
    that steps aside on the two hot paths, which need none of what these provide: sessions,
    the user, messages or htmx details
    (tests/test_hot_paths*.py check the headers every response keeps). Each costs a few dozen
    function calls per request."""
    base: type = import_string(dotted_path)

    def __call__(self: Any, request: HttpRequest) -> HttpResponse:
        if is_hot_path(request):
            return self.get_response(request)
        return base.__call__(self, request)

    namespace: dict[str, Any] = {"__call__": __call__, "__module__": __name__}
    # Django collects these hooks from the instance: step aside in those the base has.
    for hook in ("process_view", "process_exception", "process_template_response"):
        method = getattr(base, hook, None)
        if method is not None:
            namespace[hook] = _skipping(method)
    return type(base.__name__, (base,), namespace)


def _skipping(method: Callable[..., Any]) -> Callable[..., Any]:
    def hook(self: Any, request: HttpRequest, *args: Any) -> Any:
        return None if is_hot_path(request) else method(self, request, *args)

    return hook


SessionMiddleware = bypassed_on_hot_paths("django.contrib.sessions.middleware.SessionMiddleware")
AuthenticationMiddleware = bypassed_on_hot_paths(
    "django.contrib.auth.middleware.AuthenticationMiddleware"
)
MessageMiddleware = bypassed_on_hot_paths("django.contrib.messages.middleware.MessageMiddleware")
HtmxMiddleware = bypassed_on_hot_paths("django_htmx.middleware.HtmxMiddleware")
