"""A small fixed-window limiter for the public forms (join, "send my link again", friend
email capture), counted in the cache (Redis in production). Keys hold a keyed hash of the IP,
never the IP. Fails open if the cache is unreachable: a form must not go down with its limiter."""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def allow(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit on `key`; False once more than `limit` hits fell in the current window."""
    name = f"hosted:rl:{key}"
    try:
        if cache.add(name, 1, timeout=window_seconds):
            return True
        return int(cache.incr(name)) <= limit
    except ValueError:  # expired between add and incr: this hit opens a new window
        cache.add(name, 1, timeout=window_seconds)
        return True
    except Exception:
        logger.warning("hosted rate limiter unavailable; allowing", exc_info=True)
        return True
