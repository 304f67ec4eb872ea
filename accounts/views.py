"""Dashboard views (placeholder until the dashboard shell lands)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.decorators import merchant_view
from accounts.selectors import memberships_for_user


def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard_home")


@login_required
def dashboard_home(request: HttpRequest) -> HttpResponse:
    membership = memberships_for_user(request.user).first()  # type: ignore[arg-type]
    if membership is None:
        return HttpResponse("No merchant yet.")
    return redirect("merchant_overview", membership.merchant.slug)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    return HttpResponse("todo")


@merchant_view()
def overview(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"Overview of {request.merchant.name}")  # type: ignore[attr-defined]
