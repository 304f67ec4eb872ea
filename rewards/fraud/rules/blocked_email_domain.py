"""Blocked email domain: the friend's address is at a domain (or a subdomain of one) the
merchant refuses — its own staff domain, a competitor, a reseller."""

from __future__ import annotations

from referral_saas.emails import email_domain, matching_domain
from rewards.fraud.base import BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts

SCORE = 90


class BlockedEmailDomain(BaseRule):
    name = "blocked_email_domain"

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        blocked = inp.fraud.blocked_email_domains
        if not blocked:
            return None
        for given in sorted(facts.friend_emails.values()):
            listed = matching_domain(email_domain(given), blocked)
            if listed is not None:
                return Hit(
                    score=SCORE,
                    detail=f"The friend's email {given} is at a blocked domain ({listed}).",
                    evidence={"email": given, "blocked_domain": listed},
                )
        return None
