"""Dashboard views: parse the request, call one service, render or redirect.

Every view under `/m/<merchant_slug>/` is wrapped in `merchant_view`, which checks membership
and role on each request and sets the current merchant, so the scoped managers below only ever
see this merchant's rows and "not yours" is the same 404 as "not found".
"""

from __future__ import annotations

from typing import Any, cast

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import services
from accounts.audit_display import describe
from accounts.decorators import SESSION_MERCHANT_KEY, merchant_view
from accounts.forms import (
    ApiKeyCreateForm,
    ApiKeyRollForm,
    InvitationForm,
    MerchantCreateForm,
    MerchantProfileForm,
    MerchantSecurityForm,
    RoleChangeForm,
    StripeWebhookSecretForm,
)
from accounts.mail import sending_address
from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Merchant, Role
from accounts.models import User as UserModel
from accounts.selectors import invitations_open_for_email, memberships_for_user
from accounts.stripe_secret import secret_ending, stripe_webhook_secret_set
from referral_saas.errors import InvalidInput

AUDIT_PAGE_SIZE = 50


# --- Helpers ---------------------------------------------------------------------------------


def _user(request: HttpRequest) -> UserModel:
    return cast(UserModel, request.user)


def _merchant(request: HttpRequest) -> Merchant:
    return cast(Merchant, request.merchant)  # type: ignore[attr-defined]


def _membership(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def _report(request: HttpRequest, error: ValidationError) -> None:
    """An invariant the service refused (last owner, wrong role...) becomes a message, not a 500."""
    for text in error.messages:
        messages.error(request, text)


def _report_form(request: HttpRequest, form: Any) -> None:
    for field, errors in form.errors.items():
        label = form[field].label if field in form.fields else ""
        for text in errors:
            messages.error(request, f"{label}: {text}" if label else text)


def _optional_url(name: str, **kwargs: Any) -> str:
    """Link to pages other apps may not have shipped yet (e.g. the programs list)."""
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return ""


def _to(name: str, request: HttpRequest, **kwargs: Any) -> HttpResponse:
    return redirect(name, merchant_slug=_merchant(request).slug, **kwargs)


# --- Entry points ----------------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard_home")
    return redirect("account_login")


@require_GET
@login_required
def dashboard_home(request: HttpRequest) -> HttpResponse:
    """Back to the merchant the user last worked in, if they still belong to it."""
    memberships = list(memberships_for_user(_user(request)))
    if not memberships:
        return redirect("merchant_create")
    last_slug = request.session.get(SESSION_MERCHANT_KEY)
    chosen = next((m for m in memberships if m.merchant.slug == last_slug), memberships[0])
    return redirect("merchant_overview", merchant_slug=chosen.merchant.slug)


@login_required
def merchant_create(request: HttpRequest) -> HttpResponse:
    form = MerchantCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            merchant = services.merchant_create(
                name=form.cleaned_data["name"], owner=_user(request), request=request
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"{merchant.name} is ready. You are its owner.")
            return redirect("merchant_overview", merchant_slug=merchant.slug)
    pending = invitations_open_for_email(_user(request).email)
    return render(
        request, "dashboard/merchant_create.html", {"form": form, "pending_invitations": pending}
    )


@require_POST
@login_required
def invitation_accept_pending(request: HttpRequest, invitation_id: str) -> HttpResponse:
    """Accept an invitation addressed to the signed-in user's verified email, without its
    token (for people who signed up after being invited). Anyone else's is a 404."""
    user = _user(request)
    invitation = invitations_open_for_email(user.email).filter(public_id=invitation_id).first()
    if invitation is None:
        raise Http404("No such invitation.")
    try:
        membership = services.invitation_accept(invitation=invitation, user=user, request=request)
    except ValidationError as error:
        _report(request, error)
        return redirect("merchant_create")
    messages.success(
        request,
        f"Welcome to {invitation.merchant.name}. You joined as {membership.get_role_display()}.",
    )
    return redirect("merchant_overview", merchant_slug=invitation.merchant.slug)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.invitation_find(token)
    if invitation is None:
        return render(request, "dashboard/invitation_missing.html", status=404)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.path)
        try:
            membership = services.invitation_accept(
                invitation=invitation, user=_user(request), request=request
            )
        except ValidationError as error:
            _report(request, error)
            return redirect("invitation_accept", token=token)
        merchant = invitation.merchant
        messages.success(
            request, f"Welcome to {merchant.name}. You joined as {membership.get_role_display()}."
        )
        return redirect("merchant_overview", merchant_slug=merchant.slug)
    email_matches = (
        request.user.is_authenticated and _user(request).email.lower() == invitation.email.lower()
    )
    return render(
        request,
        "dashboard/invitation_accept.html",
        {"invitation": invitation, "merchant": invitation.merchant, "email_matches": email_matches},
    )


