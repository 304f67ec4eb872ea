"""The rewards page: filter by status and program; approve, reject, mark fulfilled, void and
retry; and the CSV for paying out manual rewards.

Roles: viewers read; reviewers approve and reject (a review decision); admins and owners
also fulfil, void, retry and export (they move money or codes). Each action is one service
call in `rewards.services` / `rewards.fulfilment`, which make the transition a conditional
UPDATE and refuse a reward in the wrong state with a message. The reward services audit with
the label of whoever is acting (set around the call, as the API does for its keys); retry has
no audit of its own, so it is recorded here in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import merchant_view
from accounts.models import Membership, Merchant, Role, User
from accounts.services import audit_actor_activate, audit_actor_deactivate, audit_record
from programs.models import Program
from programs.specs import SpecError
from rewards import fulfilment, services
from rewards.exports import CHUNK_SIZE, csv_response, friend_of_conversion, in_major_units
from rewards.models import Reward, RewardStatus
from rewards.review_evidence import mask_email, rule_hits
from rewards.transitions import Audit
from tracking.paging import bounded_page, page_number

PAGE_SIZE = 50
STATUS_BADGES: dict[str, str] = {
    RewardStatus.PENDING: "badge-muted",
    RewardStatus.HELD: "badge-warning",
    RewardStatus.APPROVED: "badge-role",
    RewardStatus.ISSUED: "badge-success",
    RewardStatus.REJECTED: "badge-danger",
    RewardStatus.VOIDED: "badge-muted",
    RewardStatus.CLAWED_BACK: "badge-muted",
    RewardStatus.FAILED: "badge-danger",
    RewardStatus.REDEEMED: "badge-success",
    RewardStatus.EXPIRED: "badge-muted",
}
PAYOUT_HEADER = [
    "reward_id",
    "advocate_email",
    "advocate_name",
    "recipient",
    "kind",
    "amount",
    "currency",
    "label",
    "conversion_id",
    "order_id",
    "updated_at",
    "friend_email",
    "friend_name",
]


def _merchant(request: HttpRequest) -> Merchant:
    return cast(Merchant, request.merchant)  # type: ignore[attr-defined]


def _membership(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def _reward(reward_id: str) -> Reward:
    reward = (
        Reward.objects.filter(public_id=reward_id)
        .select_related("advocate", "conversion", "conversion__referral", "program", "referral")
        .first()
    )
    if reward is None:
        raise Http404("No such reward.")
    return reward


def friend_shown(reward: Reward, membership: Membership) -> dict[str, str]:
    """The friend behind the reward's order (the referral's email and name, else the buyer's),
    as the member may see them: viewers read the address masked ("j•••@example.com", as the
    advocate portal shows friends), reviewers and above in full, to act on it."""
    conversion = reward.conversion
    # A friend's offer is issued before any order: its own referral names the friend.
    referral = reward.referral if reward.referral_id else (conversion and conversion.referral)
    email = (referral.email if referral else "") or (conversion and conversion.customer_email)
    name = (referral.name if referral else "") or (conversion and conversion.customer_name)
    email, name = email or "", name or ""
    if not membership.has_role(Role.REVIEWER):
        return {"email": mask_email(email) if email else "", "name": "", "masked": "yes"}
    return {"email": email, "name": name, "masked": ""}


@contextmanager
def _acting_as(request: HttpRequest) -> Iterator[None]:
    """Audit events written by the reward services name the dashboard user."""
    token = audit_actor_activate(cast(User, request.user).email)
    try:
        yield
    finally:
        audit_actor_deactivate(token)


@require_GET
@merchant_view()
def reward_list(request: HttpRequest) -> HttpResponse:
    programs = list(Program.objects.order_by("name"))
    program = next((p for p in programs if p.public_id == request.GET.get("program")), None)
    status = request.GET.get("status", "")
    if status not in RewardStatus.values:
        status = ""
    scope = Reward.objects.all()
    if program is not None:
        scope = scope.filter(program=program)
    # One grouped query for the status tabs (the (merchant, status) index serves it).
    counts = dict(scope.order_by().values_list("status").annotate(total=Count("pk")))
    rows = scope.filter(status=status) if status else scope
    page = bounded_page(
        rows.select_related("advocate", "conversion", "conversion__referral", "referral").order_by(
            "-created_at", "-pk"
        ),
        number=page_number(request.GET.get("page")),
        size=PAGE_SIZE,
    )
    membership = _membership(request)
    return render(
        request,
        "rewards_ops/list.html",
        {
            "page": page,
            "rows": [
                {
                    "reward": r,
                    "badge": STATUS_BADGES.get(r.status, ""),
                    "friend": friend_shown(r, membership),
                }
                for r in page.rows
            ],
            "tabs": [(value, label, counts.get(value, 0)) for value, label in RewardStatus.choices],
            "total": sum(counts.values()),
            "status": status,
            "programs": programs,
            "program": program,
            "may_review": membership.has_role(Role.REVIEWER),
            "may_admin": membership.has_role(Role.ADMIN),
        },
    )


@require_GET
@merchant_view()
def reward_detail(request: HttpRequest, reward_id: str) -> HttpResponse:
    reward = _reward(reward_id)
    membership = _membership(request)
    return render(
        request,
        "rewards_ops/detail.html",
        {
            "reward": reward,
            "badge": STATUS_BADGES.get(reward.status, ""),
            "friend": friend_shown(reward, membership),
            "hits": rule_hits(
                reward.reasons,
                currency=reward.program.currency if reward.program else reward.currency,
            ),
            "may_review": membership.has_role(Role.REVIEWER),
            "may_admin": membership.has_role(Role.ADMIN),
            "merchant_fulfilled": reward.fulfilment_method in services.MERCHANT_FULFILLED_METHODS,
        },
    )


def _act(
    request: HttpRequest, reward_id: str, action: Callable[[Reward], Any], done: str
) -> HttpResponse:
    """Run one transition and come back to where the button was, with what happened."""
    reward = _reward(reward_id)
    try:
        with _acting_as(request):
            action(reward)
    except SpecError as error:
        for text in error.errors.values():
            messages.error(request, f"{reward.public_id}: {text}")
    else:
        messages.success(request, f"Reward {reward.public_id} {done}.")
    target = request.POST.get("next", "")
    slug = _merchant(request).slug
    if not (target.startswith(f"/m/{slug}/") and "//" not in target and "\\" not in target):
        target = reverse("reward_detail", kwargs={"merchant_slug": slug, "reward_id": reward_id})
    return redirect(target)


@require_POST
@merchant_view(least_role=Role.REVIEWER)
def reward_approve(request: HttpRequest, reward_id: str) -> HttpResponse:
    return _act(
        request,
        reward_id,
        lambda reward: services.reward_approve(reward=reward, request=request),
        "approved",
    )


@require_POST
@merchant_view(least_role=Role.REVIEWER)
def reward_reject(request: HttpRequest, reward_id: str) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _act(
        request,
        reward_id,
        lambda reward: services.reward_reject(reward=reward, reason=reason, request=request),
        "rejected",
    )


@require_POST
@merchant_view(least_role=Role.ADMIN)
def reward_void(request: HttpRequest, reward_id: str) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _act(
        request,
        reward_id,
        lambda reward: services.reward_void(reward=reward, reason=reason, request=request),
        "voided",
    )


@require_POST
@merchant_view(least_role=Role.ADMIN)
def reward_fulfil(request: HttpRequest, reward_id: str) -> HttpResponse:
    code = request.POST.get("code", "")
    external_id = request.POST.get("external_id", "")
    return _act(
        request,
        reward_id,
        lambda reward: services.reward_fulfil(
            reward=reward, code=code, external_id=external_id, request=request
        ),
        "marked as fulfilled",
    )


def _retry(request: HttpRequest, reward: Reward) -> Reward:
    with transaction.atomic():
        who = Audit(
            request=request, actor=cast(User, request.user), data={"last_error": reward.last_error}
        )
        return fulfilment.reward_retry(reward=reward, audit=who)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def reward_retry(request: HttpRequest, reward_id: str) -> HttpResponse:
    return _act(request, reward_id, lambda reward: _retry(request, reward), "queued for retry")


@require_GET
@merchant_view(least_role=Role.ADMIN)
def reward_payout_export(request: HttpRequest) -> HttpResponse:
    """Approved manual rewards with whom to pay and how much: the merchant pays them out, then
    marks each fulfilled (here or through the API). Audited as `export.manual_payouts`."""
    merchant = _merchant(request)
    rows = (
        Reward.objects.filter(status=RewardStatus.APPROVED, fulfilment_method="manual")
        .annotate(
            friend_email=friend_of_conversion("email", "conversion__"),
            friend_name=friend_of_conversion("name", "conversion__"),
        )
        .order_by("pk")
        .values_list(
            "public_id",
            "advocate__email",
            "advocate__name",
            "recipient",
            "kind",
            "amount",
            "currency",
            "label",
            "conversion__public_id",
            "conversion__order_id",
            "updated_at",
            "friend_email",
            "friend_name",
        )
    )
    audit_record(
        action="export.manual_payouts",
        actor=cast(User, request.user),
        request=request,
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    # merchant_view is typed for HttpResponse; a streaming response is served the same way.
    return cast(
        HttpResponse,
        csv_response(
            merchant=merchant,
            filename=f"{merchant.slug}-manual-payouts-{stamp}.csv",
            header=PAYOUT_HEADER,
            rows=in_major_units(rows.iterator(chunk_size=CHUNK_SIZE), PAYOUT_HEADER, ["amount"]),
        ),
    )
