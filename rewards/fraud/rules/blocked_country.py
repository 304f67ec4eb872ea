"""Blocked country: the order's country (as reported) is one the merchant refuses."""

from __future__ import annotations

from rewards.fraud.base import BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts

SCORE = 90


class BlockedCountry(BaseRule):
    name = "blocked_country"

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        country = inp.conversion.country.strip().upper()
        if not country or country not in inp.fraud.blocked_countries:
            return None
        return Hit(
            score=SCORE,
            detail=f"The order comes from {country}, a country this program does not reward.",
            evidence={"country": country, "blocked_countries": list(inp.fraud.blocked_countries)},
        )
