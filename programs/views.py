"""Hosted pages. The foundation renders the program's public page; the hosted-experience issue
adds the join form, offer headline, consent and languages."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Merchant
from programs.models import Program, ProgramStatus
from referral_saas import tenancy


def program_landing(request: HttpRequest, merchant_slug: str, program_slug: str) -> HttpResponse:
    merchant = Merchant.objects.filter(slug=merchant_slug).first()
    if merchant is None:
        raise Http404("No such program.")
    with tenancy.merchant_context(merchant):
        program = Program.objects.filter(slug=program_slug).first()
        if program is None or program.status == ProgramStatus.DRAFT:
            raise Http404("No such program.")
        return render(
            request,
            "programs/landing.html",
            {
                "merchant": merchant,
                "program": program,
                "is_live": program.status == ProgramStatus.ACTIVE,
            },
            status=200 if program.status == ProgramStatus.ACTIVE else 410,
        )
