"""The merchant's side of the hosted pages: a program's friend-email and email-capture switches,
and vanity codes for its advocates (admins and owners)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.decorators import merchant_view
from accounts.models import Role
from hosted.services import advocate_set_vanity_code, hosted_settings, hosted_settings_update
from programs.models import Program
from programs.specs import SpecError
from tracking.models import Advocate
from tracking.services import CODE_PATTERN


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.ADMIN)
def program_hosted_settings(request: HttpRequest, program_id: str) -> HttpResponse:
    program = get_object_or_404(Program, public_id=program_id)
    vanity_error = ""
    status = 200
    if request.method == "POST" and request.POST.get("action") == "settings":
        hosted_settings_update(
            program=program,
            friend_emails_enabled=request.POST.get("friend_emails_enabled") == "on",
            friend_email_capture=request.POST.get("friend_email_capture") == "on",
            welcome_email_for_api_enrolments=request.POST.get("welcome_email_for_api_enrolments")
            == "on",
        )
        messages.success(request, "Hosted page settings saved.")
        return redirect(request.path)
    if request.method == "POST" and request.POST.get("action") == "vanity":
        current = request.POST.get("current_code", "").strip().upper()
        advocate = (
            Advocate.objects.filter(program=program, code=current).first()
            if CODE_PATTERN.match(current)
            else None
        )
        if advocate is None:
            vanity_error = "No advocate of this program has that code."
        else:
            try:
                advocate = advocate_set_vanity_code(
                    advocate=advocate, code=request.POST.get("new_code", "")
                )
            except SpecError as error:
                vanity_error = error.errors.get("code", "Invalid code.")
            else:
                messages.success(
                    request,
                    f"{current} is now {advocate.code}; links with the old code still work.",
                )
                return redirect(request.path)
        status = 400
    context = {
        "program": program,
        "settings": hosted_settings(program),
        "vanity_error": vanity_error,
    }
    return render(request, "hosted/dashboard_settings.html", context, status=status)
