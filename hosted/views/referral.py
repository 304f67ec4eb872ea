"""`GET /r/<code>`: the referral link, the hot path.

The minimum that keeps the data safe: one indexed SELECT of the advocate joined to its program
and merchant, one INSERT of the click (keyed IP hash and /24 prefix, never the IP; user agent;
referer; the visitor id only with consent), then a redirect — or, for programs that give the
friend something, the friend page, which reads the offer (two more small SELECTs).

`/r/<code>` names no merchant: codes are unique across merchants in the database (tracking
migration 0008), so a code names one advocate; a retired code (`CodeAlias`) still leads to the
advocate who used it.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

import segno
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Merchant
from hosted.consent import consent_state
from hosted.form_text import refuse_invalid_text
from hosted.models import CodeAlias
from hosted.offer import friend_conditions, friend_offer
from hosted.pages import chrome, page_locale, render_page, same_origin
from hosted.ratelimit import allow
from hosted.selectors import is_bot
from hosted.services import friend_capture, hosted_settings
from hosted.share_image import CACHE_SECONDS, cached_share_image, draw_share_image
from programs.branding import DEFAULT_BRAND, _color, _contrast, find_variant, variant_offer
from programs.localized import localized_copy
from programs.models import Program, ProgramStatus, ProgramType
from programs.services import program_config
from programs.specs import SpecError, Variant
from referral_saas import tenancy
from referral_saas.prepared import PreparedQuery
from referral_saas.privacy import client_ip, truncate_ip
from rewards.friend_offer import OfferOutcome, friend_offer_issue, offered
from tracking import links
from tracking.models import Advocate, Click
from tracking.services import CODE_PATTERN, ip_hash

QR_MAX_AGE = 24 * 3600


# Compiled once per process (referral_saas.prepared): the hot path's one SELECT without Django's
# ~0.7 ms of SQL compilation for its ~60 columns. Unscoped: the code is what names the merchant.
_ADVOCATES_BY_CODE: PreparedQuery[Advocate] = PreparedQuery(
    lambda code: Advocate.unscoped_all_merchants.select_related("program", "merchant").filter(
        code=code
    )[:2],
    arguments=1,
)


def _find_advocate(code: str, merchant_slug: str | None) -> Advocate | None:
    rows = _ADVOCATES_BY_CODE(code)
    if len(rows) > 1:
        rows = [row for row in rows if row.merchant.slug == merchant_slug]
    if len(rows) == 1:
        return rows[0]
    if rows:
        return None
    alias = (
        CodeAlias.unscoped_all_merchants.select_related("advocate__program", "advocate__merchant")
        .filter(code=code)
        .first()
    )
    return alias.advocate if alias is not None else None


def _running(program: Program) -> bool:
    now = timezone.now()
    return (
        program.status == ProgramStatus.ACTIVE
        and (program.starts_at is None or program.starts_at <= now)
        and (program.ends_at is None or program.ends_at > now)
    )


@require_GET
def referral(request: HttpRequest, code: str) -> HttpResponse:
    normalised = code.strip().upper()
    advocate = (
        _find_advocate(normalised, request.GET.get("m")) if CODE_PATTERN.match(normalised) else None
    )
    if advocate is None or advocate.program.status == ProgramStatus.DRAFT:
        return _unknown(request, status=404)
    program = advocate.program
    if not _running(program) or getattr(advocate, "blocked_at", None) is not None:
        return _ended(request, advocate)
    user_agent = request.headers.get("User-Agent", "")
    revisit = links.read_click_token(request.GET.get("k", ""))
    click_id = revisit or ""
    if revisit is None and not is_bot(user_agent):
        click_id = _record_click(request, advocate, user_agent)
    destination = links.with_ref(
        links.safe_destination(program, request.GET.get("to")), advocate.code, click_id
    )
    if program.type == ProgramType.ONE_SIDED:
        response: HttpResponse = HttpResponseRedirect(destination)
        response["Cache-Control"] = "no-store"
        return response
    return _friend_page(request, advocate, destination, click_id)


def _record_click(request: HttpRequest, advocate: Advocate, user_agent: str) -> str:
    ip = client_ip(request)
    with tenancy.merchant_context(advocate.merchant):
        click = Click.objects.create(
            program=advocate.program,
            advocate=advocate,
            ip_hash=ip_hash(ip),
            ip_prefix=truncate_ip(ip),
            user_agent=user_agent[:400],
            referer=request.headers.get("Referer", "")[:500],
            visitor_id=consent_state(request).visitor_id,
        )
    return str(click.public_id)


def _friend_page(
    request: HttpRequest,
    advocate: Advocate,
    destination: str,
    click_id: str,
    *,
    errors: dict[str, str] | None = None,
    email: str = "",
    status: int = 200,
    outcome: OfferOutcome | None = None,
) -> HttpResponse:
    """The page a friend sees: the friend's own reward (the advocate's variant of it), its
    conditions, the code, and the preview tags (Open Graph, X card) link previews read.
    When the program gives the friend a code before purchase, the form asks for the email and
    the page then shows the friend's own code (`outcome`), or why there is none."""
    program = advocate.program
    merchant = advocate.merchant
    with tenancy.merchant_context(merchant):
        config = program_config(program)
        locale = page_locale(request, program, request.POST.get("lang", ""))
        capture = hosted_settings(program).friend_email_capture
        friend_offered = offered(program, advocate, config) is not None
        capture = capture or friend_offered
        ask_name = friend_offered and config.rules.ask_friend_name
        has_terms = bool(localized_copy(program, locale).terms)
    variant = find_variant(config, advocate.variant_key)
    spec = variant_offer(config, variant).friend_reward
    token = links.click_token(click_id) if click_id else ""
    path = f"/r/{advocate.code}"
    context: dict[str, Any] = chrome(
        request, merchant=merchant, program=program, locale=locale, path=path
    )
    if token:
        context["consent_next"] = f"{path}?k={token}"
    with translation.override(locale):
        offer = (
            friend_offer(spec, locale, first_order=config.rules.first_purchase_only)
            if spec is not None
            else ""
        )
        conditions = (
            friend_conditions(
                config, spec, merchant_name=merchant.name, currency=program.currency, locale=locale
            )
            if spec is not None
            else []
        )
        landing = links.landing_url(program, merchant.slug)
        first_name = (advocate.name.split() or [""])[0]
        names = {"name": first_name, "merchant": merchant.name}
        context.update(
            {
                "og_title": gettext("%(name)s invites you to %(merchant)s") % names
                if first_name
                else gettext("A friend invites you to %(merchant)s") % names,
                "og_description": f"{offer}."
                if offer
                else gettext("Discover %(merchant)s, recommended by a friend.") % names,
                "advocate_name": first_name,
                "offer": offer,
                "conditions": conditions,
                "terms_url": f"{landing}?lang={locale}#terms" if has_terms else "",
                "code": advocate.code,
                "destination": destination,
                "capture": capture,
                "click_token": token,
                "form_token": links.form_token(program),
                "errors": errors or {},
                "email": email,
                "og_url": links.referral_url(advocate),
                "og_image": share_image_url(program, merchant.slug, locale, variant),
                "og_locale": translation.to_locale(locale),
                "friend_offered": friend_offered,
                "ask_name": ask_name,
                "name": request.POST.get("name", "")[:120] if request.method == "POST" else "",
                "offer_code": outcome.code if outcome is not None else "",
                "offer_reason": outcome.reason if outcome is not None else "",
                "shop_url": links.safe_destination(program),
            }
        )
    return render_page(request, "hosted/friend.html", context, locale=locale, status=status)


