"""CSV exports of advocates, referrals, conversions and rewards: streamed, any size, admin+.

Each export is one `StreamingHttpResponse` over a server-side cursor
(`.values_list(...).iterator(chunk_size=2000)`), so memory stays flat whether the merchant has
ten rows or ten million, and the first bytes leave before the last row is read.

Safety:
- Tenancy: the queryset is built inside the view (the scoped manager adds the merchant filter
  right then) and the generator also runs inside `merchant_context`, because a streaming body
  is produced after the view has returned and the dashboard decorator's context has ended.
- CSV injection: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return is prefixed
  with `'`, so a spreadsheet shows it as text instead of running it as a formula.
- Audited: every export writes `export.<kind>` with its filters before the first byte.

Money: every amount column is in major units of the row's `currency` column, as a plain
number with the currency's decimals ("30.00" EUR, "3000" JPY), the same in every export.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, cast

from django.db.models import CharField, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.decorators import MerchantRequest, merchant_view
from accounts.models import Merchant, Role, User
from accounts.services import audit_record
from programs.models import Program
from referral_saas import tenancy
from referral_saas.money import major_text
from rewards.models import Reward
from tracking.models import Advocate, Conversion, Referral

CHUNK_SIZE = 2000
DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write returns the line, for csv.writer inside a generator."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> str:
    """One cell as text, defused: formulas become text (OWASP "CSV injection")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    text = str(value)
    if text.startswith(DANGEROUS_FIRST):
        return "'" + text
    return text


def csv_stream(
    *,
    merchant: Merchant,
    header: list[str],
    rows: Iterable[Iterable[Any]],
) -> Iterator[str]:
    """The CSV text, line by line, produced inside the merchant's context."""
    writer = csv.writer(_Echo())
    with tenancy.merchant_context(merchant):
        yield "\ufeff" + writer.writerow(header)  # BOM: Excel reads UTF-8 names correctly
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])


