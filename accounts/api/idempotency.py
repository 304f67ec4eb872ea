"""`Idempotency-Key` for every POST under `/api/v1/`: the same key and body replay the first
response; another body is refused; a duplicate arriving while the first still runs is told so.

Flow (wired into `MerchantAPIView`, after authentication, inside the key's merchant):

1. `idempotency_begin` claims the key with one INSERT … ON CONFLICT (its own autocommit
   statement, so a concurrent duplicate sees the claim at once). The same statement retakes an
   expired record, or an `in_flight` one with the same body older than
   `IDEMPOTENCY_ABANDONED_AFTER_SECONDS` (its process crashed). Only when the key is taken does a
   SELECT follow, to answer 422 (other body), 409 (still in flight) or replay (completed).
2. The handler runs.
3. `idempotency_finish` stores the rendered response with one UPDATE (2xx and 4xx), or deletes
   the claim (5xx, or a response that cannot be stored) so the client may retry.

A crash between the handler's commit and step 3 leaves the claim `in_flight`; after the
abandonment delay a retry runs the handler again. Services keep their own natural keys
(`order_id`, enrolment email) so that second run cannot double a reward.
Without the header none of this runs: no query is added to the hot path.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from rest_framework.response import Response

from accounts.models import IdempotencyRecord, IdempotencyState
from referral_saas.api.errors import ApiError

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Claim:
    """This request owns the key: `(record_id, claimed_at)` names our claim, not a later retake."""

    record_id: int
    claimed_at: datetime


class StoredResponse(Response):
    """A replay: the first response's status and exact bytes, with `Idempotent-Replayed: true`."""

    def __init__(self, *, status: int, body: str) -> None:
        super().__init__(
            data=None,
            status=status,
            headers={"Content-Type": "application/json", REPLAYED_HEADER: "true"},
        )
        self._stored_body = body.encode()

    @property
    def rendered_content(self) -> bytes:  # type: ignore[override]  # DRF renders bytes
        return self._stored_body


class Replay(Exception):
    """Raised from `initial()` so the handler does not run; the view answers with `response`."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


def _invalid_key() -> ApiError:
    return ApiError(
        status_code=400,
        type="invalid_request_error",
        code="invalid",
        message=f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
        param=HEADER,
    )


def idempotency_key_of(request: HttpRequest) -> str | None:
    """The header's value, None if absent; a 400 naming the header if it is malformed."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise _invalid_key()
    return key


def request_fingerprint(request: HttpRequest) -> str:
    """sha256 of method, path (with query) and body: canonical JSON (sorted keys, compact) when
    the body parses, else the raw bytes, so whitespace or key order do not make a new request."""
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(
            status_code=400,
            type="invalid_request_error",
            code="request_too_large",
            message="The request body is too large.",
        ) from None
    try:
        canonical = json.dumps(
            json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, RecursionError):
        canonical = raw
    digest = hashlib.sha256()
    digest.update(f"{request.method}\n{request.get_full_path()}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def _claim_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(IdempotencyRecord._meta.db_table)
    return f"""
        INSERT INTO {table} (merchant_id, {quote("key")}, fingerprint, state, response_status,
                             response_body, created_at, expires_at)
        VALUES (%s, %s, %s, %s, NULL, '', %s, %s)
        ON CONFLICT (merchant_id, {quote("key")}) DO UPDATE SET
            fingerprint = EXCLUDED.fingerprint, state = EXCLUDED.state, response_status = NULL,
            response_body = '', created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
        WHERE {table}.expires_at <= %s
           OR ({table}.state = %s AND {table}.created_at <= %s
               AND {table}.fingerprint = EXCLUDED.fingerprint)
        RETURNING id
    """  # noqa: S608 - only identifiers from the model are interpolated; values are parameters


def _try_claim(*, merchant_id: int, key: str, fingerprint: str) -> Claim | None:
    """One statement: insert the claim, or retake an expired or abandoned record atomically
    (the conflicting row is locked while its WHERE is evaluated). None if the key is taken."""
    now = timezone.now()
    abandoned_before = now - timedelta(seconds=settings.IDEMPOTENCY_ABANDONED_AFTER_SECONDS)
    expires_at = now + timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS)
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = [
        merchant_id,
        key,
        fingerprint,
        IdempotencyState.IN_FLIGHT,
        adapt(now),
        adapt(expires_at),
        adapt(now),
        IdempotencyState.IN_FLIGHT,
        adapt(abandoned_before),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(), params)
        row = cursor.fetchone()
    return None if row is None else Claim(record_id=row[0], claimed_at=now)


