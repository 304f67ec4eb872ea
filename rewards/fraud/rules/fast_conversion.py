"""Click to purchase too fast: a real friend reads the offer, browses and pays; an order seconds
after the click (or before it) is usually a script or someone buying for themselves."""

from __future__ import annotations

from rewards.fraud.base import BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts, iso

SCORE = 40


class FastConversion(BaseRule):
    name = "fast_conversion"

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        minimum = inp.fraud.min_seconds_click_to_conversion
        if inp.click is None or minimum <= 0:
            return None
        elapsed = (inp.conversion.occurred_at - inp.click.created_at).total_seconds()
        if elapsed >= minimum:
            return None
        detail = (
            f"The order was placed {_seconds(elapsed)} after the referral click "
            f"(fastest believable: {minimum} seconds)."
            if elapsed >= 0
            else f"The order was placed {_seconds(-elapsed)} before the referral click."
        )
        return Hit(
            score=SCORE,
            detail=detail,
            evidence={
                "seconds": round(elapsed, 3),
                "min_seconds": minimum,
                "clicked_at": iso(inp.click.created_at),
                "ordered_at": iso(inp.conversion.occurred_at),
            },
        )


def _seconds(value: float) -> str:
    whole = int(value)
    return "1 second" if whole == 1 else f"{whole} seconds"
