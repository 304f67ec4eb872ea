"""Blocking and unblocking an advocate from the dashboard.

A blocked advocate keeps their link (clicks still land, so friends are not met with an error
page) but the pipeline rejects their new conversions with the reason `advocate_blocked`.
Conversions already decided are not touched: a block is about what happens next, and the
merchant reviews the past through the review queue and the rewards page.

Each change is one conditional UPDATE (`WHERE blocked_at IS NULL` / `IS NOT NULL`), so two
admins clicking at once make one change and one audit event, and the second one is told.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from programs.specs import SpecError
from tracking.models import Advocate

MAX_REASON = 200


def _reason(value: Any) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise SpecError({"reason": "Must be text."})
    value = " ".join(value.split())
    if not value:
        raise SpecError({"reason": "Say why the advocate is blocked (the audit log keeps it)."})
    if len(value) > MAX_REASON:
        raise SpecError({"reason": f"At most {MAX_REASON} characters."})
    return value


def advocate_block(
    *,
    advocate: Advocate,
    reason: Any,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> Advocate:
    """Block an advocate with a reason (required). Audited as `advocate.blocked`.
    Refuses an advocate who is already blocked (the first reason stands)."""
    reason = _reason(reason)
    now = timezone.now()
    with transaction.atomic():
        changed = Advocate.objects.filter(pk=advocate.pk, blocked_at__isnull=True).update(
            blocked_at=now, blocked_reason=reason
        )
        if changed != 1:
            raise SpecError({"status": "This advocate is already blocked."})
        advocate.refresh_from_db()
        audit_record(
            action="advocate.blocked",
            actor=actor,
            target=advocate,
            data={"reason": reason},
            request=request,
        )
    return advocate


def advocate_unblock(
    *,
    advocate: Advocate,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> Advocate:
    """Lift a block: the advocate's next conversions are judged normally again (earlier
    rejections stay as they were). Audited as `advocate.unblocked` with the old reason."""
    with transaction.atomic():
        previous = (
            Advocate.objects.select_for_update()
            .filter(pk=advocate.pk)
            .values_list("blocked_reason", flat=True)
            .first()
        )
        changed = Advocate.objects.filter(pk=advocate.pk, blocked_at__isnull=False).update(
            blocked_at=None, blocked_reason=""
        )
        if changed != 1:
            raise SpecError({"status": "This advocate is not blocked."})
        advocate.refresh_from_db()
        audit_record(
            action="advocate.unblocked",
            actor=actor,
            target=advocate,
            data={"previous_reason": previous or ""},
            request=request,
        )
    return advocate
