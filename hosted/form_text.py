"""The one text boundary of the public pages (join, "send my link again", the friend's email
capture, the portal's forms, consent, opt-out): a parameter holding NUL, which PostgreSQL cannot
store or even compare, or invalid Unicode is answered 400 naming it before the view runs.

Browsers never send either (form bodies are decoded with replacement characters, so a surrogate
cannot arrive, only NUL); it is a probe, so the answer is terse rather than a themed page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from referral_saas.api.parsers import text_problem

View = Callable[..., HttpResponse]


def invalid_text_field(request: HttpRequest) -> str | None:
    """The name of the first query or form parameter (or its name) that cannot be stored."""
    params = [*request.GET.lists()]
    if request.method == "POST":
        params += request.POST.lists()
    for name, values in params:
        if text_problem(name) is not None:
            return "(a parameter name)"
        if any(text_problem(value) is not None for value in values):
            return name
    return None


def refuse_invalid_text(view: View) -> View:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        field = invalid_text_field(request)
        if field is not None:
            return HttpResponseBadRequest(
                f"Bad request: {field} contains a character that cannot be accepted "
                "(NUL or invalid Unicode).",
                content_type="text/plain; charset=utf-8",
            )
        return view(request, *args, **kwargs)

    return wrapped
