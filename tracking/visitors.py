"""Who a click's visitor is, as the unique-visitor counts see it, and where that visitor falls
in a HyperLogLog sketch (`analytics.sketch`).

The key is the best evidence the click carries: the visitor id (set only with the visitor's
consent), else the keyed IP hash with the user agent, else the truncated IP prefix with the
user agent; a click with none of these (erased, or recorded without them) is one visitor of its
own. Keys other than the visitor id are only good for one day (an address is shared and
reassigned), so they carry the click's UTC day. `analytics.compute` writes the same key in SQL
for clicks stored without a register.

A click stores its register (`Click.visitor_register`: the sketch register its key's hash
falls in, times 64, plus the rank of the rest of the hash) when it is recorded, so counting the
visitors of the clicks since the last roll-up is a GROUP BY on an integer instead of hashing
every key on each page view. The register says nothing of the person (12 bits of a hash and a
count of its zeros); it is cleared with the fields it derives from.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracking.models import Click

PRECISION = 12
REGISTERS = 1 << PRECISION
RANK_BITS = 6  # a rank is at most 64 - PRECISION + 1 = 53 < 64
RANK_MASK = (1 << RANK_BITS) - 1
_REST_BITS = 64 - PRECISION
_REST_MASK = (1 << _REST_BITS) - 1


def register_of(key: str) -> int:
    """The register a key falls in and its rank, as `index << RANK_BITS | rank`."""
    value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    rank = _REST_BITS - (value & _REST_MASK).bit_length() + 1
    return (value >> _REST_BITS) << RANK_BITS | rank


def visitor_key(
    *,
    visitor_id: str,
    ip_hash: str,
    ip_prefix: str,
    user_agent: str,
    public_id: str,
    day: date,
) -> str:
    if visitor_id:
        return f"v:{visitor_id}"
    if ip_hash:
        key = f"ip:{ip_hash}|{user_agent}"
    elif ip_prefix:
        key = f"net:{ip_prefix}|{user_agent}"
    else:
        key = f"click:{public_id}"
    return f"{key}@{day}"


def click_register(click: Click) -> int:
    """The register of a click, saved or about to be."""
    return register_of(
        visitor_key(
            visitor_id=click.visitor_id,
            ip_hash=click.ip_hash,
            ip_prefix=click.ip_prefix,
            user_agent=click.user_agent,
            public_id=click.public_id,
            day=click.created_at.astimezone(UTC).date(),
        )
    )
