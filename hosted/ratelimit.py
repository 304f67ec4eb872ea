"""A small fixed-window limiter for the public forms (join, "send my link again", friend
email capture), counted in the cache (Redis in production). Keys hold a keyed hash of the IP,
never the IP. Fails open if the cache is unreachable: a form must not go down with its limiter.

A window opens with its first hit, which also records when the window ends, so a refused post
can be answered 429 with `Retry-After` (read only when refusing: the hot path is unchanged).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # when refused: whole seconds until the window ends (at least 1)

    def __bool__(self) -> bool:
        return self.allowed


def allow(key: str, *, limit: int, window_seconds: int) -> Verdict:
    """Count one hit on `key`; refused once more than `limit` hits fell in the current window."""
    name = f"hosted:rl:{key}"
    try:
        if cache.add(name, 1, timeout=window_seconds):
            cache.set(f"{name}:ends", time.time() + window_seconds, timeout=window_seconds)
            return Verdict(True)
        if int(cache.incr(name)) <= limit:
            return Verdict(True)
        ends = cache.get(f"{name}:ends")
        left = float(ends) - time.time() if ends is not None else window_seconds
        return Verdict(False, max(1, min(window_seconds, int(left + 0.999))))
    except ValueError:  # expired between add and incr: this hit opens a new window
        cache.add(name, 1, timeout=window_seconds)
        cache.set(f"{name}:ends", time.time() + window_seconds, timeout=window_seconds)
        return Verdict(True)
    except Exception:
        logger.warning("hosted rate limiter unavailable; allowing", exc_info=True)
        return Verdict(True)