def csv_response(
    *, merchant: Merchant, filename: str, header: list[str], rows: Iterable[Iterable[Any]]
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        csv_stream(merchant=merchant, header=header, rows=rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFilters:
    program: Program | None
    since: date | None
    until: date | None
    errors: tuple[str, ...] = ()

    def audit_data(self) -> dict[str, str]:
        return {
            "program": self.program.public_id if self.program else "",
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }

    def apply(self, queryset: QuerySet[Any], *, time_field: str = "created_at") -> QuerySet[Any]:
        if self.program is not None:
            queryset = queryset.filter(program=self.program)
        if self.since is not None:
            start = datetime.combine(self.since, time.min, tzinfo=UTC)
            queryset = queryset.filter(**{f"{time_field}__gte": start})
        if self.until is not None:
            end = datetime.combine(self.until, time.max, tzinfo=UTC)
            queryset = queryset.filter(**{f"{time_field}__lte": end})
        return queryset


def _date(value: str, name: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{name}: use a date like 2026-01-31.")
        return None


def export_filters(request: MerchantRequest) -> ExportFilters:
    errors: list[str] = []
    program = None
    wanted = request.GET.get("program", "")
    if wanted:
        program = Program.objects.filter(public_id=wanted).first()
        if program is None:
            errors.append("program: no such program.")
    since = _date(request.GET.get("since", ""), "since", errors)
    until = _date(request.GET.get("until", ""), "until", errors)
    if since and until and since > until:
        errors.append("since: must not be after until.")
    return ExportFilters(program=program, since=since, until=until, errors=tuple(errors))


# --- Exports ----------------------------------------------------------------------------------


def in_major_units(
    rows: Iterable[Iterable[Any]], header: list[str], amounts: Iterable[str]
) -> Iterator[list[Any]]:
    """Rows with the named amount columns (minor units) turned into major units of the row's
    `currency` column; an empty amount (a percent reward) stays empty."""
    columns = [header.index(name) for name in amounts]
    currency = header.index("currency") if columns else -1
    for row in rows:
        cells = list(row)
        for column in columns:
            if cells[column] is not None and cells[currency]:
                cells[column] = major_text(cells[column], cells[currency])
        yield cells


def friend_of_conversion(field: str, prefix: str = "") -> Coalesce:
    """The friend behind a conversion (`field` "email" or "name"): the referral's, else the
    buyer's as the order reported it."""
    return Coalesce(
        NullIf(f"{prefix}referral__{field}", Value("")),
        NullIf(f"{prefix}customer_{field}", Value("")),
        Value(""),
        output_field=CharField(),
    )


@dataclass(frozen=True)
class Export:
    kind: str
    title: Any  # lazy: shown in the reader's language
    header: list[str]
    rows: Callable[[ExportFilters], QuerySet[Any]]
    # Amount columns in minor units in the database, written in major units.
    amounts: tuple[str, ...] = ()


def _advocates(filters: ExportFilters) -> QuerySet[Any]:
    return (
        filters.apply(Advocate.objects.all())
        .order_by("pk")
        .values_list(
            "public_id",
            "program__public_id",
            "email",
            "name",
            "customer_id",
            "code",
            "locale",
            "variant_key",
            "qualified_conversions",
            "blocked_at",
            "blocked_reason",
            "created_at",
        )
    )


def _referrals(filters: ExportFilters) -> QuerySet[Any]:
    return (
        filters.apply(Referral.objects.all())
        .order_by("pk")
        .values_list(
            "public_id",
            "program__public_id",
            "advocate__public_id",
            "advocate__email",
            "email",
            "name",
            "customer_id",
            "click__public_id",
            "created_at",
        )
    )


def _conversions(filters: ExportFilters) -> QuerySet[Any]:
    return (
        filters.apply(Conversion.objects.all())
        .order_by("pk")
        .values_list(
            "public_id",
            "program__public_id",
            "advocate__public_id",
            "advocate__email",
            "order_id",
            "amount",
            "refunded_amount",
            "currency",
            "customer_email",
            "customer_name",
            "status",
            "risk_score",
            "attributed_by",
            "occurred_at",
            "evaluated_at",
            "created_at",
        )
    )


def _rewards(filters: ExportFilters) -> QuerySet[Any]:
    return (
        filters.apply(Reward.objects.all())
        .annotate(
            friend_email=friend_of_conversion("email", "conversion__"),
            friend_name=friend_of_conversion("name", "conversion__"),
        )
        .order_by("pk")
        .values_list(
            "public_id",
            "program__public_id",
            "conversion__public_id",
            "conversion__order_id",
            "recipient",
            "advocate__public_id",
            "advocate__email",
            "advocate__name",
            "kind",
            "amount",
            "percent",
            "points",
            "currency",
            "status",
            "fulfilment_method",
            "fulfilment_code",
            "fulfilment_external_id",
            "available_at",
            "issued_at",
            "created_at",
            "friend_email",
            "friend_name",
        )
    )


EXPORTS = {
    "advocates": Export(
        "advocates",
        _("Advocates"),
        [
            "advocate_id",
            "program_id",
            "email",
            "name",
            "customer_id",
            "code",
            "locale",
            "variant",
            "qualified_conversions",
            "blocked_at",
            "blocked_reason",
            "created_at",
        ],
        _advocates,
    ),
    "referrals": Export(
        "referrals",
        _("Referrals"),
        [
            "referral_id",
            "program_id",
            "advocate_id",
            "advocate_email",
            "friend_email",
            "friend_name",
            "friend_customer_id",
            "click_id",
            "created_at",
        ],
        _referrals,
    ),
    "conversions": Export(
        "conversions",
        _("Conversions"),
        [
            "conversion_id",
            "program_id",
            "advocate_id",
            "advocate_email",
            "order_id",
            "amount",
            "refunded_amount",
            "currency",
            "customer_email",
            "customer_name",
            "status",
            "risk_score",
            "attributed_by",
            "occurred_at",
            "evaluated_at",
            "created_at",
        ],
        _conversions,
        amounts=("amount", "refunded_amount"),
    ),
    "rewards": Export(
        "rewards",
        _("Rewards"),
        [
            "reward_id",
            "program_id",
            "conversion_id",
            "order_id",
            "recipient",
            "advocate_id",
            "advocate_email",
            "advocate_name",
            "kind",
            "amount",
            "percent",
            "points",
            "currency",
            "status",
            "fulfilment_method",
            "fulfilment_code",
            "fulfilment_external_id",
            "available_at",
            "issued_at",
            "created_at",
            "friend_email",
            "friend_name",
        ],
        _rewards,
        amounts=("amount",),
    ),
}


@require_GET
@merchant_view(least_role=Role.ADMIN)
def exports_index(request: MerchantRequest) -> HttpResponse:
    return render(
        request,
        "advocates/exports.html",
        {"exports": list(EXPORTS.values()), "programs": list(Program.objects.order_by("name"))},
    )


def _export(request: MerchantRequest, kind: str) -> HttpResponse:
    export = EXPORTS[kind]
    filters = export_filters(request)
    if filters.errors:
        return HttpResponse(
            "\n".join(filters.errors), status=400, content_type="text/plain; charset=utf-8"
        )
    merchant = request.merchant
    audit_record(
        action=f"export.{kind}",
        actor=cast(User, request.user),
        data=filters.audit_data(),
        request=request,
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    # merchant_view is typed for HttpResponse; a streaming response is served the same way.
    return cast(
        HttpResponse,
        csv_response(
            merchant=merchant,
            filename=f"{merchant.slug}-{kind}-{stamp}.csv",
            header=export.header,
            rows=in_major_units(
                export.rows(filters).iterator(chunk_size=CHUNK_SIZE), export.header, export.amounts
            ),
        ),
    )


@require_GET
@merchant_view(least_role=Role.ADMIN)
def export_advocates(request: MerchantRequest) -> HttpResponse:
    return _export(request, "advocates")


@require_GET
@merchant_view(least_role=Role.ADMIN)
def export_referrals(request: MerchantRequest) -> HttpResponse:
    return _export(request, "referrals")


@require_GET
@merchant_view(least_role=Role.ADMIN)
def export_conversions(request: MerchantRequest) -> HttpResponse:
    return _export(request, "conversions")


@require_GET
@merchant_view(least_role=Role.ADMIN)
def export_rewards(request: MerchantRequest) -> HttpResponse:
    return _export(request, "rewards")
