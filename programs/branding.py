"""How a program looks on its hosted pages: the locale a visitor gets, the offer and texts a
variant shows, the brand stylesheet and the logo for the dashboard preview. `hosted` renders the
landing page with these (`hosted.views.landing`); the dashboard uses them too.

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

from django.http import HttpResponse
from django.utils.translation.trans_real import parse_accept_lang_header

from programs.models import Program
from programs.specs import ProgramConfig, Variant
from programs.summary import offer_headline

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_BRAND = "#3b2fc9"
DEFAULT_ACCENT = "#0f7b5f"
LOGO_PREVIEW_MAX_BYTES = 1024 * 1024


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
