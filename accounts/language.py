"""The dashboard in the signed-in person's language: their choice (`User.language`), else the
browser's (Django's LocaleMiddleware, from Accept-Language), else English.

`UserLanguageMiddleware` runs after authentication and activates the saved choice for the
rest of the request (templates, forms, messages, emails rendered in it, CSV headers), so a
person sees the same language on every device. `language_set` saves a new choice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.models import User

LANGUAGE_CODES = frozenset(code for code, _name in settings.LANGUAGES)


class UserLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        chosen = getattr(user, "language", "") if user is not None else ""
        if chosen and chosen in LANGUAGE_CODES and user is not None and user.is_authenticated:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        response = self.get_response(request)
        if chosen and getattr(request, "LANGUAGE_CODE", "") == chosen:
            response.headers.setdefault("Content-Language", chosen)
        return response


@require_POST
@login_required
def language_set(request: HttpRequest) -> HttpResponse:
    """Save the person's dashboard language ("" = follow the browser) and go back."""
    language = request.POST.get("language", "")
    if language and language not in LANGUAGE_CODES:
        return HttpResponseBadRequest(b"language: not one of en, it, ro, pl.")
    user = cast(User, request.user)  # login_required: a signed-in person
    user.language = language
    user.save(update_fields=["language"])
    following = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        following, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        following = "/"
    return redirect(following)
