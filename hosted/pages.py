"""What every hosted page shares: the visitor's language, the program's branding, the consent
banner, and the checks public forms rely on in place of a CSRF cookie."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation

from accounts.models import Merchant
from hosted.consent import CONSENT_TEXT_VERSION, consent_state
from hosted.languages import language_name
from programs.branding import choose_locale
from programs.models import Program

NO_STORE = "no-store"


def page_locale(request: HttpRequest, program: Program, preferred: str = "") -> str:
    """`?lang=`, then (for a known person) their own language, then the browser's, then the
    program's default: the issue's order, with the advocate's choice before the browser's."""
    requested = request.GET.get("lang")
    if requested in program.locales:
        return str(requested)
    if preferred in program.locales:
        return preferred
    return choose_locale(program, None, request.headers.get("Accept-Language", ""))


def chrome(
    request: HttpRequest, *, merchant: Merchant, program: Program, locale: str, path: str
) -> dict[str, Any]:
    """Header, language switcher, branding and consent banner context for a hosted page."""
    args = [merchant.slug, program.slug]
    keep = {k: v for k, v in request.GET.items() if k in {"k", "to", "m"}}
    return {
        "merchant": merchant,
        "program": program,
        "locale": locale,
        "brand_css_url": reverse("program_brand_css", args=args)
        + f"?v={int(program.updated_at.timestamp())}",
        "logo_url": reverse("program_logo", args=args) if program.logo else "",
        "privacy_url": merchant.privacy_policy_url,
        "consent": consent_state(request),
        "consent_version": CONSENT_TEXT_VERSION,
        "consent_next": path + ("?" + urlencode(keep) if keep else ""),
        "languages": [
            {
                "code": code,
                "name": language_name(code),
                "url": f"{path}?{urlencode({**keep, 'lang': code})}",
                "current": code == locale,
            }
            for code in program.locales
        ],
    }


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], *, locale: str, status: int = 200
) -> HttpResponse:
    with translation.override(locale):
        response = render(request, template, context, status=status)
    response["Content-Language"] = locale
    response["Cache-Control"] = NO_STORE
    response["X-Robots-Tag"] = "noindex"
    return response


def same_origin(request: HttpRequest) -> bool:
    """Public POSTs carry no CSRF cookie (none may be set before consent). Browsers send
    `Origin` (and `Sec-Fetch-Site`) on form posts; when present they must be ours, so another
    site cannot submit our forms in a visitor's name. The signed form token does the rest."""
    site = request.headers.get("Sec-Fetch-Site")
    if site and site not in {"same-origin", "none"}:
        return False
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    ours = {urlsplit(settings.PUBLIC_BASE_URL).netloc, request.get_host()}
    return urlsplit(origin).netloc in ours
