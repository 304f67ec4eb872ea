"""Advocates in the dashboard: a searchable list, a profile with a timeline, a leaderboard,
and block / unblock.

Every page runs a fixed number of queries whatever the merchant's size: lists never count
(`tracking.paging`), the profile reads bounded slices (the latest clicks, friends, orders and
rewards) plus one count, and the leaderboard is one grouped query. Viewers read; blocking
needs an admin (it changes who gets paid).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.contrib import messages
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import merchant_view
from accounts.models import Membership, Role, User
from programs.models import Program
from programs.specs import SpecError
from referral_saas.money import format_money
from rewards.models import Reward, RewardStatus
from rewards.review_evidence import rule_hits
from tracking.advocate_admin import advocate_block, advocate_unblock
from tracking.models import Advocate, Click, Conversion, ConversionStatus, Referral
from tracking.paging import bounded_page, page_number

PAGE_SIZE = 50
TIMELINE_SLICE = 50
LEADERBOARD_SIZE = 25
MAX_QUERY = 100
# Conversion and reward statuses, coloured by what they mean for the merchant.
STATUS_BADGES = {
    "qualified": "badge-success",
    "issued": "badge-success",
    "approved": "badge-role",
    "review": "badge-warning",
    "held": "badge-warning",
    "rejected": "badge-danger",
    "failed": "badge-danger",
}
PERIODS = [
    ("7", _("Last 7 days")),
    ("30", _("Last 30 days")),
    ("90", _("Last 90 days")),
    ("365", _("Last 12 months")),
    ("all", _("All time")),
]


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str  # joined | click | referral | conversion | reward
    title: str
    detail: str = ""
    status: str = ""
    link: str = ""
    reasons: tuple[Any, ...] = ()  # rewards.review_evidence.RuleHit

    @property
    def badge(self) -> str:
        return STATUS_BADGES.get(self.status, "badge-muted")

    @property
    def status_label(self) -> str:
        """The status in the reader's language (the model's choice label)."""
        choices = RewardStatus if self.kind == "reward" else ConversionStatus
        return str(choices(self.status).label) if self.status in choices.values else self.status


def _membership(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def _programs(request: HttpRequest) -> tuple[list[Program], Program | None]:
    programs = list(Program.objects.order_by("name"))
    wanted = request.GET.get("program", "")
    return programs, next((p for p in programs if p.public_id == wanted), None)


def _search(queryset: Any, query: str) -> Any:
    """Email (prefix), name (anywhere) or the exact referral code."""
    return queryset.filter(
        Q(code=query.upper()) | Q(email__istartswith=query) | Q(name__icontains=query)
    )


@require_GET
@merchant_view()
def advocate_list(request: HttpRequest) -> HttpResponse:
    programs, program = _programs(request)
    query = " ".join(request.GET.get("q", "").split())[:MAX_QUERY]
    queryset = Advocate.objects.all()
    if program is not None:
        queryset = queryset.filter(program=program)
    if query:
        queryset = _search(queryset, query)
    if request.GET.get("blocked") == "1":
        queryset = queryset.filter(blocked_at__isnull=False)
    page = bounded_page(
        queryset.select_related("program").order_by("-created_at", "-pk"),
        number=page_number(request.GET.get("page")),
        size=PAGE_SIZE,
    )
    return render(
        request,
        "advocates/list.html",
        {
            "page": page,
            "query": query,
            "programs": programs,
            "program": program,
            "blocked_only": request.GET.get("blocked") == "1",
        },
    )


def _advocate(advocate_id: str) -> Advocate:
    advocate = Advocate.objects.filter(public_id=advocate_id).select_related("program").first()
    if advocate is None:
        raise Http404("No such advocate.")
    return advocate


def _timeline(advocate: Advocate) -> tuple[list[TimelineEvent], dict[str, int]]:
    """Newest first: the latest slice of each kind of event, merged."""
    clicks = list(Click.objects.filter(advocate=advocate).order_by("-created_at")[:TIMELINE_SLICE])
    referrals = list(
        Referral.objects.filter(advocate=advocate).order_by("-created_at")[:TIMELINE_SLICE]
    )
    conversions = list(
        Conversion.objects.filter(advocate=advocate).order_by("-occurred_at")[:TIMELINE_SLICE]
    )
    rewards = list(
        Reward.objects.filter(advocate=advocate)
        .select_related("conversion")
        .order_by("-created_at")[:TIMELINE_SLICE]
    )
    totals = Click.objects.filter(advocate=advocate).aggregate(clicks=Count("pk"))
    events = [TimelineEvent(advocate.created_at, "joined", gettext("Joined the program"))]
    events += [
        TimelineEvent(
            c.created_at, "click", "Link clicked", c.referer or "No referring site recorded"
        )
        for c in clicks
    ]
    events += [
        TimelineEvent(r.created_at, "referral", f"Friend {r.email}", r.name) for r in referrals
    ]
    events += [
        TimelineEvent(
            c.occurred_at,
            "conversion",
            f"Order {c.order_id}",
            format_money(c.amount, c.currency),
            c.status,
            c.public_id,
            tuple(hit for hit in rule_hits(c.reasons) if hit.outcome != "info"),
        )
        for c in conversions
    ]
    events += [
        TimelineEvent(
            r.created_at,
            "reward",
            f"{r.get_recipient_display()} reward: {_reward_value(r)}",
            gettext("for order %(order_id)s") % {"order_id": r.conversion.order_id},
            r.status,
            r.public_id,
        )
        for r in rewards
    ]
    events.sort(key=lambda event: event.at, reverse=True)
    stats = {
        "clicks": totals["clicks"],
        "friends_shown": len(referrals),
        "conversions_shown": len(conversions),
        "rewards_shown": len(rewards),
    }
    return events, stats


def _reward_value(reward: Any) -> str:
    if reward.amount is not None:
        return (
            format_money(reward.amount, reward.currency) if reward.currency else str(reward.amount)
        )
    if reward.percent is not None:
        return f"{reward.percent}% off"
    if reward.points is not None:
        return f"{reward.points} points"
    return reward.label or reward.kind


@require_GET
@merchant_view()
def advocate_detail(request: HttpRequest, advocate_id: str) -> HttpResponse:
    advocate = _advocate(advocate_id)
    events, stats = _timeline(advocate)
    return render(
        request,
        "advocates/detail.html",
        {
            "advocate": advocate,
            "events": events,
            "stats": stats,
            "slice": TIMELINE_SLICE,
            "may_admin": _membership(request).has_role(Role.ADMIN),
        },
    )


def _back(request: HttpRequest, advocate: Advocate) -> HttpResponse:
    return redirect(
        "advocate_detail",
        merchant_slug=request.merchant.slug,  # type: ignore[attr-defined]
        advocate_id=advocate.public_id,
    )


@require_POST
@merchant_view(least_role=Role.ADMIN)
def advocate_block_view(request: HttpRequest, advocate_id: str) -> HttpResponse:
    advocate = _advocate(advocate_id)
    try:
        advocate_block(
            advocate=advocate,
            reason=request.POST.get("reason", ""),
            actor=cast(User, request.user),
            request=request,
        )
    except SpecError as error:
        for text in error.errors.values():
            messages.error(request, text)
    else:
        messages.success(
            request, f"{advocate.email} is blocked: their new orders will be rejected."
        )
    return _back(request, advocate)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def advocate_unblock_view(request: HttpRequest, advocate_id: str) -> HttpResponse:
    advocate = _advocate(advocate_id)
    try:
        advocate_unblock(advocate=advocate, actor=cast(User, request.user), request=request)
    except SpecError as error:
        for text in error.errors.values():
            messages.error(request, text)
    else:
        messages.success(request, f"{advocate.email} is no longer blocked.")
    return _back(request, advocate)


@require_GET
@merchant_view()
def advocate_leaderboard(request: HttpRequest) -> HttpResponse:
    """Advocates ranked by qualified conversions (orders that earned a reward) in a period."""
    programs, program = _programs(request)
    period = request.GET.get("period", "30")
    if period not in dict(PERIODS):
        period = "30"
    conversions = Conversion.objects.filter(
        status=ConversionStatus.QUALIFIED, advocate__isnull=False
    )
    if period != "all":
        conversions = conversions.filter(
            occurred_at__gte=timezone.now() - timedelta(days=int(period))
        )
    if program is not None:
        conversions = conversions.filter(program=program)
    leaders = list(
        conversions.values(
            "advocate__public_id", "advocate__email", "advocate__name", "advocate__code"
        )
        .annotate(qualified=Count("pk"), revenue=Sum("amount"))
        .order_by("-qualified", "-revenue", "advocate__public_id")[:LEADERBOARD_SIZE]
    )
    return render(
        request,
        "advocates/leaderboard.html",
        {
            "leaders": leaders,
            "period": period,
            "periods": PERIODS,
            "programs": programs,
            "program": program,
            "currency": program.currency if program else "",
        },
    )