def share_image_url(
    program: Program, merchant_slug: str, locale: str, variant: Variant | None = None
) -> str:
    """The absolute, versioned URL of the program's share picture in `locale`."""
    path = reverse("hosted_share_image", args=[merchant_slug, program.slug, locale])
    query = {"v": _image_version(program)}
    if variant is not None:
        query["variant"] = variant.key
    return links.absolute(f"{path}?{urlencode(query)}")


def _image_version(program: Program) -> str:
    return f"{program.version}-{int(program.updated_at.timestamp())}"


@require_GET
def share_image(
    request: HttpRequest, merchant_slug: str, program_slug: str, locale: str
) -> HttpResponse:
    """The program's link-preview picture (`og:image`): public and cacheable, since it shows
    only what the program's public landing page shows (no advocate, no person)."""
    merchant = Merchant.objects.filter(slug=merchant_slug).first()
    if merchant is None:
        raise Http404("No such program.")
    with tenancy.merchant_context(merchant):
        program = Program.objects.filter(slug=program_slug).first()
        if program is None or program.status == ProgramStatus.DRAFT:
            raise Http404("No such program.")
        if locale not in program.locales:
            raise Http404("The program does not speak this language.")
        config = program_config(program)
    variant = find_variant(config, request.GET.get("variant"))
    offer_config = variant_offer(config, variant)
    key = (
        f"hosted:share-image:{program.pk}:{_image_version(program)}:{locale}:"
        f"{variant.key if variant is not None else ''}"
    )

    def draw() -> bytes:
        with translation.override(locale):
            spec = offer_config.friend_reward
            if spec is not None:
                headline = friend_offer(spec, locale, first_order=config.rules.first_purchase_only)
                footer = gettext("A gift for you from %(merchant)s") % {"merchant": merchant.name}
            else:
                headline = gettext("Recommended by a friend")
                footer = merchant.name
        brand = _color(program.brand_color, DEFAULT_BRAND)
        return draw_share_image(
            program=program,
            merchant_name=merchant.name,
            headline=headline,
            footer=footer,
            brand=brand,
            text=_contrast(brand),
        )

    response = HttpResponse(cached_share_image(key, draw), content_type="image/png")
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


