"""The review queue: conversions the fraud rules held, with the evidence side by side, decided
one at a time or in bulk; the list of decided conversions; and the what-if report.

Viewers read everything here; deciding needs the reviewer role (the decorator answers 403
before anything changes). Decisions go through `rewards.pipeline.conversion_review_approve`
and `conversion_review_reject`, which lock the row, refuse anything not in review and write
the audit event. Conversions are fetched through the scoped manager, so another merchant's
id is the same 404 as a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import MerchantRequest, merchant_view
from accounts.models import Membership, Role, User
from programs.models import Program
from programs.specs import SpecError
from rewards import pipeline
from rewards.models import Reward
from rewards.review_evidence import Comparison, RuleHit, comparisons, rule_hits, timing
from tracking.models import Conversion, ConversionStatus
from tracking.paging import bounded_page, page_number

QUEUE_PAGE_SIZE = 20
LIST_PAGE_SIZE = 50
MAX_BULK = 100
DECISIONS = {
    "approve": pipeline.conversion_review_approve,
    "reject": pipeline.conversion_review_reject,
}
STATUS_FILTERS = [
    ("decided", _("All decided")),
    (ConversionStatus.QUALIFIED, _("Qualified")),
    (ConversionStatus.REJECTED, _("Rejected")),
    (ConversionStatus.REFUNDED, _("Refunded")),
    (ConversionStatus.REVIEW, _("In review")),
    (ConversionStatus.UNATTRIBUTED, _("Unattributed")),
    (ConversionStatus.RECEIVED, _("Waiting for evaluation")),
    ("all", _("All")),
]
DECIDED = (ConversionStatus.QUALIFIED, ConversionStatus.REJECTED, ConversionStatus.REFUNDED)
STATUS_BADGES: dict[str, str] = {
    ConversionStatus.QUALIFIED: "badge-success",
    ConversionStatus.REJECTED: "badge-danger",
    ConversionStatus.REVIEW: "badge-warning",
    ConversionStatus.REFUNDED: "badge-muted",
}


@dataclass(frozen=True)
class ReviewItem:
    conversion: Conversion
    hits: list[RuleHit]
    comparisons: list[Comparison]
    timing: dict[str, Any] | None

    @property
    def flagged(self) -> list[RuleHit]:
        return [hit for hit in self.hits if hit.is_hit]

    @property
    def context(self) -> list[RuleHit]:
        return [hit for hit in self.hits if not hit.is_hit]


def _membership(request: MerchantRequest) -> Membership:
    return request.membership


def _with_evidence(queryset: Any) -> Any:
    return queryset.select_related("advocate", "referral", "referral__click", "program")


def _program_currency(conversion: Conversion) -> str:
    """The currency of the amounts in a conversion's reasons (minimums and budgets are the
    program's); stored reasons older than their evidence's `currency` need it."""
    program = conversion.program
    return program.currency if program is not None else conversion.currency


def _item(conversion: Conversion) -> ReviewItem:
    return ReviewItem(
        conversion=conversion,
        hits=rule_hits(conversion.reasons, currency=_program_currency(conversion)),
        comparisons=comparisons(conversion),
        timing=timing(conversion),
    )


def _program_filter(request: MerchantRequest) -> tuple[list[Program], Program | None]:
    programs = list(Program.objects.order_by("name"))
    wanted = request.GET.get("program", "")
    chosen = next((p for p in programs if p.public_id == wanted), None)
    return programs, chosen


@require_GET
@merchant_view()
def review_queue(request: MerchantRequest) -> HttpResponse:
    """Conversions in review, oldest first (the longest-waiting friend is answered first)."""
    programs, program = _program_filter(request)
    queryset = Conversion.objects.filter(status=ConversionStatus.REVIEW)
    if program is not None:
        queryset = queryset.filter(program=program)
    page = bounded_page(
        _with_evidence(queryset).order_by("created_at", "pk"),
        number=page_number(request.GET.get("page")),
        size=QUEUE_PAGE_SIZE,
    )
    return render(
        request,
        "review/queue.html",
        {
            "page": page,
            "items": [_item(conversion) for conversion in page.rows],
            "waiting": queryset.count(),
            "programs": programs,
            "program": program,
            "may_review": _membership(request).has_role(Role.REVIEWER),
            "max_bulk": MAX_BULK,
        },
    )


def _decide_one(
    request: MerchantRequest, conversion: Conversion, decision: str, note: str
) -> str | None:
    """Apply one decision; the error to show, if the service refused it."""
    try:
        DECISIONS[decision](
            conversion=conversion,
            note=note,
            actor=cast(User, request.user),
            request=request,
        )
    except SpecError as error:
        return "; ".join(error.errors.values())
    except PermissionError as error:
        return str(error)
    return None


def _safe_next(request: MerchantRequest) -> str:
    target = request.POST.get("next", "")
    slug = request.merchant.slug
    if target.startswith(f"/m/{slug}/") and "//" not in target and "\\" not in target:
        return target
    return reverse("review_queue", kwargs={"merchant_slug": slug})


@require_POST
@merchant_view(least_role=Role.REVIEWER)
def review_decide(request: MerchantRequest) -> HttpResponse:
    """Approve or reject the chosen conversions (one, or up to MAX_BULK ticked in the queue),
    each in its own transaction: one that someone else decided meanwhile is reported and
    skipped, the rest go through."""
    decision = request.POST.get("decision", "")
    note = request.POST.get("note", "")
    ids = list(dict.fromkeys(request.POST.getlist("conversion")))
    target = _safe_next(request)
    if decision not in DECISIONS:
        messages.error(request, gettext("Choose approve or reject."))
        return redirect(target)
    if not ids:
        messages.error(request, gettext("Tick at least one conversion."))
        return redirect(target)
    if len(ids) > MAX_BULK:
        messages.error(request, f"At most {MAX_BULK} conversions at a time.")
        return redirect(target)
    found = {c.public_id: c for c in Conversion.objects.filter(public_id__in=ids)}
    if len(ids) == 1 and not found:
        raise Http404("No such conversion.")
    done, failures = 0, []
    for public_id in ids:
        conversion = found.get(public_id)
        error = (
            "not found" if conversion is None else _decide_one(request, conversion, decision, note)
        )
        if error is None:
            done += 1
        else:
            failures.append(f"{public_id}: {error}")
    verb = "approved" if decision == "approve" else "rejected"
    if done:
        messages.success(request, f"{done} conversion{'s' if done != 1 else ''} {verb}.")
    for failure in failures:
        messages.error(request, f"Not {verb}: {failure}")
    return redirect(target)


@require_GET
@merchant_view()
def conversion_list(request: MerchantRequest) -> HttpResponse:
    """Conversions by status (decided ones by default), newest first, with their reasons."""
    programs, program = _program_filter(request)
    status = request.GET.get("status") or "decided"
    valid = {value for value, _label in STATUS_FILTERS}
    if status not in valid:
        status = "decided"
    queryset = Conversion.objects.all()
    if status == "decided":
        queryset = queryset.filter(status__in=DECIDED)
    elif status != "all":
        queryset = queryset.filter(status=status)
    if program is not None:
        queryset = queryset.filter(program=program)
    page = bounded_page(
        queryset.select_related("advocate", "program").order_by("-created_at", "-pk"),
        number=page_number(request.GET.get("page")),
        size=LIST_PAGE_SIZE,
    )
    rows = [
        {
            "conversion": conversion,
            "badge": STATUS_BADGES.get(conversion.status, "badge-muted"),
            "hits": [
                hit
                for hit in rule_hits(conversion.reasons, currency=_program_currency(conversion))
                if hit.outcome != "info"
            ],
        }
        for conversion in page.rows
    ]
    return render(
        request,
        "review/conversions.html",
        {
            "page": page,
            "rows": rows,
            "status": status,
            "status_filters": STATUS_FILTERS,
            "programs": programs,
            "program": program,
        },
    )


@require_GET
@merchant_view()
def conversion_detail(request: MerchantRequest, conversion_id: str) -> HttpResponse:
    conversion = _with_evidence(Conversion.objects.filter(public_id=conversion_id)).first()
    if conversion is None:
        raise Http404("No such conversion.")
    rewards = Reward.objects.filter(conversion=conversion).order_by("recipient", "tier")
    return render(
        request,
        "review/conversion_detail.html",
        {
            "item": _item(conversion),
            "conversion": conversion,
            "badge": STATUS_BADGES.get(conversion.status, "badge-muted"),
            "rewards": list(rewards),
            "may_review": _membership(request).has_role(Role.REVIEWER),
        },
    )


@require_GET
@merchant_view(least_role=Role.REVIEWER)
def what_if_report(request: MerchantRequest) -> HttpResponse:
    """Which past decisions the program's *current* rules would change (reads only). Run on
    demand: it re-judges up to the last thousand conversions."""
    programs, program = _program_filter(request)
    report = pipeline.what_if(program=program) if program is not None else None
    return render(
        request,
        "review/what_if.html",
        {"programs": programs, "program": program, "report": report},
    )
