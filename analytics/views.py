"""Analytics pages: the per-program overview with its A/B results, and ending an A/B test.
The merchant overview (`accounts.views.overview`) renders the same numbers for all programs
through `overview_context`."""

from __future__ import annotations

from typing import Any, Literal, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import merchant_view
from accounts.models import Membership, Role, User
from analytics import abtest, presenters
from analytics.kpis import PRESET_DAYS, program_overview
from analytics.models import RollupState
from analytics.services import abtest_end, abtest_results, today_utc
from programs.models import Program
from programs.specs import SpecError


def overview_context(
    request: HttpRequest,
    program: Program | None,
    *,
    rollups: RollupState | Literal["read"] | None = "read",
) -> tuple[dict[str, Any], int]:
    """Everything the overview partial needs, and the status (400 for a bad custom period,
    which is reported and replaced by the default period). `rollups`: the merchant's
    `RollupState` when the caller read it already."""
    today = today_utc()
    status = 200
    error = ""
    try:
        period = presenters.parse_period(request.GET, today)
    except presenters.PeriodError as problem:
        error, status = str(problem), 400
        period = presenters.parse_period(QueryDict(), today)
    overview = program_overview(period=period, program=program, state=rollups)
    currency = presenters.main_currency(overview)
    preset = request.GET.get("days") if not request.GET.get("from") else None
    return {
        "overview": overview,
        "kpis": presenters.kpi_cards(overview),
        "funnel": presenters.funnel(overview),
        "series": presenters.chart_series(overview, currency),
        "period_error": error,
        "presets": PRESET_DAYS,
        "preset": int(preset) if preset and preset.isdigit() else (None if error else 30),
        "is_custom": bool(request.GET.get("from")) and not error,
        "today": today,
    }, status


@require_GET
@merchant_view()
def program_analytics(request: HttpRequest, program_id: str) -> HttpResponse:
    program = get_object_or_404(Program, public_id=program_id)
    context, status = overview_context(request, program)
    results = abtest_results(program=program)
    membership = cast(Membership, request.membership)  # type: ignore[attr-defined]
    context.update(
        {
            "program": program,
            "ab": results,
            "ab_rows": _ab_rows(results),
            "may_end_test": membership.has_role(Role.ADMIN),
        }
    )
    return render(request, "analytics/program.html", context, status=status)


def _ab_rows(results: abtest.AbResult | None) -> list[dict[str, Any]]:
    if results is None:
        return []
    return [
        {
            "result": result,
            "rate": presenters.percent(result.rate),
            "verdict": abtest.verdict(result, results.control),
        }
        for result in results.variants
    ]


@require_POST
@merchant_view(least_role=Role.ADMIN)
def program_abtest_end(request: HttpRequest, program_id: str) -> HttpResponse:
    program = get_object_or_404(Program, public_id=program_id)
    keep = request.POST.get("keep", "")
    try:
        abtest_end(actor=cast(User, request.user), program=program, keep=keep, request=request)
    except SpecError as error:
        for text in error.errors.values():
            messages.error(request, text)
    else:
        messages.success(
            request, f"The A/B test is over: every new advocate now gets variant “{keep}”."
        )
    merchant_slug = cast(Any, request).merchant.slug
    return redirect(
        reverse(
            "program_analytics",
            kwargs={"merchant_slug": merchant_slug, "program_id": program.public_id},
        )
    )
