"""`Idempotency-Key` for every POST under `/api/v1/`: the same key and body replay the first
response; another body is refused; a duplicate arriving while the first still runs is told so.

Flow (wired into `MerchantAPIView`, after authentication, inside the key's merchant). With a
shared Redis (`API_RATE_LIMIT_REDIS_URL`, else `REDIS_URL`) records live there
(`referral_saas.api.idempotency_store`) and cost no round trip of their own before the handler:

1. `idempotency_pending` checks the header and fingerprints the request before authentication;
   the claim then runs inside the rate limit's Lua script (the key lookup's round trip for a
   cached key, else the rate limit's), only when the request is within the limit. The script
   atomically takes a free key, or retakes an `in_flight` one with the same body claimed more
   than `IDEMPOTENCY_ABANDONED_AFTER_SECONDS` ago (its process crashed), and otherwise answers
   422 (other body), 409 (still in flight) or the stored response (`idempotency_begin` acts on
   its answer). A request refused after the claim but before its handler (401, 403, 429, a bad
   query) releases it, so such refusals are never replayed, as before.
2. The handler runs.
3. `idempotency_finish` stores the rendered response under our claim token with one Lua call
   (2xx and 4xx), or deletes the claim (5xx, or a response that cannot be stored). A record
   expires `IDEMPOTENCY_RETENTION_HOURS` after its claim (Redis TTL: no purge).

So a conversion POST with the header makes one Redis round trip before the handler and one
after, and no database query for idempotency.

Without Redis (the embedded default) or while it is unreachable, the same guarantees hold in
the database (`IdempotencyRecord`): one INSERT … ON CONFLICT claims (its own autocommit
statement, so a concurrent duplicate sees it at once; the same statement retakes an expired or
abandoned record), a SELECT follows only when the key is taken, and one UPDATE stores the
response; an hourly beat task purges expired rows. A claim taken in Redis whose response
cannot be stored there (Redis went away meanwhile) is written to the database instead, so
retries during the outage replay it. Once Redis answers again, the first request of a process
that recorded keys in the database marks the merchant in Redis (`idem:db:<merchant>`, for the
retention period): while the mark lasts, a key new to Redis is also looked up in the database
(one indexed SELECT, inside the claim's answer, no extra Redis round trip), so a retry of a key
first used during the outage replays it (or gets its 422 or 409) after the outage too. What is
left unseen: a key first claimed in Redis and retried while Redis is unreachable runs the
handler again, as does a key used during an outage in a process that never reaches Redis
afterwards; the services' natural keys (`order_id`, enrolment email) are the backstop, as they
are for a Redis that lost its data.

A crash between the handler's commit and step 3 leaves the claim `in_flight`; after the
abandonment delay a retry runs the handler again, and the same natural keys keep that second
run from doubling a reward. Without the header none of this runs: nothing is added to the hot
path. Erasure (`idempotency_responses_erase`) deletes stored responses mentioning a data
subject in both stores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import redis
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from rest_framework.response import Response

from accounts.models import IdempotencyRecord, IdempotencyState
from referral_saas import tenancy
from referral_saas.api import idempotency_store
from referral_saas.api.errors import ApiError
from referral_saas.api.idempotency_store import ClaimOutcome, PendingClaim, StoredRecord
from referral_saas.api.shared_redis import redis_available, redis_failed, shared_redis_url

if TYPE_CHECKING:
    from accounts.models import Merchant

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Claim:
    """This request owns the key in the database: `(record_id, claimed_at)` names our claim, not
    a later retake."""

    record_id: int
    claimed_at: datetime


# What a request holds while its handler runs: a database claim, or a Redis one (the outcome
# `claimed`, named by its record and token).
HeldClaim = Claim | ClaimOutcome


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
    # ASCII and printable: " " to "~", one C call each rather than a Python test per character.
    if not 0 < len(key) <= MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
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


def _answer_taken_as(
    *, state: str | None, matches: bool, status: int | None, body: str
) -> NoReturn:
    if not matches:
        raise ApiError(
            status_code=422,
            type="invalid_request_error",
            code="idempotency_key_reused",
            message=f"This {HEADER} was already used with a different request; "
            "use a new key for a new request.",
            param=HEADER,
        )
    if state == IdempotencyState.IN_FLIGHT or status is None:
        raise ApiError(
            status_code=409,
            type="invalid_request_error",
            code="idempotency_key_in_flight",
            message=f"A request with this {HEADER} is still being processed; retry later.",
            param=HEADER,
        )
    raise Replay(StoredResponse(status=status, body=body))


def _answer_taken(record: IdempotencyRecord, fingerprint: str) -> NoReturn:
    _answer_taken_as(
        state=record.state,
        matches=record.fingerprint == fingerprint,
        status=record.response_status,
        body=record.response_body,
    )


def idempotency_pending(request: HttpRequest) -> PendingClaim | None:
    """What this request would claim: its key and fingerprint (None without the header). A 400
    naming the header if it is malformed, or if the body is too large to fingerprint."""
    key = idempotency_key_of(request)
    if key is None:
        return None
    return PendingClaim(key=key, fingerprint=request_fingerprint(request))


def _too_many_races() -> ApiError:
    return ApiError(
        status_code=409,
        type="invalid_request_error",
        code="idempotency_key_in_flight",
        message=f"Concurrent requests with this {HEADER}; retry later.",
        param=HEADER,
    )


# Merchants whose keys this process recorded in the database while the shared Redis was
# configured but unreachable, and which Redis has not been told about yet.
_recorded_during_outage: set[str] = set()


def _outage_recorded() -> None:
    if shared_redis_url():
        _recorded_during_outage.add(tenancy.get_current_merchant().public_id)


def _outage_told(merchant_public_id: str) -> bool:
    """Tell Redis, now that it answers, that this merchant has keys in the database (the
    first request after an outage); True if there was anything to tell."""
    if merchant_public_id not in _recorded_during_outage:
        return False
    try:
        idempotency_store.mark_database_records(merchant_public_id)
    except redis.RedisError as error:
        _redis_lost(error)
    else:
        _recorded_during_outage.discard(merchant_public_id)
    return True


def _claimed_in_database_before(outcome: ClaimOutcome) -> None:
    """A key new to Redis that the database may hold from an outage: answer as the database's
    record says (replay, 422, 409), giving the Redis claim back; nothing when it holds none."""
    record = (
        IdempotencyRecord.objects.filter(key=outcome.pending.key, expires_at__gt=timezone.now())
        .only("fingerprint", "state", "response_status", "response_body")
        .first()
    )
    if record is None:
        return
    try:
        idempotency_store.release(outcome)
    except redis.RedisError as error:
        _redis_lost(error)
    _answer_taken(record, outcome.pending.fingerprint)


def _answer_from_redis(outcome: ClaimOutcome, *, after_outage: bool = False) -> ClaimOutcome:
    if outcome.kind == "claimed":
        if outcome.check_database or after_outage:
            _claimed_in_database_before(outcome)
        return outcome
    if outcome.kind == "reused":
        _answer_taken_as(state=None, matches=False, status=None, body="")
    if outcome.kind == "in_flight":
        _answer_taken_as(state=IdempotencyState.IN_FLIGHT, matches=True, status=None, body="")
    return _answer_taken_as(
        state=IdempotencyState.COMPLETED,
        matches=True,
        status=outcome.status,
        body=outcome.body or "",
    )


def _begin_in_database(merchant_id: int, pending: PendingClaim) -> Claim:
    # A taken key is read back; if it vanished meanwhile (a 5xx released it, or the purge ran),
    # claim again. Twice is enough: each retry needs a delete to race it.
    for _ in range(3):
        claim = _try_claim(
            merchant_id=merchant_id, key=pending.key, fingerprint=pending.fingerprint
        )
        if claim is not None:
            return claim
        record = (
            IdempotencyRecord.objects.filter(key=pending.key)
            .only("fingerprint", "state", "response_status", "response_body")
            .first()
        )
        if record is not None:
            _answer_taken(record, pending.fingerprint)
    raise _too_many_races()


def idempotency_begin(
    *, merchant_id: int, pending: PendingClaim | None, outcome: ClaimOutcome | None
) -> HeldClaim | None:
    """Act on the claim of `pending` for the current merchant (None without the header): the
    `outcome` Redis gave in the rate limit's round trip, or, without one (no Redis, or Redis
    unreachable), a claim in the database.

    Raises `ApiError` (409 in flight, 422 other body) or `Replay` (completed).
    """
    if pending is None:
        return None
    if outcome is not None:
        merchant_public_id = tenancy.get_current_merchant().public_id
        return _answer_from_redis(outcome, after_outage=_outage_told(merchant_public_id))
    _outage_recorded()
    return _begin_in_database(merchant_id, pending)


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


def _redis_lost(error: redis.RedisError) -> None:
    redis_failed(shared_redis_url())
    logger.warning("Idempotency records unavailable in Redis, using the database: %s", error)


def _store_in_database_instead(claim: ClaimOutcome, status: int, body: str) -> None:
    """Redis went away while the handler ran: keep the response where the requests of the
    outage look (an existing row, another claim of the outage, wins), and once Redis is back
    (`_outage_recorded`)."""
    _outage_recorded()
    claimed_at = datetime.fromtimestamp(claim.claimed_at_ms / 1000, tz=UTC)
    IdempotencyRecord.objects.bulk_create(
        [
            IdempotencyRecord(
                merchant=tenancy.get_current_merchant(),
                key=claim.pending.key,
                fingerprint=claim.pending.fingerprint,
                state=IdempotencyState.COMPLETED,
                response_status=status,
                response_body=body,
                created_at=claimed_at,
                expires_at=claimed_at + timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS),
            )
        ],
        ignore_conflicts=True,
    )


def idempotency_finish(claim: HeldClaim, response: HttpResponseBase) -> None:
    """Store the response under our claim (one Lua call in Redis, one UPDATE in the database),
    or release the claim (5xx)."""
    body = _storable_body(response)
    if body is None:
        idempotency_release(claim)
        return
    if isinstance(claim, ClaimOutcome):
        try:
            stored = idempotency_store.store(claim, status=response.status_code, body=body)
        except redis.RedisError as error:
            _redis_lost(error)
            _store_in_database_instead(claim, response.status_code, body)
            return
        if not stored:
            logger.warning("Idempotency claim %s was retaken before it completed", claim.record)
        return
    mine = IdempotencyRecord.objects.filter(
        pk=claim.record_id, created_at=claim.claimed_at, state=IdempotencyState.IN_FLIGHT
    )
    updated = mine.update(
        state=IdempotencyState.COMPLETED, response_status=response.status_code, response_body=body
    )
    if updated != 1:
        # Retaken as abandoned while we ran (a handler slower than the abandonment delay).
        logger.warning("Idempotency claim %s was retaken before it completed", claim.record_id)


def idempotency_release(claim: HeldClaim) -> None:
    """Forget our claim so the client can retry with the same key (after a 5xx or a crash)."""
    if isinstance(claim, ClaimOutcome):
        try:
            idempotency_store.release(claim)
        except redis.RedisError as error:
            # The claim stays in flight: retaken after the abandonment delay, or it expires.
            _redis_lost(error)
        return
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


def _in_redis() -> bool:
    url = shared_redis_url()
    return bool(url) and redis_available(url)


def _as_stored(record: IdempotencyRecord) -> StoredRecord:
    return StoredRecord(
        identity=str(record.pk),
        key=record.key,
        fingerprint=record.fingerprint,
        state=record.state,
        response_status=record.response_status,
        response_body=record.response_body,
        created_at=record.created_at,
        expires_at=record.expires_at,
    )


def idempotency_records_of(merchant: Merchant) -> list[StoredRecord]:
    """Every record of `merchant` in both stores (the database's first, then the live ones in
    Redis), each in claim order. For tests and operators; raises if Redis is unreachable."""
    with tenancy.merchant_context(merchant):
        rows = [_as_stored(row) for row in IdempotencyRecord.objects.order_by("pk")]
    if shared_redis_url():
        rows += idempotency_store.records_of(merchant.public_id)
    return rows


def idempotency_record_put(merchant: Merchant, record: StoredRecord) -> StoredRecord:
    """Write `record` in the store a request would claim in now (tests: a claim in flight,
    abandoned, expired); the record as written, `identity` naming it."""
    if _in_redis():
        return dataclasses.replace(
            record, identity=idempotency_store.put(merchant.public_id, record)
        )
    with tenancy.merchant_context(merchant):
        row = IdempotencyRecord.objects.create(
            key=record.key,
            fingerprint=record.fingerprint,
            state=record.state,
            response_status=record.response_status,
            response_body=record.response_body,
            created_at=record.created_at,
            expires_at=record.expires_at,
        )
    return _as_stored(row)


def idempotency_responses_erase(email: str) -> int:
    """Delete the current merchant's stored responses that mention `email`, in both stores, so
    a retry with such a key runs again instead of replaying personal data; how many. Raises
    `redis.RedisError` when Redis is configured but unreachable: erasure must not claim a
    success it did not achieve."""
    deleted, _ = IdempotencyRecord.objects.filter(response_body__icontains=email).delete()
    if shared_redis_url():
        merchant = tenancy.get_current_merchant()
        deleted += idempotency_store.erase_mentioning(merchant.public_id, email)
    return deleted
