"""`Idempotency-Key` records in the shared Redis (`accounts.api.idempotency` has the flow).

A record is a hash `idem:rec:<merchant public id>:<key>`: `fp` (the request's fingerprint),
`st` (`in_flight` or `completed`), `tok` (who holds the claim), `at` (claimed at, epoch ms),
then `status` and `body` once completed. It expires `IDEMPOTENCY_RETENTION_HOURS` after its
claim, so no purge is needed. Each merchant has an index, a sorted set
`idem:idx:<merchant public id>` of its record names scored by expiry, so erasure can find the
stored responses of one merchant without scanning the keyspace.

The claim is not a round trip of its own: `CLAIM_LUA` runs inside the rate limit's script
(`referral_saas.api.ratelimit`), after the count and only when the request is within the limit.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from django.conf import settings

from referral_saas.api.shared_redis import redis_client, script, shared_redis_url

RECORD_PREFIX = "idem:rec:"
INDEX_PREFIX = "idem:idx:"
OUTAGE_PREFIX = "idem:db:"
IN_FLIGHT = "in_flight"
COMPLETED = "completed"

# The claim, as a fragment of the rate limit's script: `count` is the request's count in its
# window; KEYS[3] the record, KEYS[4] the merchant's index, KEYS[5] the merchant's outage mark
# (`mark_database_records`); ARGV[4] the limit, ARGV[5] the fingerprint, ARGV[6] our token,
# ARGV[7] now (ms), ARGV[8] abandoned before (ms), ARGV[9] the retention (ms). Yields `claim`:
# {'claimed'} ({'claimed', 'check_database'} for a key new to Redis while the merchant's outage
# mark lasts), {'reused'}, {'in_flight'} or {'completed', status, body}; false when not tried (no
# key, or over the limit: a refused request claims nothing).
CLAIM_LUA = """
local claim = false
local check = false
if KEYS[3] and count <= tonumber(ARGV[4]) then
    local record = redis.call('HMGET', KEYS[3], 'fp', 'st', 'at', 'status', 'body')
    local take = false
    if not record[1] then
        take = true
        -- Redis has not seen this key; since an outage the database may have (KEYS[5]).
        if KEYS[5] and tonumber(redis.call('GET', KEYS[5]) or '0') > tonumber(ARGV[7]) then
            check = true
        end
    elseif record[1] ~= ARGV[5] then
        claim = {'reused'}
    elseif record[2] == 'in_flight' or not record[4] then
        -- Still running, unless its process died: the same body retakes it after the delay.
        if tonumber(record[3]) <= tonumber(ARGV[8]) then
            take = true
        else
            claim = {'in_flight'}
        end
    else
        claim = {'completed', record[4], record[5]}
    end
    if take then
        redis.call('DEL', KEYS[3])
        redis.call('HSET', KEYS[3], 'fp', ARGV[5], 'st', 'in_flight', 'tok', ARGV[6],
                   'at', ARGV[7])
        redis.call('PEXPIRE', KEYS[3], ARGV[9])
        local expires = tonumber(ARGV[7]) + tonumber(ARGV[9])
        redis.call('ZADD', KEYS[4], expires, KEYS[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[7])
        redis.call('PEXPIRE', KEYS[4], ARGV[9])
        claim = {'claimed'}
        if check then
            claim = {'claimed', 'check_database'}
        end
    end
end
"""

# Complete our claim (still ours and still in flight) with the response; 1 if stored.
_STORE = """
local record = redis.call('HMGET', KEYS[1], 'tok', 'st')
if record[1] == ARGV[1] and record[2] == 'in_flight' then
    redis.call('HSET', KEYS[1], 'st', 'completed', 'status', ARGV[2], 'body', ARGV[3])
    return 1
end
return 0
"""

# Move a merchant's outage mark on to ARGV[1] (ms), never back; it expires then (ARGV[2] ms).
_MARK = """
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""

# Forget our claim (still ours and still in flight); 1 if deleted.
_RELEASE = """
local record = redis.call('HMGET', KEYS[1], 'tok', 'st')
if record[1] == ARGV[1] and record[2] == 'in_flight' then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class PendingClaim:
    """What a request asks to claim: its `Idempotency-Key` and its fingerprint."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class ClaimAttempt:
    """The keys and arguments of one claim inside the rate limit's script."""

    pending: PendingClaim
    record: str
    index: str
    outage: str
    token: str
    claimed_at_ms: int
    args: tuple[str, ...]


@dataclass(frozen=True)
class ClaimOutcome:
    """What Redis answered: `claimed` (ours, under `token`; `check_database`: the key is new
    to Redis but the database may hold it from an outage), `reused` (another body),
    `in_flight`, or `completed` with the first response's `status` and `body`."""

    kind: str
    pending: PendingClaim
    record: str
    token: str
    claimed_at_ms: int
    status: int | None = None
    body: str | None = None
    check_database: bool = False


@dataclass(frozen=True)
class StoredRecord:
    """A record as the tests and erasure see it, whichever store holds it (`identity` names the
    row or the Redis record)."""

    identity: str
    key: str
    fingerprint: str
    state: str
    response_status: int | None
    response_body: str
    created_at: datetime
    expires_at: datetime


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def record_name(merchant_public_id: str, key: str) -> str:
    return f"{RECORD_PREFIX}{merchant_public_id}:{key}"


def index_name(merchant_public_id: str) -> str:
    return f"{INDEX_PREFIX}{merchant_public_id}"


def outage_name(merchant_public_id: str) -> str:
    return f"{OUTAGE_PREFIX}{merchant_public_id}"


def _retention_ms() -> int:
    return int(settings.IDEMPOTENCY_RETENTION_HOURS) * 3600 * 1000


def claim_attempt(pending: PendingClaim, merchant_public_id: str) -> ClaimAttempt:
    now_ms = int(time.time() * 1000)
    token = secrets.token_hex(8)
    abandoned_before_ms = now_ms - int(settings.IDEMPOTENCY_ABANDONED_AFTER_SECONDS) * 1000
    return ClaimAttempt(
        pending=pending,
        record=record_name(merchant_public_id, pending.key),
        index=index_name(merchant_public_id),
        outage=outage_name(merchant_public_id),
        token=token,
        claimed_at_ms=now_ms,
        args=(
            pending.fingerprint,
            token,
            str(now_ms),
            str(abandoned_before_ms),
            str(_retention_ms()),
        ),
    )


def claim_outcome(attempt: ClaimAttempt, raw: list[bytes] | None) -> ClaimOutcome | None:
    """The script's `claim` as an outcome; None when it was not tried."""
    if not raw:
        return None
    kind = raw[0].decode()
    status = int(raw[1]) if kind == COMPLETED else None
    body = raw[2].decode() if kind == COMPLETED else None
    return ClaimOutcome(
        kind=kind,
        pending=attempt.pending,
        record=attempt.record,
        token=attempt.token,
        claimed_at_ms=attempt.claimed_at_ms,
        status=status,
        body=body,
        check_database=kind == "claimed" and len(raw) > 1,
    )


def mark_database_records(merchant_public_id: str) -> None:
    """Say that keys of this merchant were recorded in the database while Redis was
    unreachable: for the retention period from now, a key new to Redis is looked up there too
    (`ClaimOutcome.check_database`). One round trip. Raises `redis.RedisError`."""
    retention_ms = _retention_ms()
    until_ms = int(time.time() * 1000) + retention_ms
    script(shared_redis_url(), _MARK)(
        keys=[outage_name(merchant_public_id)], args=[until_ms, retention_ms]
    )


def store(outcome: ClaimOutcome, *, status: int, body: str) -> bool:
    """Complete our claim with the response, one round trip; False if it is no longer ours
    (retaken as abandoned). Raises `redis.RedisError` when Redis is unreachable."""
    stored = script(shared_redis_url(), _STORE)(
        keys=[outcome.record], args=[outcome.token, status, body]
    )
    return bool(stored)


def release(outcome: ClaimOutcome) -> None:
    """Forget our claim so the client may retry. Raises `redis.RedisError`."""
    script(shared_redis_url(), _RELEASE)(keys=[outcome.record], args=[outcome.token])


def _names_of(merchant_public_id: str) -> list[tuple[bytes, float]]:
    """The merchant's live record names with their expiry (ms), from its index."""
    client = redis_client(shared_redis_url())
    now_ms = int(time.time() * 1000)
    names = client.zrangebyscore(index_name(merchant_public_id), now_ms, "+inf", withscores=True)
    return cast("list[tuple[bytes, float]]", names)


def records_of(merchant_public_id: str) -> list[StoredRecord]:
    """Every live record of one merchant, oldest claim first."""
    client = redis_client(shared_redis_url())
    records = []
    prefix = len(record_name(merchant_public_id, ""))
    for name, expires_ms in _names_of(merchant_public_id):
        fields = cast("dict[bytes, bytes]", client.hgetall(name))
        if not fields:
            continue
        status = fields.get(b"status")
        records.append(
            StoredRecord(
                identity=name.decode(),
                key=name.decode()[prefix:],
                fingerprint=fields[b"fp"].decode(),
                state=fields[b"st"].decode(),
                response_status=None if status is None else int(status),
                response_body=fields.get(b"body", b"").decode(),
                created_at=_moment(int(fields[b"at"])),
                expires_at=_moment(int(expires_ms)),
            )
        )
    return sorted(records, key=lambda record: (record.created_at, record.identity))


def put(merchant_public_id: str, record: StoredRecord) -> str:
    """Write a record as given (tests: a claim in flight, abandoned, expired); its name."""
    client = redis_client(shared_redis_url())
    name = record_name(merchant_public_id, record.key)
    fields: dict[Any, Any] = {
        "fp": record.fingerprint,
        "st": record.state,
        "tok": "put",
        "at": _ms(record.created_at),
    }
    if record.response_status is not None:
        fields |= {"status": record.response_status, "body": record.response_body}
    with client.pipeline() as pipe:
        pipe.delete(name)
        pipe.hset(name, mapping=fields)
        pipe.pexpireat(name, _ms(record.expires_at))  # in the past: gone, as expiry would do
        pipe.zadd(index_name(merchant_public_id), {name: _ms(record.expires_at)})
        pipe.execute()
    return name


def erase_mentioning(merchant_public_id: str, text: str) -> int:
    """Delete one merchant's records whose stored response contains `text` (case-insensitive);
    how many. Raises `redis.RedisError`: erasure must not report success it did not achieve."""
    client = redis_client(shared_redis_url())
    needle = text.lower()
    erased = 0
    for name, _ in _names_of(merchant_public_id):
        body = cast("bytes | None", client.hget(name, "body"))
        if body is not None and needle in body.decode().lower():
            erased += int(client.delete(name))
            client.zrem(index_name(merchant_public_id), name)
    return erased
