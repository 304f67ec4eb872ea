"""Per-API-key rate limits: a fixed window counted in Redis with one round trip.

Each key has its own counter (`ratelimit:api:<key public id>`), so one merchant's noisy key
cannot exhaust another's. The window opens at a key's first request in it and lasts
`API_RATE_LIMIT_WINDOW_SECONDS`; secret and publishable keys have their own limits. Beyond the
limit: 429 in the error envelope with `Retry-After`. Every counted response carries
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds).

Redis unreachable: the limiter fails open (the request is served, a warning logged, Redis left
alone for a few seconds), because the API must not go down with its limiter. With no Redis URL
at all (the embedded `make run` default) the counters live in the process: a development
convenience, not a limit across processes.

The same round trip carries the request's `Idempotency-Key` claim when there is one
(`referral_saas.api.idempotency_store.CLAIM_LUA`, tried only within the limit), so a POST with
the header costs no more Redis round trips before its handler than one without.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from django.conf import settings

from referral_saas.api import idempotency_store
from referral_saas.api.errors import ApiError
from referral_saas.api.idempotency_store import ClaimOutcome, PendingClaim
from referral_saas.api.shared_redis import (
    redis_available,
    redis_client,
    redis_failed,
    script,
    shared_redis_url,
)

if TYPE_CHECKING:
    from accounts.models import ApiKey

logger = logging.getLogger(__name__)

# INCR, start the window on the first hit (or heal a counter that lost its TTL), return the count
# and the milliseconds left: one round trip, atomic. With a second key (KEYS[2], '' for none),
# the same round trip also reads a cache version (see `version_key`), starting it with ARGV[2]
# when absent; with a third and fourth, it claims an `Idempotency-Key` (CLAIM_LUA).
_INCREMENT = (
    """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
local version = false
if KEYS[2] and KEYS[2] ~= '' then
    version = redis.call('GET', KEYS[2])
    if not version then
        redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
        version = ARGV[2]
    end
end
"""
    + idempotency_store.CLAIM_LUA
    + """
return {count, ttl, version, claim}
"""
)

# The version alone (GET, or SET when absent), for a lookup that has nothing to count yet.
_VERSION = """
local version = redis.call('GET', KEYS[1])
if not version then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
    version = ARGV[1]
end
return version
"""

# A version lives this long without use; when it is gone the next read starts a new random one,
# which no cached entry carries, so forgetting a version is always safe.
VERSION_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Counted:
    """One request counted in a window: the count, the milliseconds left and, when asked for,
    the cache version and the `Idempotency-Key` claim's outcome read in the same round trip."""

    count: int
    ttl_ms: int
    version: bytes | None = None
    claim: ClaimOutcome | None = None


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset_seconds: int

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(self.reset_seconds),
        }


_local_lock = threading.Lock()
_local_windows: dict[str, tuple[float, int]] = {}


def _redis_failed(url: str, error: redis.RedisError) -> None:
    redis_failed(url)
    logger.warning("Rate limiter unavailable, serving requests unlimited: %s", error)


def _count_in_redis(
    url: str,
    counter: str,
    window_ms: int,
    version_key: str | None = None,
    claim: idempotency_store.ClaimAttempt | None = None,
    limit: int = 0,
) -> Counted | None:
    """The count, ms left in the window (the version of `version_key`, the outcome of `claim`),
    or None when Redis is unreachable (fail open)."""
    if not redis_available(url):
        return None
    # Only the keys in use ('' holds the version's place before a claim's): fewer to encode.
    keys = [counter] if version_key is None else [counter, version_key]
    args: list[str | int] = [window_ms, secrets.token_hex(8), VERSION_TTL_SECONDS]
    if claim is not None:
        keys = [counter, version_key or "", claim.record, claim.index, claim.outage]
        args += [limit, *claim.args]
    try:
        count, ttl_ms, version, raw_claim = script(url, _INCREMENT)(keys=keys, args=args)
    except redis.RedisError as error:
        _redis_failed(url, error)
        return None
    outcome = None if claim is None else idempotency_store.claim_outcome(claim, raw_claim)
    return Counted(count=int(count), ttl_ms=int(ttl_ms), version=version or None, claim=outcome)


