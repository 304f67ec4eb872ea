"""The dashboard's tenant entry point: `/m/<merchant_slug>/…` views run inside that merchant.

A user who is not a member gets the same 404 as for a merchant that does not exist. A member
whose role is too low gets 403. Membership is read on every request, so removing a member or
changing a role takes effect on their very next click.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.models import Membership, Merchant, Role
from referral_saas import tenancy

V = TypeVar("V", bound=Callable[..., HttpResponse])


class MerchantRequest(HttpRequest):
    """The request a `merchant_view` receives: its merchant and the user's membership are set.
    Annotate a dashboard view's `request` with it instead of casting `request.merchant`."""

    merchant: Merchant
    membership: Membership


SESSION_MERCHANT_KEY = "current_merchant_slug"


def merchant_view(least_role: str = Role.VIEWER, *, live_only: bool = False) -> Callable[[V], V]:
    """Decorate a view taking `merchant_slug`: sets `request.merchant`, `request.membership`
    and the current merchant, and requires at least `least_role`.

    `merchant_slug` may name an account's test twin (`<slug>--test`, `accounts.testmode`): the
    membership is the account's, and the view runs inside the twin, so every scoped query reads
    test data. Pages about the account itself (team, settings, billing) are `live_only`: under a
    test slug they redirect to the live one."""

    def decorate(view: V) -> V:
        @functools.wraps(view)
        def wrapper(
            request: HttpRequest, merchant_slug: str, *args: Any, **kwargs: Any
        ) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            merchant = (
                Merchant.objects.filter(slug=merchant_slug).select_related("live_merchant").first()
            )
            if merchant is None:
                raise Http404("No such merchant.")
            account = merchant.account
            with tenancy.merchant_context(account):
                membership = (
                    Membership.objects.select_related("user").filter(user=request.user).first()
                )
                if membership is None:
                    raise Http404("No such merchant.")
                if (
                    account.require_owner_mfa
                    and membership.role == Role.OWNER
                    and not is_mfa_enabled(request.user)
                ):
                    messages.warning(
                        request,
                        f"{account.name} requires owners to use two-factor authentication. "
                        "Set up an authenticator app to continue.",
                    )
                    return redirect("mfa_activate_totp")
                if not membership.has_role(least_role):
                    raise PermissionDenied(f"This needs the {least_role} role or higher.")
            if live_only and not merchant.livemode:
                return redirect(same_page_in(request.get_full_path(), merchant, account) or "/")
            with tenancy.merchant_context(merchant):
                request.merchant = merchant  # type: ignore[attr-defined]  # see MerchantRequest
                request.membership = membership  # type: ignore[attr-defined]
                if request.session.get(SESSION_MERCHANT_KEY) != merchant.slug:
                    request.session[SESSION_MERCHANT_KEY] = merchant.slug  # a write: only on change
                return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def same_page_in(path: str, current: Merchant, target: Merchant) -> str | None:
    """`path`, a dashboard page of `current`, as the same page of `target` (the other data space
    of the account); None when `path` is not one of `current`'s pages."""
    prefix = f"/m/{current.slug}/"
    if not path.startswith(prefix) or "//" in path or "\\" in path:
        return None
    return f"/m/{target.slug}/" + path[len(prefix) :]
