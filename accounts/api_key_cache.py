"""A short in-process cache of API key lookups, made stale everywhere at once by revocation.

Every API request looks its key up by hash (an indexed SELECT joined to the merchant, about a
third of the CPU of `POST /api/v1/conversions`). Here each web process keeps what it read, for at
most `API_KEY_CACHE_SECONDS`, under a *version* kept in Redis (`apikey:version:<key hash>`):

- a request with a cached key reads the version in the round trip that counts its rate limit
  (`referral_saas.api.ratelimit.rate_limit_count`): same version, no query; another version,
  the key is read again from the database;
- revoking or rolling a key drops its version after the commit (`api_key_cache_invalidate`):
  the next request in any process sees a new version and reads the row, so revocation holds on
  the very next request, warm cache or not;
- a missing version is started at random, never at a value an entry could carry: a Redis that
  lost its data (flush, failover) only costs a re-read. On a miss the version is read *before*
  the row, so a revocation committed between the two is always noticed on the next request.

No Redis (the embedded default) or Redis unreachable: no cache, every request reads the row, as
before. If Redis cannot be told about a revocation, cached entries still expire after
`API_KEY_CACHE_SECONDS`. Each request gets its own copies of the cached instances, so no two
threads share a model instance.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings
from django.db import models, transaction

from referral_saas.api.idempotency_store import PendingClaim
from referral_saas.api.ratelimit import (
    Counted,
    rate_limit_count,
    shared_redis_url,
    version_forget,
    version_read,
)

if TYPE_CHECKING:
    from accounts.models import ApiKey, Merchant

logger = logging.getLogger(__name__)
_Model = TypeVar("_Model", bound=models.Model)

VERSION_PREFIX = "apikey:version:"
# Distinct keys a process remembers; past that it starts over (a process serves a few keys).
MAX_ENTRIES = 4096


@dataclass(frozen=True)
class _Entry:
    key: ApiKey
    merchant: Merchant
    version: bytes
    stored_at: float


@dataclass(frozen=True)
class Lookup:
    """A key found for this request, with its rate-limit count when the lookup made it."""

    key: ApiKey | None
    counted: Counted | None = None


_entries: dict[str, _Entry] = {}
_lock = threading.Lock()


def version_key(key_hash: str) -> str:
    return f"{VERSION_PREFIX}{key_hash}"


def _enabled() -> bool:
    return bool(shared_redis_url()) and float(settings.API_KEY_CACHE_SECONDS) > 0


def _copy(instance: _Model) -> _Model:
    clone = copy.copy(instance)  # Django copies `_state` and its fields cache
    clone._state.fields_cache = {}
    return clone


def _fresh(entry: _Entry) -> ApiKey:
    key = _copy(entry.key)
    key.allowed_origins = list(entry.key.allowed_origins)
    key._state.fields_cache["merchant"] = _copy(entry.merchant)
    return key


def _remember(key_hash: str, key: ApiKey, version: bytes) -> None:
    entry = _Entry(
        key=_copy(key),
        merchant=_copy(key.merchant),
        version=version,
        stored_at=time.monotonic(),
    )
    entry.key.allowed_origins = list(key.allowed_origins)
    # Only read here (the claim's merchant), never handed out: `_fresh` gives copies.
    entry.key._state.fields_cache["merchant"] = entry.merchant
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key_hash] = entry


def _forget_locally(key_hash: str) -> None:
    with _lock:
        _entries.pop(key_hash, None)


def api_key_lookup(
    key_hash: str, fetch: Callable[[], ApiKey | None], *, claim: PendingClaim | None = None
) -> Lookup:
    """The key stored under `key_hash` (active or not: the caller judges), from this process's
    cache when its version still holds, else from `fetch()` (the database). A cached key's
    round trip also tries the request's `Idempotency-Key` `claim` (its outcome in `counted`)."""
    if not _enabled():
        return Lookup(fetch())
    version_name = version_key(key_hash)
    entry = _entries.get(key_hash)
    counted: Counted | None = None
    if entry is not None and time.monotonic() - entry.stored_at < settings.API_KEY_CACHE_SECONDS:
        counted = rate_limit_count(entry.key, version_key=version_name, claim=claim)
        if counted is not None and counted.version == entry.version:
            return Lookup(_fresh(entry), counted)
        # Changed (or Redis unreachable: then version is None and nothing is cached).
        version = counted.version if counted is not None else None
    else:
        version = version_read(version_name)
    _forget_locally(key_hash)
    key = fetch()
    if key is not None and version is not None:
        _remember(key_hash, key, version)
    return Lookup(key, counted)


def api_key_cache_invalidate(key_hash: str) -> None:
    """Make every process's cached copy of this key stale: now in this process, everywhere once
    the current transaction commits (so no process can re-read the old row under the new
    version)."""
    _forget_locally(key_hash)

    def drop() -> None:
        _forget_locally(key_hash)
        if not version_forget(version_key(key_hash)):
            logger.error(
                "API key change not announced to other processes; their cached copies expire "
                "within API_KEY_CACHE_SECONDS"
            )

    transaction.on_commit(drop)


def api_key_cache_touch(key_hash: str, key: ApiKey) -> None:
    """Keep a cached entry's `last_used_at` in step after the lookup wrote it."""
    entry = _entries.get(key_hash)
    if entry is not None:
        entry.key.last_used_at = key.last_used_at


def api_key_cache_clear() -> None:
    """Forget every entry of this process (tests)."""
    with _lock:
        _entries.clear()
