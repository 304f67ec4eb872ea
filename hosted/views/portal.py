"""The advocate portal, reached through a magic link (a signed, expiring token in the URL: no
login, no session, no cookie). Shows the advocate's link and share buttons, clicks, friends,
orders with the reason when one did not count, rewards with their dates and codes, tier
progress, and (when the merchant allows it) a form to invite friends by email."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Merchant
from hosted.form_text import refuse_invalid_text
from hosted.pages import chrome, page_locale, render_page, same_origin
from hosted.ratelimit import allow
from hosted.selectors import portal_data
from hosted.services import friend_invite, hosted_settings, portal_link_resend
from hosted.views.join import share_context
from programs.models import ProgramStatus
from programs.services import program_config
from programs.specs import SpecError
from referral_saas import tenancy
from referral_saas.privacy import client_ip
from tracking import links
from tracking.models import Advocate
from tracking.services import ip_hash, normalise_email

INVITE_LIMIT = 30  # invitation posts per advocate per hour
NEW_LINK_LIMIT = 5  # "send me a new link" posts per IP per 10 minutes


def _advocate(token: str) -> tuple[Merchant, Advocate] | None:
    """The merchant and advocate of a valid, unexpired portal token."""
    read = links.read_portal_token(token)
    return _find(*read) if read is not None else None


def _find(merchant_id: int, public_id: str) -> tuple[Merchant, Advocate] | None:
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        return None
    with tenancy.merchant_context(merchant):
        advocate = Advocate.objects.select_related("program").filter(public_id=public_id).first()
    return (merchant, advocate) if advocate is not None else None


@require_GET
def portal(request: HttpRequest, token: str) -> HttpResponse:
    found = _advocate(token)
    if found is None:
        return _link_problem(request, token)
    merchant, advocate = found
    return _render(request, token, merchant, advocate)


# --- A link that no longer opens the portal ---------------------------------------------------


def _link_problem(
    request: HttpRequest, token: str, *, notice: bool = False, error: str = "", status: int = 0
) -> HttpResponse:
    """An expired, damaged or unknown link (404): a page in the advocate's language (from the
    link when it can be read, else the browser's) with "send me a new link" when we can tell
    which program it was for. Nothing about the advocate is shown: the link proves nothing."""
    subject = links.portal_link_subject(token)
    found = _find(subject.merchant_id, subject.advocate_public_id) if subject else None
    expired = subject is not None and subject.authentic
    context: dict[str, Any] = {
        "expired": expired,
        "notice": notice,
        "error": error,
        "new_link_url": reverse("hosted_portal_new_link", args=[token]),
    }
    if found is None:
        locale = _browser_locale(request)
        context.update({"locale": locale, "program": None})
    else:
        merchant, advocate = found
        program = advocate.program
        with tenancy.merchant_context(merchant):
            locale = page_locale(request, program, advocate.locale)
            context.update(
                chrome(
                    request,
                    merchant=merchant,
                    program=program,
                    locale=locale,
                    path=reverse("hosted_portal", args=[token]),
                )
            )
            context["form_token"] = links.form_token(program)
            context["landing_url"] = links.landing_url(program, merchant.slug)
    status = status or 404
    return render_page(
        request, "hosted/portal_link_problem.html", context, locale=locale, status=status
    )


def _browser_locale(request: HttpRequest) -> str:
    ours = [code for code, _name in settings.LANGUAGES]
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        base = code.split("-")[0].lower()
        if base in ours:
            return base
    return "en"


@csrf_exempt
@require_POST
@refuse_invalid_text
def new_link(request: HttpRequest, token: str) -> HttpResponse:
    """ "Send me a new link" from an expired or damaged portal link: emails a fresh portal link
    when the address is an advocate of the link's program, and answers the same either way,
    so the form tells nobody who takes part. Guarded like every public form (signed form
    token, same origin, honeypot, per-IP limit); at most one email per advocate and hour."""
    subject = links.portal_link_subject(token)
    found = _find(subject.merchant_id, subject.advocate_public_id) if subject else None
    if found is None:
        return _link_problem(request, token)
    merchant, advocate = found
    program = advocate.program
    if (
        not same_origin(request)
        or not links.form_token_valid(request.POST.get("token", ""), program)
        or request.POST.get("website")
    ):
        return _link_problem(request, token, error="expired", status=400)
    verdict = allow(
        f"portal-new-link:{ip_hash(client_ip(request))}",
        limit=NEW_LINK_LIMIT,
        window_seconds=600,
    )
    if not verdict:
        refused = _link_problem(request, token, error="busy", status=429)
        refused["Retry-After"] = str(verdict.retry_after)
        return refused
    with tenancy.merchant_context(merchant):
        try:
            email = normalise_email(request.POST.get("email", "")[:254])
        except SpecError:
            return _link_problem(request, token, error="invalid", status=400)
        match = Advocate.objects.filter(program=program, email__iexact=email).first()
        if match is not None:
            portal_link_resend(advocate=match)
    return _link_problem(request, token, notice=True, status=200)


# --- The portal ---------------------------------------------------------------------------------


def _render(
    request: HttpRequest,
    token: str,
    merchant: Merchant,
    advocate: Advocate,
    *,
    invite: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    program = advocate.program
    path = reverse("hosted_portal", args=[token])
    with tenancy.merchant_context(merchant):
        locale = page_locale(request, program, advocate.locale)
        with translation.override(locale):
            data = portal_data(advocate, program, locale)
            config = program_config(program)
            context: dict[str, Any] = chrome(
                request, merchant=merchant, program=program, locale=locale, path=path
            )
            context.update(share_context(advocate, config, merchant, locale))
            context.update(data)
            context.update(
                {
                    "token": token,
                    "invite_url": reverse("hosted_invite", args=[token]),
                    "invitations": hosted_settings(program).friend_emails_enabled,
                    "invite": invite or {},
                    "form_token": links.form_token(program),
                    "is_live": program.status == ProgramStatus.ACTIVE,
                    "first_name": (advocate.name.split() or [""])[0],
                    "invited": int(request.GET["invited"][:3])
                    if request.GET.get("invited", "").isdigit()
                    else None,
                }
            )
    return render_page(request, "hosted/portal.html", context, locale=locale, status=status)


@csrf_exempt
@require_POST
@refuse_invalid_text
def invite(request: HttpRequest, token: str) -> HttpResponse:
    """Invite friends by email (comma, space or line separated addresses)."""
    found = _advocate(token)
    if found is None:
        return _link_problem(request, token)
    merchant, advocate = found
    program = advocate.program
    raw = request.POST.get("emails", "")[:4000]
    if not same_origin(request) or not links.form_token_valid(
        request.POST.get("token", ""), program
    ):
        return _render(
            request,
            token,
            merchant,
            advocate,
            invite={"error": "expired", "emails": raw},
            status=400,
        )
    verdict = allow(f"invite:{advocate.public_id}", limit=INVITE_LIMIT, window_seconds=3600)
    if not verdict:
        refused = _render(
            request, token, merchant, advocate, invite={"error": "busy", "emails": raw}, status=429
        )
        refused["Retry-After"] = str(verdict.retry_after)
        return refused
    emails = [part for part in raw.replace(",", " ").replace(";", " ").split() if part]
    try:
        with tenancy.merchant_context(merchant):
            result = friend_invite(advocate=advocate, emails=emails)
    except SpecError as error:
        code = "off" if "not available" in str(error) else "invalid"
        return _render(
            request, token, merchant, advocate, invite={"error": code, "emails": raw}, status=400
        )
    url = reverse("hosted_portal", args=[token])
    return HttpResponseRedirect(f"{url}?invited={len(result.sent)}#invite")
