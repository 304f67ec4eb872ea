"""Joining from the landing page, the page after joining, and "send me my link again".

No CSRF cookie may be set before consent, so these forms are protected by a signed form token
(served with the page, bound to the program, valid for hours), the same-origin check on
`Origin`/`Sec-Fetch-Site`, a honeypot field and a per-IP rate limit (keyed hash of the IP).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Merchant
from hosted.consent import consent_state
from hosted.form_text import refuse_invalid_text
from hosted.pages import chrome, page_locale, render_page, same_origin
from hosted.ratelimit import allow
from hosted.services import hosted_join, portal_link_resend
from hosted.share import share_links, share_message
from hosted.views.landing import landing_response
from programs.models import Program, ProgramStatus
from programs.services import program_config
from programs.specs import SpecError
from programs.summary import offer_headline
from referral_saas import tenancy
from referral_saas.privacy import client_ip
from tracking import links
from tracking.models import Advocate
from tracking.services import ip_hash, normalise_email

JOIN_LIMIT = 10  # joins per IP per window
RESEND_LIMIT = 5
WINDOW_SECONDS = 600


def _program(merchant_slug: str, program_slug: str) -> tuple[Merchant, Program]:
    merchant = Merchant.objects.filter(slug=merchant_slug).first()
    if merchant is None:
        raise Http404("No such program.")
    with tenancy.merchant_context(merchant):
        program = Program.objects.filter(slug=program_slug).first()
    if program is None or program.status == ProgramStatus.DRAFT:
        raise Http404("No such program.")
    return merchant, program


def _guard(request: HttpRequest, program: Program, action: str, limit: int) -> tuple[str, int]:
    """('', 0) when the post may go on, else the error code the form shows and, when it is
    "busy", the seconds until the visitor may try again (`Retry-After`)."""
    if not same_origin(request) or not links.form_token_valid(
        request.POST.get("token", ""), program
    ):
        return ("expired", 0)
    if request.POST.get("website"):
        return ("expired", 0)  # the honeypot; answer like an expired form, tell bots nothing
    verdict = allow(
        f"{action}:{ip_hash(client_ip(request))}", limit=limit, window_seconds=WINDOW_SECONDS
    )
    if not verdict:
        return ("busy", verdict.retry_after)
    return ("", 0)


def _refused(response: HttpResponse, retry_after: int) -> HttpResponse:
    if response.status_code == 429:
        response["Retry-After"] = str(retry_after)
    return response


@csrf_exempt
@require_POST
@refuse_invalid_text
def join(request: HttpRequest, merchant_slug: str, program_slug: str) -> HttpResponse:
    merchant, program = _program(merchant_slug, program_slug)
    values = {
        "email": request.POST.get("email", "")[:254],
        "name": request.POST.get("name", "")[:120],
    }
    with tenancy.merchant_context(merchant):
        locale = page_locale(request, program, request.POST.get("lang", ""))
        if program.status != ProgramStatus.ACTIVE:
            return landing_response(request, merchant, program, locale=locale)
        problem, retry_after = _guard(request, program, "join", JOIN_LIMIT)
        if problem:
            response = landing_response(
                request,
                merchant,
                program,
                locale=locale,
                join_errors={"form": problem},
                join_values=values,
                status=429 if problem == "busy" else 400,
            )
            return _refused(response, retry_after)
        try:
            enrolment = hosted_join(
                program=program,
                email=values["email"],
                name=values["name"],
                locale=locale,
                accepted_terms=request.POST.get("consent") == "yes",
                ip=client_ip(request),
                visitor_id=consent_state(request).visitor_id,
            )
        except SpecError as error:
            codes = {field: "invalid" for field in error.errors}
            return landing_response(
                request,
                merchant,
                program,
                locale=locale,
                join_errors=codes,
                join_values=values,
                status=400,
            )
    token = links.welcome_token(enrolment.advocate, created=enrolment.created)
    url = reverse("hosted_welcome", args=[merchant.slug, program.slug, token])
    return HttpResponseRedirect(f"{url}?lang={locale}")


@csrf_exempt
@require_POST
@refuse_invalid_text
def resend(request: HttpRequest, merchant_slug: str, program_slug: str) -> HttpResponse:
    """ "Send me my link again": the same answer whether or not the address is enrolled, so the
    form cannot be used to find out who takes part."""
    merchant, program = _program(merchant_slug, program_slug)
    with tenancy.merchant_context(merchant):
        locale = page_locale(request, program, request.POST.get("lang", ""))
        problem, retry_after = _guard(request, program, "resend", RESEND_LIMIT)
        if problem:
            response = landing_response(
                request,
                merchant,
                program,
                locale=locale,
                resend_error=problem,
                status=429 if problem == "busy" else 400,
            )
            return _refused(response, retry_after)
        try:
            email = normalise_email(request.POST.get("email", ""))
        except SpecError:
            return landing_response(
                request, merchant, program, locale=locale, resend_error="invalid", status=400
            )
        advocate = Advocate.objects.filter(program=program, email__iexact=email).first()
        if advocate is not None:
            portal_link_resend(advocate=advocate)
        return landing_response(request, merchant, program, locale=locale, resend_done=True)


@require_GET
def welcome(
    request: HttpRequest, merchant_slug: str, program_slug: str, token: str
) -> HttpResponse:
    """After joining: link, code, QR, share buttons; the portal link only for a new advocate."""
    read = links.read_welcome_token(token)
    if read is None:
        raise Http404("This page has expired.")
    public_id, created = read
    merchant, program = _program(merchant_slug, program_slug)
    with tenancy.merchant_context(merchant):
        advocate = Advocate.objects.filter(public_id=public_id, program=program).first()
        if advocate is None:
            raise Http404("No such advocate.")
        locale = page_locale(request, program, advocate.locale)
        config = program_config(program)
    path = reverse("hosted_welcome", args=[merchant.slug, program.slug, token])
    context: dict[str, Any] = chrome(
        request, merchant=merchant, program=program, locale=locale, path=path
    )
    with translation.override(locale):
        context.update(share_context(advocate, config, merchant, locale))
        context.update(
            {
                "created": created,
                "portal_url": links.portal_url(advocate) if created else "",
                "headline": offer_headline(config, locale),
            }
        )
    return render_page(request, "hosted/welcome.html", context, locale=locale)


def share_context(
    advocate: Advocate, config: Any, merchant: Merchant, locale: str
) -> dict[str, Any]:
    """Link, code, QR and share buttons (call inside translation.override(locale))."""
    from django.utils.translation import gettext

    url = links.referral_url(advocate)
    message = share_message(config=config, merchant_name=merchant.name, locale=locale)
    subject = gettext("A gift for you from %(merchant)s") % {"merchant": merchant.name}
    return {
        "advocate": advocate,
        "referral_url": url,
        "code": advocate.code,
        "qr_svg_url": reverse("hosted_qr_svg", args=[advocate.code]),
        "qr_png_url": reverse("hosted_qr_png", args=[advocate.code]) + "?download=1",
        "share_message": message,
        "share_links": share_links(url=url, message=message, subject=subject),
    }
