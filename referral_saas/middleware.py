"""A guard that no merchant leaks from one request to the next on a reused thread."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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
