"""The dashboard's program list: every program with its headline numbers (advocates and clicks,
which `tracking` records), so it sits here, above the apps it counts."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.decorators import MerchantRequest, merchant_view
from programs.dashboard import STATUS_BADGES, _may_edit, _summary_line
from programs.models import Program, ProgramVersion
from tracking.models import Advocate, Click


@require_GET
@merchant_view()
def program_list(request: MerchantRequest) -> HttpResponse:
    """Every program with its headline numbers: four queries however many programs there are
    (programs, their current versions, advocates per program, clicks per program)."""
    programs = list(Program.objects.order_by("-created_at", "-pk"))
    ids = [program.pk for program in programs]
    configs: dict[int, dict[str, Any]] = {}
    advocates: dict[int, int] = {}
    clicks: dict[int, int] = {}
    if ids:
        configs = dict(
            ProgramVersion.objects.filter(
                program_id__in=ids, number=F("program__version")
            ).values_list("program_id", "config")
        )
        advocates = _count_by_program(Advocate, ids)
        clicks = _count_by_program(Click, ids)
    rows = [
        {
            "program": program,
            "badge": STATUS_BADGES.get(program.status, "badge-muted"),
            "advocates": advocates.get(program.pk, 0),
            "clicks": clicks.get(program.pk, 0),
            "summary": _summary_line(program, configs.get(program.pk)),
        }
        for program in programs
    ]
    return render(request, "programs/list.html", {"rows": rows, "may_edit": _may_edit(request)})


def _count_by_program(model: type[Advocate] | type[Click], ids: list[int]) -> dict[int, int]:
    rows = (
        model.objects.filter(program_id__in=ids)
        .order_by()
        .values("program_id")
        .annotate(count=Count("pk"))
        .values_list("program_id", "count")
    )
    return dict(rows)