@csrf_exempt
@require_POST
@refuse_invalid_text
def claim(request: HttpRequest, code: str) -> HttpResponse:
    """The friend page's email capture: records the friend as this advocate's referral, then
    sends them on to the shop with `ref`."""
    normalised = code.strip().upper()
    advocate = (
        _find_advocate(normalised, request.GET.get("m")) if CODE_PATTERN.match(normalised) else None
    )
    if advocate is None or advocate.program.status == ProgramStatus.DRAFT:
        return _unknown(request, status=404)
    if not _running(advocate.program):
        return _ended(request, advocate)
    program = advocate.program
    click_id = links.read_click_token(request.POST.get("click", "")) or ""
    destination = links.with_ref(links.safe_destination(program), advocate.code, click_id)
    if (
        not same_origin(request)
        or not links.form_token_valid(request.POST.get("token", ""), program)
        or request.POST.get("website")  # the honeypot: people never see it, bots fill it
    ):
        return _friend_page(
            request, advocate, destination, click_id, errors={"form": "expired"}, status=400
        )
    verdict = allow(f"claim:{ip_hash(client_ip(request))}", limit=10, window_seconds=600)
    if not verdict:
        refused = _friend_page(
            request, advocate, destination, click_id, errors={"form": "busy"}, status=429
        )
        refused["Retry-After"] = str(verdict.retry_after)
        return refused
    email = request.POST.get("email", "")
    outcome: OfferOutcome | None = None
    try:
        with tenancy.merchant_context(advocate.merchant):
            config = program_config(program)
            name = request.POST.get("name", "").strip()[:120]
            spec = offered(program, advocate, config)
            if spec is not None and config.rules.ask_friend_name and not name:
                raise SpecError({"name": "Please enter your name."})
            captured = friend_capture(
                advocate=advocate, email=email, click_public_id=click_id or None, name=name
            )
            if spec is not None:
                outcome = friend_offer_issue(
                    referral=captured.referral,
                    email=captured.referral.email,
                    ip_hash=ip_hash(client_ip(request)),
                    locale=page_locale(request, program, request.POST.get("lang", "")),
                )
    except SpecError as error:
        return _friend_page(
            request,
            advocate,
            destination,
            click_id,
            errors={"name": "missing"}
            if "name" in error.errors
            else {"email": "self" if "themselves" in str(error) else "invalid"},
            email=email,
            status=400,
        )
    if outcome is not None:
        # The friend's own code on screen (and in their inbox): they take it to the shop.
        page = _friend_page(request, advocate, destination, click_id, email=email, outcome=outcome)
        page["Cache-Control"] = "no-store"
        return page
    response = HttpResponseRedirect(destination)
    response["Cache-Control"] = "no-store"
    return response


def _unknown(request: HttpRequest, *, status: int) -> HttpResponse:
    locale = translation.get_language_from_request(request) or "en"
    if locale not in {"en", "it", "ro", "pl"}:
        locale = "en"
    return render_page(
        request, "hosted/link_unknown.html", {"locale": locale}, locale=locale, status=status
    )


def _ended(request: HttpRequest, advocate: Advocate) -> HttpResponse:
    program = advocate.program
    locale = page_locale(request, program)
    context = chrome(
        request,
        merchant=advocate.merchant,
        program=program,
        locale=locale,
        path=f"/r/{advocate.code}",
    )
    context["shop_url"] = links.safe_destination(program)
    return render_page(request, "hosted/link_ended.html", context, locale=locale, status=410)


# --- QR codes -------------------------------------------------------------------------------


def _qr(code: str) -> segno.QRCode:
    normalised = code.strip().upper()
    if not CODE_PATTERN.match(normalised):
        raise Http404("No such referral code.")
    exists = (
        Advocate.unscoped_all_merchants.filter(code=normalised).exists()
        or CodeAlias.unscoped_all_merchants.filter(code=normalised).exists()
    )
    if not exists:
        raise Http404("No such referral code.")
    return segno.make(links.absolute(reverse("hosted_referral", args=[normalised])), error="m")


@require_GET
def qr_svg(request: HttpRequest, code: str) -> HttpResponse:
    buffer = io.BytesIO()
    _qr(code).save(buffer, kind="svg", scale=8, border=2, xmldecl=False, title="QR")
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = f"public, max-age={QR_MAX_AGE}"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@require_GET
def qr_png(request: HttpRequest, code: str) -> HttpResponse:
    buffer = io.BytesIO()
    _qr(code).save(buffer, kind="png", scale=10, border=2)
    response = HttpResponse(buffer.getvalue(), content_type="image/png")
    response["Cache-Control"] = f"public, max-age={QR_MAX_AGE}"
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="referral-{code.upper()[:40]}.png"'
    return response
