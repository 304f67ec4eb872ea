"""Duplicate friend: another advocate of the program referred this friend (same normalised
email or customer id) first. One referrer per friend; a variant of the address
(`mario+2@...`, `m.ario@gmail.com`) does not make a second friend."""

from __future__ import annotations

from rewards.fraud.base import BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts, iso

SCORE = 80


class DuplicateFriend(BaseRule):
    name = "duplicate_friend"

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        others = facts.other_referrals
        if not others:
            return None
        first = others[0]
        return Hit(
            score=SCORE,
            detail=(
                f"This friend was already referred as {first.email} by advocate "
                f"{first.advocate_code} on {first.created_at:%Y-%m-%d}."
            ),
            evidence={
                "earlier_referrals": [
                    {
                        "advocate_code": other.advocate_code,
                        "email": other.email,
                        "referred_at": iso(other.created_at),
                    }
                    for other in others
                ]
            },
        )
