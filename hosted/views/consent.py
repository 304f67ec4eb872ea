"""Recording consent choices (accept, refuse, withdraw: each one click) and friends' opt-outs."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Merchant
from hosted.consent import consent_state, new_visitor_id, set_choice_cookies
from hosted.form_text import refuse_invalid_text
from hosted.models import ConsentChoice
from hosted.pages import page_locale, render_page, same_origin
from hosted.services import consent_record, friend_opt_out
from programs.models import Program, ProgramStatus
from referral_saas import tenancy
from tracking import links


def _program(public_id: str) -> Program | None:
    """The program named by the banner's form (public ids are global, so no merchant needed)."""
    if not public_id or len(public_id) > 32:
        return None
    program = (
        Program.unscoped_all_merchants.select_related("merchant")
        .filter(public_id=public_id)
        .first()
    )
    return program if program is not None and program.status != ProgramStatus.DRAFT else None


@csrf_exempt
@require_POST
@refuse_invalid_text
def consent(request: HttpRequest) -> HttpResponse:
    """One click: accept (a visitor id is created), refuse, or withdraw (the id is deleted)."""
    program = _program(request.POST.get("program", ""))
    choice = request.POST.get("choice", "")
    if program is None or choice not in ConsentChoice.values or not same_origin(request):
        return HttpResponse("Bad request", status=400, content_type="text/plain")
    state = consent_state(request)
    granted = choice == ConsentChoice.GRANTED
    visitor_id = (state.visitor_id or new_visitor_id()) if granted else state.visitor_id
    with tenancy.merchant_context(program.merchant):
        consent_record(
            program=program,
            choice=choice,
            locale=page_locale(request, program, request.POST.get("lang", "")),
            visitor_id=visitor_id,
            click_public_id=links.read_click_token(request.POST.get("click", "")),
        )
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts=None) or not target.startswith(
        "/"
    ):
        target = "/"
    response = HttpResponseRedirect(target)
    set_choice_cookies(response, granted=granted, visitor_id=visitor_id)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
@refuse_invalid_text
def opt_out(request: HttpRequest, token: str) -> HttpResponse:
    """A friend's "never email me again": GET shows the button (mail scanners follow links, so
    a GET must not opt anyone out), POST records it."""
    read = links.read_opt_out_token(token)
    if read is None:
        raise Http404("This link has expired.")
    merchant_id, email = read
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        raise Http404("This link has expired.")
    locale = request.GET.get("lang", "") or "en"
    if locale not in {"en", "it", "ro", "pl"}:
        locale = "en"
    done = False
    if request.method == "POST":
        if not same_origin(request):
            return HttpResponse("Bad request", status=400, content_type="text/plain")
        with tenancy.merchant_context(merchant):
            friend_opt_out(email=email)
        done = True
    context = {"merchant": merchant, "email": email, "done": done, "locale": locale}
    return render_page(request, "hosted/opt_out.html", context, locale=locale)
