"""Hosted pages: the program's public landing page, its brand stylesheet and its logo.

The dashboard's live preview renders the very same template through `render_landing`, so what a
merchant previews is what visitors get.

Brand colours are arbitrary `#rrggbb` values, but the CSP forbids inline styles. So the page
links a tiny per-program stylesheet (`brand.css`) that only sets CSS custom properties on
`.landing`; `programs.css` uses them. The colours are re-checked against `#rrggbb` here too, so
nothing but a colour can ever reach that stylesheet.
"""

from __future__ import annotations

import base64
import dataclasses
import mimetypes
import re
from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.http import require_GET

from accounts.models import Merchant
from hosted.consent import CONSENT_TEXT_VERSION, ConsentState, consent_state
from hosted.ladder import tier_ladder
from hosted.languages import language_name
from programs.localized import localized_copy
from programs.models import Program, ProgramStatus
from programs.richtext import linkify
from programs.services import program_config
from programs.specs import ProgramConfig, Variant
from programs.summary import offer_headline
from referral_saas import tenancy
from tracking import links

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_BRAND = "#3b2fc9"
DEFAULT_ACCENT = "#0f7b5f"
LOGO_PREVIEW_MAX_BYTES = 1024 * 1024


# --- Shared with the dashboard preview --------------------------------------------------------


def choose_locale(program: Program, requested: str | None, accept_language: str = "") -> str:
    """`?lang=` if the program speaks it, then the browser's languages, then the default."""
    if requested in program.locales:
        return str(requested)
    for code, _quality in parse_accept_lang_header(accept_language):
        base = code.split("-")[0].lower()
        if base in program.locales:
            return base
    return program.default_locale


def variant_offer(config: ProgramConfig, variant: Variant | None) -> ProgramConfig:
    """The configuration as a variant's advocates see it: its reward overrides in place of the
    program's (the same object when it overrides nothing)."""
    if variant is None or (variant.advocate_reward is None and variant.friend_reward is None):
        return config
    return dataclasses.replace(
        config,
        advocate_reward=variant.advocate_reward or config.advocate_reward,
        friend_reward=variant.friend_reward or config.friend_reward,
    )


def landing_texts(
    config: ProgramConfig, copy: dict[str, str], locale: str, variant: Variant | None = None
) -> dict[str, str]:
    """Headline and description in `locale`: the variant's own copy first; then the program's
    copy, except that a variant changing the offer never borrows the program's headline (it
    describes the other offer) and gets one written from its own rewards instead."""
    own = variant.copy.get(locale, {}) if variant is not None else {}
    offer = variant_offer(config, variant)
    borrowed = copy.get("headline", "") if offer is config else ""
    return {
        "headline": own.get("headline") or borrowed or offer_headline(offer, locale),
        "description": own.get("description") or copy.get("description", ""),
    }


def find_variant(config: ProgramConfig, key: str | None) -> Variant | None:
    return next((v for v in config.variants if key and v.key == key), None)


def render_landing(
    request: HttpRequest,
    *,
    merchant: Merchant,
    program: Program,
    locale: str,
    brand_css_url: str,
    logo_url: str,
    language_url: str,
    preview: bool = False,
    status: int = 200,
    variant_key: str | None = None,
    forms: dict[str, Any] | None = None,
) -> HttpResponse:
    """Render the landing page in `locale` (fixed strings through {% translate %}), as
    `variant_key`'s advocates see it when that names one of the program's variants.

    `forms` carries the join and "send my link again" forms' state (errors, values, notices)
    on the public page; the preview shows the same forms, inert, and no consent banner."""
    localized = localized_copy(program, locale)  # each text falls back to the default locale
    copy = localized.as_dict()
    config = program_config(program)
    variant = find_variant(config, variant_key)
    texts = landing_texts(config, copy, locale, variant)
    keep = f"&variant={variant.key}" if variant is not None else ""
    with translation.override(locale):
        context: dict[str, Any] = {
            "merchant": merchant,
            "program": program,
            "program_name": localized.name,
            "locale": locale,
            "headline": texts["headline"],
            "description": texts["description"],
            "terms": copy.get("terms", ""),
            "terms_html": linkify(copy.get("terms", "")),
            "has_friend_reward": variant_offer(config, variant).friend_reward is not None,
            "has_advocate_reward": bool(variant_offer(config, variant).advocate_reward),
            "ladder": tier_ladder(config, locale),
            "is_live": program.status == ProgramStatus.ACTIVE,
            "preview": preview,
            "preview_variant": variant.name if preview and variant is not None else "",
            "brand_css_url": brand_css_url,
            "logo_url": logo_url,
            "privacy_url": merchant.privacy_policy_url,
            "form_token": "" if preview else links.form_token(program),
            "join_url": reverse("hosted_join", args=[merchant.slug, program.slug]),
            "resend_url": reverse("hosted_resend", args=[merchant.slug, program.slug]),
            "forms": forms or {},
            "consent": ConsentState(decided=True, granted=False, visitor_id="")
            if preview
            else consent_state(request),
            "consent_version": CONSENT_TEXT_VERSION,
            "consent_next": f"{language_url}?lang={locale}{keep}",
            "languages": [
                {
                    "code": code,
                    "name": language_name(code),
                    "url": f"{language_url}?lang={code}{keep}",
                    "current": code == locale,
                }
                for code in program.locales
            ],
        }
        response = render(request, "programs/landing.html", context, status=status)
    response["Content-Language"] = locale
    return response


