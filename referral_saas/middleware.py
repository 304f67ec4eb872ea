"""A guard that no merchant leaks from one request to the next on a reused thread, and the
shorter middleware stack of the two hot paths (`bypassed_on_hot_paths`), and the CSP header
built once (`CSPMiddleware`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import csp.middleware
from csp.constants import HEADER as CSP_HEADER
from csp.constants import HEADER_REPORT_ONLY as CSP_HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
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


# --- Content-Security-Policy, built once ----------------------------------------------------

# Per-response policy changes (csp.decorators) and the nonce: with any of them, django-csp's own
# path builds the header as usual.
_CSP_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
# (header, value, the response attribute that exempts it, excluded path prefixes)
_csp_headers: list[tuple[str, str, str, tuple[str, ...]]] = []


def _csp_policies() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """The policy headers as django-csp builds them from the settings alone, built once (and
    again after a test changes the settings)."""
    if not _csp_headers:
        for header, report_only, exempt, setting in (
            (CSP_HEADER, False, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (CSP_HEADER_REPORT_ONLY, True, "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            value = build_policy(report_only=report_only)
            _csp_headers.append((header, value, exempt, tuple(prefixes)))
    return _csp_headers


@receiver(setting_changed)
def _forget_csp_policies(**kwargs: Any) -> None:
    _csp_headers.clear()


class CSPMiddleware(csp.middleware.CSPMiddleware):
    """django-csp's middleware, without rebuilding the same header string on every response
    (~100 function calls, a twentieth of a hot-path request): when a response has no policy of
    its own and the request used no nonce, the header built once from the settings is set, under
    the same conditions as django-csp sets it."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        varies = getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in _CSP_PER_RESPONSE
        )
        if varies or settings.DEBUG:
            return super().process_response(request, response)
        for header, value, exempt, prefixes in _csp_policies():
            if (
                value
                and header not in response
                and getattr(response, exempt, False) is False
                and not request.path_info.startswith(prefixes)
            ):
                response[header] = value
        # As django-csp: a nonce asked for after the header is written is an error, not a gap.
        request.csp_nonce = csp.middleware.CheckableLazyObject(  # type: ignore[attr-defined]
            self._csp_nonce_post_response
        )
        return response