def _answer_taken(record: IdempotencyRecord, fingerprint: str) -> NoReturn:
    if record.fingerprint != fingerprint:
        raise ApiError(
            status_code=422,
            type="invalid_request_error",
            code="idempotency_key_reused",
            message=f"This {HEADER} was already used with a different request; "
            "use a new key for a new request.",
            param=HEADER,
        )
    if record.state == IdempotencyState.IN_FLIGHT or record.response_status is None:
        raise ApiError(
            status_code=409,
            type="invalid_request_error",
            code="idempotency_key_in_flight",
            message=f"A request with this {HEADER} is still being processed; retry later.",
            param=HEADER,
        )
    raise Replay(StoredResponse(status=record.response_status, body=record.response_body))


def idempotency_begin(request: HttpRequest, *, merchant_id: int) -> Claim | None:
    """Claim the request's key for the current merchant (None without the header).

    Raises `ApiError` (400 bad key, 409 in flight, 422 other body) or `Replay` (completed).
    """
    key = idempotency_key_of(request)
    if key is None:
        return None
    fingerprint = request_fingerprint(request)
    # A taken key is read back; if it vanished meanwhile (a 5xx released it, or the purge ran),
    # claim again. Twice is enough: each retry needs a delete to race it.
    for _ in range(3):
        claim = _try_claim(merchant_id=merchant_id, key=key, fingerprint=fingerprint)
        if claim is not None:
            return claim
        record = (
            IdempotencyRecord.objects.filter(key=key)
            .only("fingerprint", "state", "response_status", "response_body")
            .first()
        )
        if record is not None:
            _answer_taken(record, fingerprint)
    raise ApiError(
        status_code=409,
        type="invalid_request_error",
        code="idempotency_key_in_flight",
        message=f"Concurrent requests with this {HEADER}; retry later.",
        param=HEADER,
    )


def _storable_body(response: HttpResponseBase) -> str | None:
    if response.streaming or response.status_code >= 500:
        return None
    if isinstance(response, Response) and not response.is_rendered:
        response.render()  # Django renders it later anyway; rendering is idempotent
    content: bytes = response.content  # type: ignore[attr-defined]
    try:
        body = content.decode()
    except UnicodeDecodeError:
        return None
    return None if "\x00" in body else body  # PostgreSQL text cannot hold NUL


def idempotency_finish(claim: Claim, response: HttpResponseBase) -> None:
    """Store the response under our claim (one UPDATE), or release the claim (5xx)."""
    body = _storable_body(response)
    mine = IdempotencyRecord.objects.filter(
        pk=claim.record_id, created_at=claim.claimed_at, state=IdempotencyState.IN_FLIGHT
    )
    if body is None:
        idempotency_release(claim)
        return
    updated = mine.update(
        state=IdempotencyState.COMPLETED, response_status=response.status_code, response_body=body
    )
    if updated != 1:
        # Retaken as abandoned while we ran (a handler slower than the abandonment delay).
        logger.warning("Idempotency claim %s was retaken before it completed", claim.record_id)


def idempotency_release(claim: Claim) -> None:
    """Forget our claim so the client can retry with the same key (after a 5xx or a crash)."""
    IdempotencyRecord.objects.filter(
        pk=claim.record_id, created_at=claim.claimed_at, state=IdempotencyState.IN_FLIGHT
    ).delete()


def idempotency_records_purge_expired(*, batch_size: int = 1000) -> int:
    """Delete expired records of every merchant, `batch_size` rows per statement so no long
    lock is held. Idempotent; returns how many rows were deleted."""
    deleted_total = 0
    now = timezone.now()
    # Crosses tenants on purpose: the purge has no merchant and touches only expired rows.
    records = IdempotencyRecord.unscoped_all_merchants
    while True:
        batch = list(records.filter(expires_at__lte=now).values_list("pk", flat=True)[:batch_size])
        if not batch:
            return deleted_total
        deleted, _ = records.filter(pk__in=batch, expires_at__lte=now).delete()
        deleted_total += deleted
