"""Baseline of the `redirect` scenario: a bare Django view (not even DRF: the issue compares the
referral link with "a bare Django view doing one indexed SELECT plus one INSERT") doing the
project's database work for one referral-link visit, through the ORM:

1. one SELECT of the advocate by code, joined to its program and merchant;
2. one INSERT of the click (the same columns the project writes);

then a 302 to the program's destination with `ref` and the click id. Nothing else: no user-agent
parsing, no keyed hash (a plain SHA-256 of the address), no status or date checks beyond the
SELECT's, no middleware.
"""

import hashlib
import secrets
import string
from urllib.parse import urlencode

from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.urls import path
from django.utils import timezone

from bench.baseline.models import MerchantRow

_ALPHABET = string.ascii_letters + string.digits


class RedirectProgramRow(models.Model):
    merchant = models.ForeignKey(MerchantRow, on_delete=models.DO_NOTHING)
    status = models.CharField(max_length=16)
    destination_url = models.CharField(max_length=500)
    objects: "models.Manager[RedirectProgramRow]" = models.Manager()

    class Meta:
        app_label = "baseline"
        managed = False
        db_table = "programs_program"

    def __str__(self) -> str:
        return str(self.pk)


class RedirectAdvocateRow(models.Model):
    merchant = models.ForeignKey(MerchantRow, on_delete=models.DO_NOTHING)
    program = models.ForeignKey(RedirectProgramRow, on_delete=models.DO_NOTHING)
    merchant_id: int
    program_id: int
    code = models.CharField(max_length=40)
    objects: "models.Manager[RedirectAdvocateRow]" = models.Manager()

    class Meta:
        app_label = "baseline"
        managed = False
        db_table = "tracking_advocate"

    def __str__(self) -> str:
        return self.code


class RedirectClickRow(models.Model):
    public_id = models.CharField(max_length=32)
    merchant = models.ForeignKey(MerchantRow, on_delete=models.DO_NOTHING)
    program = models.ForeignKey(RedirectProgramRow, on_delete=models.DO_NOTHING)
    advocate = models.ForeignKey(RedirectAdvocateRow, on_delete=models.DO_NOTHING)
    ip_hash = models.CharField(max_length=64)
    ip_prefix = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=400)
    referer = models.CharField(max_length=500)
    visitor_id = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    objects: "models.Manager[RedirectClickRow]" = models.Manager()

    class Meta:
        app_label = "baseline"
        managed = False
        db_table = "tracking_click"

    def __str__(self) -> str:
        return self.public_id


def redirect(request: HttpRequest, code: str) -> HttpResponse:
    advocate = (
        RedirectAdvocateRow.objects.select_related("program", "merchant")
        .filter(code=code.upper(), program__status="active")
        .first()
    )
    if advocate is None:
        return HttpResponseNotFound("No such code.")
    ip = request.META.get("REMOTE_ADDR", "")
    click = RedirectClickRow.objects.create(
        public_id="clk_" + "".join(secrets.choice(_ALPHABET) for _ in range(20)),
        merchant_id=advocate.merchant_id,
        program_id=advocate.program_id,
        advocate_id=advocate.pk,
        ip_hash=hashlib.sha256(ip.encode()).hexdigest(),
        ip_prefix=ip.rsplit(".", 1)[0] + ".0/24",
        user_agent=request.headers.get("User-Agent", "")[:400],
        referer=request.headers.get("Referer", "")[:500],
        visitor_id="",
        created_at=timezone.now(),
    )
    query = urlencode({"ref": advocate.code, "ref_click": click.public_id})
    return HttpResponseRedirect(f"{advocate.program.destination_url}?{query}")


urlpatterns = [path("redirect/<str:code>", redirect)]
