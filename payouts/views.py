"""The payouts page: payouts by status (due, processing, paid, failed with the reason), the
advocate each pays, SEPA files to download, and the payout settings (PayPal REST app, the SEPA
debtor account, each program's minimum).

Viewers read; admins and owners act (they move money): mark paid, make a SEPA file, download it
(the file holds advocates' IBANs: each download is audited), run payouts now, edit settings.
Every action is one service call; a refused one comes back as a message naming the problem.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import merchant_view
from accounts.models import ROLE_RANK, Membership, Merchant, Role, User
from accounts.services import audit_record
from payouts import sepa, services
from payouts.models import Payout, PayoutAccount, PayoutBatch, PayoutMethod, PayoutStatus
from payouts.selectors import payout_list
from programs.models import Program
from programs.specs import SpecError
from referral_saas.money import format_money, minor_units

PAGE_SIZE = 100
BADGES: dict[str, str] = {
    PayoutStatus.DUE: "badge-warning",
    PayoutStatus.PROCESSING: "badge-role",
    PayoutStatus.PAID: "badge-success",
    PayoutStatus.FAILED: "badge-danger",
}


def _merchant(request: HttpRequest) -> Merchant:
    return cast(Merchant, request.merchant)  # type: ignore[attr-defined]


def _may_admin(request: HttpRequest) -> bool:
    membership = cast(Membership, request.membership)  # type: ignore[attr-defined]
    return ROLE_RANK[membership.role] >= ROLE_RANK[Role.ADMIN]


def _back(merchant: Merchant, status: str = "") -> HttpResponse:
    response = redirect("payouts", merchant_slug=merchant.slug)
    if status:
        response["Location"] += f"?status={status}"
    return response


def _refused(request: HttpRequest, error: SpecError) -> None:
    for message in error.errors.values():
        messages.error(request, message)


@require_GET
@merchant_view()
def payouts_page(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in PayoutStatus.values:
        status = ""
    counts = dict(Payout.objects.values_list("status").annotate(n=Count("pk")).order_by())
    payouts = list(payout_list(status=status or None)[:PAGE_SIZE])
    account = services.payout_account()
    programs = list(Program.objects.order_by("name"))
    minimums = {p.pk: services.minimum_for(p.pk) for p in programs}
    context: dict[str, Any] = {
        "status": status,
        "tabs": [(value, label, counts.get(value, 0)) for value, label in PayoutStatus.choices],
        "total": sum(counts.values()),
        "rows": [{"payout": p, "badge": BADGES[p.status]} for p in payouts],
        "may_admin": _may_admin(request),
        "sepa_due": Payout.objects.filter(
            status=PayoutStatus.DUE, method=PayoutMethod.SEPA_CREDIT_TRANSFER
        ).count(),
        "files": list(
            PayoutBatch.objects.filter(method=PayoutMethod.SEPA_CREDIT_TRANSFER)
            .annotate(n=Count("payouts"))
            .order_by("-created_at")[:20]
        ),
        "account": account,
        "programs": [
            {
                "program": p,
                "minimum": minimums[p.pk],
                "minimum_text": format_money(minimums[p.pk], p.currency),
                "step": 1 / 10 ** minor_units(p.currency),
                "minimum_major": minimums[p.pk] / 10 ** minor_units(p.currency),
            }
            for p in programs
        ],
    }
    return render(request, "payouts/list.html", context)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def payout_mark_paid_view(request: HttpRequest, payout_id: str) -> HttpResponse:
    merchant = _merchant(request)
    payout = Payout.objects.filter(public_id=payout_id).first()
    if payout is None:
        raise Http404("No such payout.")
    try:
        services.payout_mark_paid(
            payout=payout,
            request=request,
            actor=cast(User, request.user),
            reference=request.POST.get("reference", "")[:64],
        )
    except SpecError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Payout {payout.public_id} marked paid.")
    return _back(merchant, request.POST.get("status", ""))


@require_POST
@merchant_view(least_role=Role.ADMIN)
def payouts_run_view(request: HttpRequest) -> HttpResponse:
    outcome = services.payouts_run()
    messages.success(
        request, f"{outcome['created']} new payout(s); providers were asked about the rest."
    )
    return _back(_merchant(request))


@require_POST
@merchant_view(least_role=Role.ADMIN)
def sepa_file_create_view(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    try:
        batch = sepa.sepa_batch_create()
    except SpecError as error:
        _refused(request, error)
        return _back(merchant)
    if batch is None:
        messages.info(request, "No SEPA payout is due.")
    else:
        messages.success(
            request,
            "SEPA file ready: download it, upload it to your bank, then mark its payouts paid.",
        )
    return _back(merchant, PayoutStatus.PROCESSING)


@require_GET
@merchant_view(least_role=Role.ADMIN)
def sepa_file_download(request: HttpRequest, batch_id: str, kind: str) -> HttpResponse:
    batch = PayoutBatch.objects.filter(
        public_id=batch_id, method=PayoutMethod.SEPA_CREDIT_TRANSFER
    ).first()
    if batch is None or kind not in {"xml", "csv"}:
        raise Http404("No such file.")
    try:
        content: bytes | str = sepa.sepa_document(batch) if kind == "xml" else sepa.sepa_csv(batch)
    except SpecError as error:
        _refused(request, error)
        return _back(_merchant(request), PayoutStatus.PROCESSING)
    audit_record(
        action="payouts.sepa_downloaded",
        actor=cast(User, request.user),
        target=batch,
        data={"format": kind, "payouts": batch.payouts.count()},
        request=request,
    )
    response = HttpResponse(
        content,
        content_type="application/xml" if kind == "xml" else "text/csv; charset=utf-8",
    )
    name = f"{batch.public_id}.{'xml' if kind == 'xml' else 'csv'}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@merchant_view(least_role=Role.ADMIN)
def payout_settings_update(request: HttpRequest) -> HttpResponse:
    """PayPal REST app and SEPA debtor account. A secret left blank keeps the stored one."""
    merchant = _merchant(request)
    account, _ = PayoutAccount.objects.get_or_create()
    post = request.POST
    try:
        debtor_iban = post.get("sepa_debtor_iban", "").strip()
        if debtor_iban:
            from payouts.details import iban_parse

            account.sepa_debtor_iban = str(
                iban_parse(debtor_iban, field="sepa_debtor_iban").compact
            )
        account.sepa_debtor_name = post.get("sepa_debtor_name", account.sepa_debtor_name)[:70]
        account.sepa_debtor_bic = post.get("sepa_debtor_bic", account.sepa_debtor_bic)[:11]
        account.paypal_client_id = post.get("paypal_client_id", account.paypal_client_id)[:200]
        if post.get("paypal_client_secret"):
            account.paypal_client_secret = post["paypal_client_secret"][:500]
    except SpecError as error:
        _refused(request, error)
        return _back(merchant)
    account.updated_at = timezone.now()
    account.save()
    audit_record(
        action="payouts.settings_updated",
        actor=cast(User, request.user),
        data={"paypal": account.paypal_configured, "sepa": account.sepa_configured},
        request=request,
    )
    messages.success(request, "Payout settings saved.")
    return _back(merchant)


@require_POST
@merchant_view(least_role=Role.ADMIN)
def program_minimum_update(request: HttpRequest, program_id: str) -> HttpResponse:
    merchant = _merchant(request)
    program = Program.objects.filter(public_id=program_id).first()
    if program is None:
        raise Http404("No such program.")
    raw = request.POST.get("minimum", "").strip().replace(",", ".")
    try:
        minimum = round(float(raw or 0) * 10 ** minor_units(program.currency))
        services.program_minimum_set(program_id=program.pk, minimum_amount=int(minimum))
    except ValueError:
        messages.error(request, "Enter the minimum as an amount, e.g. 50 or 50.00.")
    except SpecError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Minimum payout of {program.name} saved.")
    return _back(merchant)
