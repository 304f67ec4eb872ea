"""The program's public landing page, its brand stylesheet and its logo, and the dashboard's live
preview of it: the preview renders the very same template through `render_landing`, so what a
merchant previews is what visitors get."""

from __future__ import annotations

import mimetypes
from typing import Any

from csp.decorators import csp_replace
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from accounts.decorators import MerchantRequest, merchant_view
from accounts.models import Merchant
from hosted.consent import CONSENT_TEXT_VERSION, ConsentState, consent_state
from hosted.ladder import tier_ladder
from hosted.languages import language_name
from programs import currencies
from programs.branding import (
    brand_css,
    choose_locale,
    find_variant,
    landing_texts,
    logo_data_url,
    variant_offer,
)
from programs.localized import localized_copy
from programs.models import Program, ProgramStatus
from programs.richtext import linkify
from programs.services import program_config
from referral_saas import tenancy
from tracking import links


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
    # The storefront may pass the visitor's currency (`?currency=PLN`): the offer is then in
    # that currency's amounts when the program accepts it, in the default currency otherwise.
    currency = request.GET.get("currency", "").strip().upper()
    judged = currencies.in_currency(config, program.currency, currency) if currency else None
    config = judged or config
    variant = find_variant(config, variant_key)
    texts = landing_texts(config, copy, locale, variant)
    keep = f"&variant={variant.key}" if variant is not None else ""
    if judged is not None and currency != program.currency:
        keep += f"&currency={currency}"
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


# --- Live preview --------------------------------------------------------------------------------


@xframe_options_sameorigin
@csp_replace({"frame-ancestors": ["'self'"]})  # type: ignore[arg-type]
@require_GET
@merchant_view()
def program_preview(request: MerchantRequest, program_id: str) -> HttpResponse:
    """The landing page exactly as visitors will see it, in `?lang=` and as the advocates of
    `?variant=` see it, framed by the dashboard (so this one response may be framed by our own
    origin)."""
    program = _dashboard_program(program_id)
    kwargs = {"merchant_slug": request.merchant.slug, "program_id": program.public_id}
    response = render_landing(
        request,
        merchant=request.merchant,
        program=program,
        locale=choose_locale(program, request.GET.get("lang")),
        brand_css_url=reverse("program_preview_css", kwargs=kwargs)
        + f"?v={int(program.updated_at.timestamp())}",
        logo_url=logo_data_url(program),
        language_url=reverse("program_preview", kwargs=kwargs),
        preview=True,
        variant_key=request.GET.get("variant"),
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@merchant_view()
def program_preview_css(request: HttpRequest, program_id: str) -> HttpResponse:
    response = brand_css(_dashboard_program(program_id))
    response["Cache-Control"] = "private, no-cache"
    return response


def _dashboard_program(program_id: str) -> Program:
    return get_object_or_404(Program, public_id=program_id)


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
