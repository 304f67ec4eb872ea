"""Reads about users and their merchants."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Invitation, Membership, User


def memberships_for_user(user: User) -> QuerySet[Membership]:
    """Every merchant the user belongs to (for the switcher). Crosses tenants by nature: it is
    the user's own list, filtered by user."""
    return (
        Membership.unscoped_all_merchants.select_related("merchant")
        .filter(user=user)
        .order_by("merchant__name")
    )


def invitations_open_for_email(email: str) -> QuerySet[Invitation]:
    """Open invitations addressed to `email`, in any merchant. Crosses tenants by nature: the
    caller passes the signed-in user's own (verified) address."""
    return (
        Invitation.unscoped_all_merchants.select_related("merchant")
        .filter(
            email__iexact=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at")
    )
