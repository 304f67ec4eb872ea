from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.selectors import memberships_for_user


def dashboard(request: HttpRequest) -> dict[str, Any]:
    """The merchant switcher's entries and the current merchant/membership, when there is one."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_merchant": getattr(request, "merchant", None),
        "current_membership": getattr(request, "membership", None),
        "user_memberships": memberships_for_user(user),  # lazy: only queried if rendered
    }
