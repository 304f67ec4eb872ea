"""Blocked referrer: the referral click came from a website the merchant refuses (a coupon
site, a cashback portal): the link was posted publicly, not shared with a friend."""

from __future__ import annotations

from urllib.parse import urlsplit

from referral_saas.emails import matching_domain
from rewards.fraud.base import BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts

SCORE = 80


class BlockedReferrer(BaseRule):
    name = "blocked_referrer"

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        blocked = inp.fraud.blocked_referring_domains
        if inp.click is None or not blocked or not inp.click.referer:
            return None
        host = referer_host(inp.click.referer)
        listed = matching_domain(host, blocked) if host else None
        if listed is None:
            return None
        return Hit(
            score=SCORE,
            detail=f"The referral link was opened from {host}, a blocked website ({listed}).",
            evidence={"referer_host": host, "blocked_domain": listed},
        )


def referer_host(referer: str) -> str:
    """The host of a Referer header value; empty when it is not a URL with a host."""
    try:
        return (urlsplit(referer.strip()).hostname or "").rstrip(".")
    except ValueError:
        return ""
