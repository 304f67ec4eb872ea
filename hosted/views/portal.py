"""The advocate portal, reached through a magic link (a signed, expiring token in the URL: no
login, no session, no cookie). Shows the advocate's link and share buttons, clicks, friends,
orders with the reason when one did not count, rewards with their dates and codes, tier
progress, and (when the merchant allows it) a form to invite friends by email."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Merchant
from hosted import links
from hosted.pages import chrome, page_locale, render_page, same_origin
from hosted.ratelimit import allow
from hosted.selectors import portal_data
from hosted.services import friend_invite, hosted_settings
from hosted.views.join import share_context
from programs.models import ProgramStatus
from programs.services import program_config
from programs.specs import SpecError
from referral_saas import tenancy
from tracking.models import Advocate

INVITE_LIMIT = 30  # invitation posts per advocate per hour


def _advocate(token: str) -> tuple[Merchant, Advocate]:
    read = links.read_portal_token(token)
    if read is None:
        raise Http404("This link has expired.")
    merchant_id, public_id = read
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        raise Http404("This link has expired.")
    with tenancy.merchant_context(merchant):
        advocate = Advocate.objects.select_related("program").filter(public_id=public_id).first()
    if advocate is None:
        raise Http404("This link has expired.")
    return merchant, advocate


@require_GET
def portal(request: HttpRequest, token: str) -> HttpResponse:
    merchant, advocate = _advocate(token)
    return _render(request, token, merchant, advocate)


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
def invite(request: HttpRequest, token: str) -> HttpResponse:
    """Invite friends by email (comma, space or line separated addresses)."""
    merchant, advocate = _advocate(token)
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
    if not allow(f"invite:{advocate.public_id}", limit=INVITE_LIMIT, window_seconds=3600):
        return _render(
            request, token, merchant, advocate, invite={"error": "busy", "emails": raw}, status=429
        )
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