# --- Team ------------------------------------------------------------------------------------


def _grantable_roles(actor: Membership) -> list[tuple[str, Any]]:
    """The roles `actor` may hand out (the service enforces the same rule)."""
    return [
        (value, label)
        for value, label in Role.choices
        if value != Role.OWNER or actor.role == Role.OWNER
    ]


@require_GET
@merchant_view(live_only=True)
def team(request: HttpRequest) -> HttpResponse:
    actor = _membership(request)
    members = Membership.objects.select_related("user").order_by("created_at", "pk")
    invitations = Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True
    ).order_by("-created_at")
    owner_count = sum(1 for member in members if member.role == Role.OWNER)
    return render(
        request,
        "dashboard/team.html",
        {
            "members": members,
            "invitations": invitations,
            "owner_count": owner_count,
            "may_manage": actor.has_role(Role.ADMIN),
            "grantable_roles": _grantable_roles(actor),
            "invite_form": InvitationForm(),
        },
    )


@require_POST
@merchant_view(least_role=Role.ADMIN, live_only=True)
def team_invite(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if not form.is_valid():
        _report_form(request, form)
        return _to("team", request)
    try:
        issued = services.invitation_create(
            actor=_membership(request),
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            request=request,
        )
    except ValidationError as error:
        _report(request, error)
    else:
        messages.success(request, f"Invitation sent to {issued.invitation.email}.")
    return _to("team", request)


@require_POST
@merchant_view(least_role=Role.ADMIN, live_only=True)
def member_change_role(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=member_id)
    form = RoleChangeForm(request.POST)
    if not form.is_valid():
        _report_form(request, form)
        return _to("team", request)
    try:
        services.membership_change_role(
            actor=_membership(request),
            membership=membership,
            role=form.cleaned_data["role"],
            request=request,
        )
    except ValidationError as error:
        _report(request, error)
    else:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display().lower()}."
        )
    return _to("team", request)


@require_POST
@merchant_view(least_role=Role.ADMIN, live_only=True)
def member_remove(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=member_id)
    email = membership.user.email
    try:
        services.membership_remove(
            actor=_membership(request), membership=membership, request=request
        )
    except ValidationError as error:
        _report(request, error)
        return _to("team", request)
    if membership.user_id == request.user.pk:
        messages.success(request, f"You left {_merchant(request).name}.")
        request.session.pop(SESSION_MERCHANT_KEY, None)
        return redirect("dashboard_home")
    messages.success(request, f"{email} was removed from the team.")
    return _to("team", request)


@require_POST
@merchant_view(least_role=Role.ADMIN, live_only=True)
def invitation_revoke(request: HttpRequest, invitation_id: str) -> HttpResponse:
    invitation = get_object_or_404(Invitation, public_id=invitation_id)
    services.invitation_revoke(actor=_membership(request), invitation=invitation, request=request)
    messages.success(request, f"The invitation to {invitation.email} was revoked.")
    return _to("team", request)


# --- API keys --------------------------------------------------------------------------------


