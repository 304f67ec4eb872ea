"""The Redis every web process shares for the API's per-request state: rate-limit counters, API
key cache versions and `Idempotency-Key` records (`API_RATE_LIMIT_REDIS_URL`, else `REDIS_URL`;
empty in the embedded default).

One connection pool per process, short timeouts, and after a failure Redis is left alone for a
few seconds, so an outage costs one failed connect per few seconds rather than one per request.
Callers decide what an outage means for them (the limiter fails open, idempotency falls back to
the database).
"""

from __future__ import annotations

import functools
import time

import redis
from django.conf import settings

RETRY_AFTER_FAILURE_SECONDS = 5.0
TIMEOUT_SECONDS = 0.25

_down_until: dict[str, float] = {}


def shared_redis_url() -> str:
    """The shared Redis; empty in the embedded default."""
    return str(settings.API_RATE_LIMIT_REDIS_URL)


@functools.cache
def redis_client(url: str) -> redis.Redis:
    # One connection pool per process (per URL), shared by every request thread.
    pool = redis.ConnectionPool.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
    return redis.Redis(connection_pool=pool)


@functools.cache
def script(url: str, source: str) -> redis.commands.core.Script:
    # EVALSHA, falling back to EVAL once per Redis restart (redis-py handles NOSCRIPT).
    return redis_client(url).register_script(source)


def redis_available(url: str) -> bool:
    return time.monotonic() >= _down_until.get(url, 0.0)


def redis_failed(url: str) -> None:
    """Leave `url` alone for `RETRY_AFTER_FAILURE_SECONDS`."""
    _down_until[url] = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
