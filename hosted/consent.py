"""Consent for non-essential storage on the hosted pages (EU default mode).

Before a visitor chooses, we set nothing: no visitor cookie, no session, no CSRF cookie;
attribution works through the link itself (`/r/<code>` → `?ref=<code>`). Accepting sets a
first-party visitor id (`rs_vid`, one year) used to recognise the same browser across visits
(fraud rules compare it) and records the choice with its time and the version of the text shown.
Refusing or withdrawing records that choice and keeps only `rs_consent`, the choice itself,
which is strictly necessary to not ask again on every page.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

# Bump when the banner's wording changes: records say which text a visitor agreed to.
CONSENT_TEXT_VERSION = "2026-11-v1"
CONSENT_COOKIE = "rs_consent"
VISITOR_COOKIE = "rs_vid"
COOKIE_MAX_AGE = 365 * 24 * 3600
VISITOR_ID = re.compile(r"^v_[A-Za-z0-9_-]{20,40}$")


@dataclass(frozen=True)
class ConsentState:
    decided: bool
    granted: bool
    visitor_id: str


def consent_state(request: HttpRequest) -> ConsentState:
    choice = request.COOKIES.get(CONSENT_COOKIE, "")
    granted = choice == f"granted.{CONSENT_TEXT_VERSION}"
    visitor = request.COOKIES.get(VISITOR_COOKIE, "") if granted else ""
    return ConsentState(
        decided=granted or choice.startswith("denied."),
        granted=granted,
        visitor_id=visitor if VISITOR_ID.match(visitor) else "",
    )


def new_visitor_id() -> str:
    return "v_" + secrets.token_urlsafe(18)


def set_choice_cookies(response: HttpResponse, *, granted: bool, visitor_id: str) -> None:
    secure = _secure()
    if granted:
        response.set_cookie(
            CONSENT_COOKIE,
            f"granted.{CONSENT_TEXT_VERSION}",
            max_age=COOKIE_MAX_AGE,
            samesite="Lax",
            secure=secure,
            httponly=True,
        )
        response.set_cookie(
            VISITOR_COOKIE,
            visitor_id,
            max_age=COOKIE_MAX_AGE,
            samesite="Lax",
            secure=secure,
            httponly=True,
        )
        return
    response.set_cookie(
        CONSENT_COOKIE,
        f"denied.{CONSENT_TEXT_VERSION}",
        max_age=COOKIE_MAX_AGE,
        samesite="Lax",
        secure=secure,
        httponly=True,
    )
    response.delete_cookie(VISITOR_COOKIE, samesite="Lax")


def _secure() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "SESSION_COOKIE_SECURE", False))
