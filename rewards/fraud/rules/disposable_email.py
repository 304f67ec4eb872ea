"""Disposable email: the friend's address is on the maintained `disposable-email-domains` list
(subdomains included). Mainstream providers are never flagged (`emails.MAINSTREAM_PROVIDERS`)."""

from __future__ import annotations

from referral_saas.emails import disposable_match
from rewards.fraud.base import BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts

SCORE = 60


class DisposableEmail(BaseRule):
    name = "disposable_email"

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        for given in sorted(facts.friend_emails.values()):
            listed = disposable_match(given)
            if listed is not None:
                return Hit(
                    score=SCORE,
                    detail=f"The friend's email {given} uses a throwaway mail service ({listed}).",
                    evidence={"email": given, "listed_domain": listed},
                )
        return None
