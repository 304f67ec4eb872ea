"""Dashboard pages for a program's code pools: list and create, one pool's page, CSV upload.

Every view is wrapped in `merchant_view`, and the program and pool are fetched through the
scoped managers, so another merchant's ids are the same 404 as ids that do not exist. Viewers
read; writing needs the admin role (403 from the decorator, before anything is parsed).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import merchant_view
from accounts.models import AuditEvent, Membership, Role, User
from programs import pools
from programs.models import CodePool, Program
from programs.specs import SpecError

# The report table stops here; the per-reason counts above it still cover every line.
REPORT_ROWS_SHOWN = 1_000


class CodePoolCreateForm(forms.Form):
    name = forms.CharField(max_length=pools.NAME_MAX_LENGTH, label=_("Name"))
    low_stock_threshold = forms.IntegerField(
        min_value=0,
        max_value=pools.MAX_THRESHOLD,
        initial=20,
        label=_("Warn when codes left reach"),
        help_text=_("The pool is flagged as low on stock at or below this many unused codes."),
    )


class CodePoolUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "One code per line, or a CSV whose first column is the code (a “code” header row "
            "is skipped). Letters, digits, - and _; up to 64 characters; UTF-8; at most 5 MB "
            "and 100,000 lines."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )


# --- Helpers ---------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _may_manage(request: HttpRequest) -> bool:
    membership = cast(Membership, request.membership)  # type: ignore[attr-defined]
    return membership.has_role(Role.ADMIN)


def _program(program_id: str) -> Program:
    program = Program.objects.filter(public_id=program_id).first()
    if program is None:
        raise Http404("No such program.")
    return program


def _pool(program: Program, pool_id: str) -> CodePool:
    pool = CodePool.objects.filter(program=program, public_id=pool_id).first()
    if pool is None:
        raise Http404("No such code pool.")
    return pool


def _program_url(request: HttpRequest, program: Program) -> str:
    """The program's own page belongs to another part of the dashboard; link it if it exists."""
    slug = request.merchant.slug  # type: ignore[attr-defined]
    for name, kwargs in (
        ("program_detail", {"merchant_slug": slug, "program_id": program.public_id}),
        ("program_list", {"merchant_slug": slug}),
    ):
        try:
            return reverse(name, kwargs=kwargs)
        except NoReverseMatch:
            continue
    return ""


def _add_spec_errors(form: forms.Form, error: SpecError) -> None:
    for field, message in error.errors.items():
        form.add_error(field if field in form.fields else None, message)


# --- List and create -------------------------------------------------------------------------


def _render_list(
    request: HttpRequest,
    program: Program,
    *,
    create_form: CodePoolCreateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "program": program,
        "program_url": _program_url(request, program),
        "summaries": pools.code_pool_list(program),
        "may_manage": _may_manage(request),
        "create_form": create_form or CodePoolCreateForm(),
    }
    return render(request, "programs/pools/list.html", context, status=status)


@require_GET
@merchant_view()
def code_pool_list(request: HttpRequest, program_id: str) -> HttpResponse:
    return _render_list(request, _program(program_id))


@require_POST
@merchant_view(least_role=Role.ADMIN)
def code_pool_create(request: HttpRequest, program_id: str) -> HttpResponse:
    program = _program(program_id)
    form = CodePoolCreateForm(request.POST)
    if not form.is_valid():
        return _render_list(request, program, create_form=form, status=400)
    try:
        pool = pools.code_pool_create(
            actor=_user(request),
            program=program,
            name=form.cleaned_data["name"],
            low_stock_threshold=form.cleaned_data["low_stock_threshold"],
            request=request,
        )
    except SpecError as error:
        _add_spec_errors(form, error)
        return _render_list(request, program, create_form=form, status=400)
    messages.success(request, f"Code pool “{pool.name}” created. Upload its codes below.")
    return redirect(
        "code_pool_detail",
        merchant_slug=request.merchant.slug,  # type: ignore[attr-defined]
        program_id=program.public_id,
        pool_id=pool.public_id,
    )


# --- One pool and its upload -----------------------------------------------------------------


def _last_upload(pool: CodePool) -> AuditEvent | None:
    return (
        AuditEvent.objects.filter(
            action="code_pool.uploaded", target_type="codepool", target_id=pool.public_id
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def _render_pool(
    request: HttpRequest,
    program: Program,
    pool: CodePool,
    *,
    upload_form: CodePoolUploadForm | None = None,
    report: pools.UploadReport | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "program": program,
        "program_url": _program_url(request, program),
        "pool": pool,
        "stats": pools.code_pool_stats(pool),
        "may_manage": _may_manage(request),
        "upload_form": upload_form or CodePoolUploadForm(),
        "report": report,
        "report_rows": report.rejected[:REPORT_ROWS_SHOWN] if report else [],
        "report_rows_hidden": max(0, len(report.rejected) - REPORT_ROWS_SHOWN) if report else 0,
        "last_upload": None if report else _last_upload(pool),
    }
    return render(request, "programs/pools/detail.html", context, status=status)


@require_GET
@merchant_view()
def code_pool_detail(request: HttpRequest, program_id: str, pool_id: str) -> HttpResponse:
    program = _program(program_id)
    return _render_pool(request, program, _pool(program, pool_id))


@require_POST
@merchant_view(least_role=Role.ADMIN)
def code_pool_upload(request: HttpRequest, program_id: str, pool_id: str) -> HttpResponse:
    """Not PRG, deliberately: the report (every rejected line) is rendered in this response, so
    it never has to squeeze through the session on its way to a redirect."""
    program = _program(program_id)
    pool = _pool(program, pool_id)
    form = CodePoolUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_pool(request, program, pool, upload_form=form, status=400)
    try:
        report = pools.code_pool_upload(
            actor=_user(request), pool=pool, file=form.cleaned_data["file"], request=request
        )
    except SpecError as error:
        _add_spec_errors(form, error)
        return _render_pool(request, program, pool, upload_form=form, status=400)
    response = _render_pool(request, program, pool, report=report)
    # The report names the merchant's codes: keep it out of shared and back-button caches.
    response["Cache-Control"] = "no-store"
    return response