def _render_keys(
    request: HttpRequest,
    *,
    issued: services.IssuedKey | None = None,
    create_form: ApiKeyCreateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    keys = ApiKey.objects.select_related("created_by", "replaced_by").order_by("-created_at")
    response = render(
        request,
        "dashboard/api_keys.html",
        {
            "keys": keys,
            "issued": issued,
            "create_form": create_form or ApiKeyCreateForm(),
            "roll_form": ApiKeyRollForm(
                initial={"grace_hours": settings.API_KEY_DEFAULT_ROLL_GRACE_HOURS}
            ),
        },
        status=status,
    )
    if issued is not None:
        # The plaintext exists only in this response: never cached, never stored server-side.
        response["Cache-Control"] = "no-store"
    return response


@require_GET
@merchant_view(least_role=Role.ADMIN)
def api_keys(request: HttpRequest) -> HttpResponse:
    return _render_keys(request)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def api_key_create(request: HttpRequest) -> HttpResponse:
    """Not PRG on success, deliberately: the plaintext is shown once, in this very response, so
    it never has to sit in the session or a cookie waiting for a redirect."""
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _render_keys(request, create_form=form, status=400)
    try:
        issued = services.api_key_create(
            actor=_user(request),
            kind=form.cleaned_data["kind"],
            name=form.cleaned_data["name"],
            allowed_origins=form.cleaned_data["allowed_origins"],
            request=request,
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _render_keys(request, create_form=form, status=400)
    messages.success(request, f"Key “{issued.key.name}” created. Copy it now.")
    return _render_keys(request, issued=issued, status=201)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def api_key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    key = get_object_or_404(ApiKey, public_id=key_id)
    services.api_key_revoke(actor=_user(request), key=key, request=request)
    messages.success(request, f"Key {key.masked} was revoked. Requests using it are refused.")
    return _to("api_keys", request)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def api_key_roll(request: HttpRequest, key_id: str) -> HttpResponse:
    key = get_object_or_404(ApiKey, public_id=key_id)
    form = ApiKeyRollForm(request.POST)
    if not form.is_valid():
        _report_form(request, form)
        return _to("api_keys", request)
    try:
        issued = services.api_key_roll(
            actor=_user(request),
            key=key,
            grace_hours=form.cleaned_data["grace_hours"],
            request=request,
        )
    except ValidationError as error:
        _report(request, error)
        return _to("api_keys", request)
    messages.success(request, f"Key {key.masked} was rolled. Copy the replacement now.")
    return _render_keys(request, issued=issued, status=201)


# --- Audit log and settings ------------------------------------------------------------------


@require_GET
@merchant_view(least_role=Role.ADMIN)
def audit_log(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.order_by("-created_at", "-pk")
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for event in page.object_list:
        event.line = describe(event)
    # htmx pagination swaps only the table, keeping the user's place and focus in the page.
    partial = bool(request.htmx)  # type: ignore[attr-defined]
    template = "dashboard/_audit_table.html" if partial else "dashboard/audit_log.html"
    return render(request, template, {"page": page})


def _render_settings(
    request: HttpRequest,
    *,
    profile_form: MerchantProfileForm | None = None,
    stripe_form: StripeWebhookSecretForm | None = None,
    status: int = 200,
) -> HttpResponse:
    merchant = _merchant(request)
    if profile_form is None:
        profile_form = MerchantProfileForm(
            initial={field: getattr(merchant, field) for field in services.PROFILE_FIELDS}
        )
    return render(
        request,
        "dashboard/settings.html",
        {
            "profile_form": profile_form,
            "form": MerchantSecurityForm(initial={"require_owner_mfa": merchant.require_owner_mfa}),
            "user_has_mfa": is_mfa_enabled(request.user),
            "stripe_form": stripe_form or StripeWebhookSecretForm(),
            "stripe_secret_ending": secret_ending(merchant.stripe_webhook_secret),
            "stripe_hook_url": request.build_absolute_uri(
                reverse("stripe_hook", kwargs={"merchant_id": merchant.public_id})
            ),
            "sending_address": sending_address(),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.OWNER, live_only=True)
def merchant_settings(request: HttpRequest) -> HttpResponse:
    """The settings page; a POST here sets or replaces the Stripe webhook signing secret."""
    if request.method != "POST":
        return _render_settings(request)
    stripe_form = StripeWebhookSecretForm(request.POST)
    if stripe_form.is_valid():
        try:
            stripe_webhook_secret_set(
                actor=_user(request),
                secret=stripe_form.cleaned_data["stripe_webhook_secret"],
                request=request,
            )
        except InvalidInput as error:
            for text in error.errors.values():
                stripe_form.add_error("stripe_webhook_secret", text)
        else:
            messages.success(request, gettext("The Stripe signing secret was saved."))
            return _to("merchant_settings", request)
    return _render_settings(request, stripe_form=stripe_form, status=400)


@require_POST
@merchant_view(least_role=Role.OWNER, live_only=True)
def merchant_profile_update(request: HttpRequest) -> HttpResponse:
    """Business name, privacy policy URL, email sender name and reply-to: every invalid field
    is shown at once, next to its field."""
    form = MerchantProfileForm(request.POST)
    if not form.is_valid():
        return _render_settings(request, profile_form=form, status=400)
    try:
        services.merchant_update_profile(
            actor=_user(request), values=form.cleaned_data, request=request
        )
    except ValidationError as error:
        for field, texts in error.message_dict.items():
            form.add_error(field if field in form.fields else None, texts)
        return _render_settings(request, profile_form=form, status=400)
    messages.success(request, gettext("Your business details were saved."))
    return _to("merchant_settings", request)


@require_POST
@merchant_view(least_role=Role.OWNER, live_only=True)
def merchant_security_update(request: HttpRequest) -> HttpResponse:
    form = MerchantSecurityForm(request.POST)
    form.is_valid()  # a single optional checkbox: always valid
    merchant = services.merchant_update_security(
        actor=_user(request),
        require_owner_mfa=form.cleaned_data["require_owner_mfa"],
        request=request,
    )
    messages.success(
        request,
        "Owners must now use two-factor authentication."
        if merchant.require_owner_mfa
        else "Two-factor authentication is now optional for owners.",
    )
    return _to("merchant_settings", request)
