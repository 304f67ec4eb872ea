"""Reads about users and their merchants."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Membership, User


def memberships_for_user(user: User) -> QuerySet[Membership]:
    """Every merchant the user belongs to (for the switcher). Crosses tenants by nature: it is
    the user's own list, filtered by user."""
    return (
        Membership.unscoped_all_merchants.select_related("merchant")
        .filter(user=user)
        .order_by("merchant__name")
    )
