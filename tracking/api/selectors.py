"""Reads behind the tracking API: advocates with their stats and conversions with their related
ids, each page in one query (counts are correlated subqueries, not one query per row)."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from tracking.models import Advocate, Click, Conversion, Referral


def _count(model: type[Click] | type[Referral] | type[Conversion]) -> Coalesce:
    counts = (
        model.objects.filter(advocate_id=OuterRef("pk"))
        .order_by()
        .values("advocate_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def advocate_list(*, program: str | None = None, email: str | None = None) -> QuerySet[Advocate]:
    """Advocates with `stat_clicks`, `stat_referrals` and `stat_conversions` annotated."""
    advocates = Advocate.objects.select_related("program").annotate(
        stat_clicks=_count(Click),
        stat_referrals=_count(Referral),
        stat_conversions=_count(Conversion),
    )
    if program is not None:
        advocates = advocates.filter(program__public_id=program)
    if email is not None:
        advocates = advocates.filter(email__iexact=email.strip())
    return advocates


def advocate_get(public_id: str) -> Advocate | None:
    return advocate_list().filter(public_id=public_id).first()


def conversion_list(
    *, status: str | None = None, program: str | None = None
) -> QuerySet[Conversion]:
    conversions = Conversion.objects.select_related(
        "program", "advocate", "referral", "program_version"
    )
    if status is not None:
        conversions = conversions.filter(status=status)
    if program is not None:
        conversions = conversions.filter(program__public_id=program)
    return conversions


def conversion_get(public_id: str) -> Conversion | None:
    return conversion_list().filter(public_id=public_id).first()
