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
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from django.conf import settings

from referral_saas.api.errors import ApiError

if TYPE_CHECKING:
    from accounts.models import ApiKey

logger = logging.getLogger(__name__)

# Skip Redis this long after a failure, so an outage costs one failed connect per few seconds
# rather than one per request (and one warning, not thousands).
REDIS_RETRY_AFTER_FAILURE_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.25

# INCR, start the window on the first hit (or heal a counter that lost its TTL), return the count
# and the milliseconds left: one round trip, atomic.
_INCREMENT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


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


@functools.cache
def _redis_client(url: str) -> redis.Redis:
    # One connection pool per process (per URL), shared by every request thread.
    pool = redis.ConnectionPool.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    return redis.Redis(connection_pool=pool)


@functools.cache
def _increment_script(url: str) -> redis.commands.core.Script:
    # EVALSHA, falling back to EVAL once per Redis restart (redis-py handles NOSCRIPT).
    return _redis_client(url).register_script(_INCREMENT)


_redis_down_until: dict[str, float] = {}
_local_lock = threading.Lock()
_local_windows: dict[str, tuple[float, int]] = {}


def _count_in_redis(url: str, counter: str, window_ms: int) -> tuple[int, int] | None:
    """(count, ms left in the window), or None when Redis is unreachable (fail open)."""
    if time.monotonic() < _redis_down_until.get(url, 0.0):
        return None
    try:
        count, ttl_ms = _increment_script(url)(keys=[counter], args=[window_ms])
    except redis.RedisError as error:
        _redis_down_until[url] = time.monotonic() + REDIS_RETRY_AFTER_FAILURE_SECONDS
        logger.warning("Rate limiter unavailable, serving requests unlimited: %s", error)
        return None
    return int(count), int(ttl_ms)


def _count_in_process(counter: str, window_ms: int) -> tuple[int, int]:
    now_ms = time.monotonic() * 1000
    with _local_lock:
        ends_ms, count = _local_windows.get(counter, (0.0, 0))
        if ends_ms <= now_ms:
            ends_ms, count = now_ms + window_ms, 0
        count += 1
        _local_windows[counter] = (ends_ms, count)
    return count, int(ends_ms - now_ms)


def limit_for(key: ApiKey) -> int:
    if key.kind == "publishable":
        return int(settings.API_RATE_LIMIT_PUBLISHABLE)
    return int(settings.API_RATE_LIMIT_SECRET)


def rate_limit_check(key: ApiKey) -> RateLimit | None:
    """Count this request against `key`; raise a 429 `ApiError` beyond the limit. Returns the
    state for the response headers, or None when the limiter is unavailable."""
    limit = limit_for(key)
    window_ms = int(settings.API_RATE_LIMIT_WINDOW_SECONDS) * 1000
    # The public id, not the primary key: unique across databases sharing one Redis.
    counter = f"ratelimit:api:{key.public_id}"
    url: str = settings.API_RATE_LIMIT_REDIS_URL
    counted = (
        _count_in_redis(url, counter, window_ms) if url else _count_in_process(counter, window_ms)
    )
    if counted is None:
        return None
    count, ttl_ms = counted
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