def brand_css(program: Program) -> HttpResponse:
    brand = _color(program.brand_color, DEFAULT_BRAND)
    accent = _color(program.accent_color, DEFAULT_ACCENT)
    body = (
        ".landing {\n"
        f"  --brand: {brand};\n  --brand-contrast: {_contrast(brand)};\n"
        f"  --accent: {accent};\n  --accent-contrast: {_contrast(accent)};\n"
        "}\n"
    )
    return HttpResponse(body, content_type="text/css; charset=utf-8")


def _color(value: str, default: str) -> str:
    return value.lower() if COLOR.match(value or "") else default


def _contrast(color: str) -> str:
    """Black or white text, whichever reads better on `color` (WCAG relative luminance)."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # Contrast with white is 1.05 / (L + 0.05); with black (L + 0.05) / 0.05.
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 else "#111111"


def logo_data_url(program: Program) -> str:
    """The logo inlined as a data: URL (allowed by the CSP's img-src) for the dashboard preview,
    where the public logo URL would 404 for a draft program."""
    if not program.logo:
        return ""
    try:
        with program.logo.open("rb") as file:
            content = file.read(LOGO_PREVIEW_MAX_BYTES + 1)
    except OSError:
        return ""
    if len(content) > LOGO_PREVIEW_MAX_BYTES:
        return ""
    mime = mimetypes.guess_type(str(program.logo.name))[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


# --- Public pages ------------------------------------------------------------------------------


def _find(program_slug: str) -> Program:
    program = Program.objects.filter(slug=program_slug).first()
    if program is None or program.status == ProgramStatus.DRAFT:
        raise Http404("No such program.")
    return program


def _merchant(merchant_slug: str) -> Merchant:
    merchant = Merchant.objects.filter(slug=merchant_slug).first()
    if merchant is None:
        raise Http404("No such program.")
    return merchant


@require_GET
def program_landing(request: HttpRequest, merchant_slug: str, program_slug: str) -> HttpResponse:
    merchant = _merchant(merchant_slug)
    with tenancy.merchant_context(merchant):
        program = _find(program_slug)
        locale = choose_locale(
            program, request.GET.get("lang"), request.headers.get("Accept-Language", "")
        )
        return landing_response(request, merchant, program, locale=locale)


def landing_response(
    request: HttpRequest,
    merchant: Merchant,
    program: Program,
    *,
    locale: str,
    status: int | None = None,
    **forms: Any,
) -> HttpResponse:
    """The public landing page (inside the merchant), also re-rendered by the join and "send
    my link again" forms with their errors or notices in `forms`."""
    args = [merchant.slug, program.slug]
    live = program.status == ProgramStatus.ACTIVE
    response = render_landing(
        request,
        merchant=merchant,
        program=program,
        locale=locale,
        brand_css_url=reverse("program_brand_css", args=args)
        + f"?v={int(program.updated_at.timestamp())}",
        logo_url=reverse("program_logo", args=args) if program.logo else "",
        language_url=reverse("program_landing", args=args),
        status=status if status is not None else (200 if live else 410),
        forms=forms,
    )
    response["Vary"] = "Accept-Language, Cookie"
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def program_brand_css(request: HttpRequest, merchant_slug: str, program_slug: str) -> HttpResponse:
    with tenancy.merchant_context(_merchant(merchant_slug)):
        response = brand_css(_find(program_slug))
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def program_logo(request: HttpRequest, merchant_slug: str, program_slug: str) -> HttpResponseBase:
    with tenancy.merchant_context(_merchant(merchant_slug)):
        program = _find(program_slug)
    if not program.logo:
        raise Http404("No logo.")
    try:
        file = program.logo.open("rb")
    except OSError:
        raise Http404("No logo.") from None
    mime = mimetypes.guess_type(str(program.logo.name))[0] or "application/octet-stream"
    response = FileResponse(file, content_type=mime)
    response["Cache-Control"] = "public, max-age=300"
    return response