def _count_in_process(counter: str, window_ms: int) -> Counted:
    now_ms = time.monotonic() * 1000
    with _local_lock:
        ends_ms, count = _local_windows.get(counter, (0.0, 0))
        if ends_ms <= now_ms:
            ends_ms, count = now_ms + window_ms, 0
        count += 1
        _local_windows[counter] = (ends_ms, count)
    return Counted(count=count, ttl_ms=int(ends_ms - now_ms))


def version_read(version_key: str) -> bytes | None:
    """The current version of `version_key` (started at random when absent), one round trip;
    None without a shared Redis or when it is unreachable: then nothing may be cached."""
    url = shared_redis_url()
    if not url or not redis_available(url):
        return None
    try:
        version = script(url, _VERSION)(
            keys=[version_key], args=[secrets.token_hex(8), VERSION_TTL_SECONDS]
        )
    except redis.RedisError as error:
        _redis_failed(url, error)
        return None
    return bytes(version)


def version_forget(version_key: str) -> bool:
    """Drop `version_key`, so every entry cached under it is stale everywhere at once. False if
    Redis could not be told (the caller logs it; entries then age out)."""
    url = shared_redis_url()
    if not url:
        return True
    try:
        redis_client(url).delete(version_key)
    except redis.RedisError:
        logger.exception("Could not drop cache version %s", version_key)
        return False
    return True


def rate_limit_count(
    key: ApiKey, *, version_key: str | None = None, claim: PendingClaim | None = None
) -> Counted | None:
    """Count this request against `key` without judging it (`rate_limit_check` does), reading
    `version_key` and trying `claim` (in `key`'s merchant, only within the limit) in the same
    round trip. None when the limiter is unavailable; no claim is tried without Redis."""
    window_ms = int(settings.API_RATE_LIMIT_WINDOW_SECONDS) * 1000
    # The public id, not the primary key: unique across databases sharing one Redis.
    counter = f"ratelimit:api:{key.public_id}"
    url = shared_redis_url()
    if url:
        if claim is None:
            return _count_in_redis(url, counter, window_ms, version_key)
        attempt = idempotency_store.claim_attempt(claim, key.merchant.public_id)
        return _count_in_redis(url, counter, window_ms, version_key, attempt, limit_for(key))
    return _count_in_process(counter, window_ms)


def limit_for(key: ApiKey) -> int:
    if key.kind == "publishable":
        return int(settings.API_RATE_LIMIT_PUBLISHABLE)
    return int(settings.API_RATE_LIMIT_SECRET)


def rate_limit_check(key: ApiKey, counted: Counted | None = None) -> RateLimit | None:
    """Judge this request's count (`rate_limit_count`, made by the key lookup or the caller;
    counted here when None); raise a 429 `ApiError` beyond the limit. Returns the state for the
    response headers, or None when the limiter is unavailable."""
    limit = limit_for(key)
    if counted is None:
        counted = rate_limit_count(key)
    if counted is None:
        return None
    count, ttl_ms = counted.count, counted.ttl_ms
    state = RateLimit(
        limit=limit, remaining=limit - count, reset_seconds=max(1, math.ceil(ttl_ms / 1000))
    )
    if state.exceeded:
        raise ApiError(
            status_code=429,
            type="rate_limit_error",
            code="rate_limited",
            message=f"Too many requests for this API key: at most {limit} every "
            f"{settings.API_RATE_LIMIT_WINDOW_SECONDS} s. Retry after the Retry-After delay.",
            headers={"Retry-After": str(state.reset_seconds), **state.headers()},
        )
    return state
