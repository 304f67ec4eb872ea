"""A tiered program's ladder as visitors read it: "1 qualified friend → €10 account credit,
5 → €75, 10 → a free year of premium", on the landing page and, with the advocate's place on
it, in the portal. Money in the visitor's locale (programs.summary → babel).

The landing page (hosted.views.landing) renders it."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import ngettext

from programs.specs import ProgramConfig
from programs.summary import reward_phrase


@dataclass(frozen=True)
class Rung:
    threshold: int
    friends: str  # "5 qualified friends"
    reward: str  # "€75 account credit"
    repeat: str  # "then again for every 5 more", or ""
    reached: bool
    is_next: bool


def tier_ladder(config: ProgramConfig, locale: str, qualified: int | None = None) -> list[Rung]:
    """Every tier in order; with `qualified` (the advocate's count) each rung says whether it
    was reached and which one comes next. Empty for programs without tiers. Call inside
    `translation.override(locale)`."""
    rungs: list[Rung] = []
    next_marked = False
    for tier in config.tiers:
        reached = qualified is not None and tier.threshold <= qualified
        is_next = qualified is not None and not reached and not next_marked
        next_marked = next_marked or is_next
        repeat = ""
        if tier.repeat:
            repeat = ngettext(
                "then again for every further friend",
                "then again for every %(count)s more",
                tier.threshold,
            ) % {"count": tier.threshold}
        rungs.append(
            Rung(
                threshold=tier.threshold,
                friends=ngettext(
                    "%(count)s qualified friend", "%(count)s qualified friends", tier.threshold
                )
                % {"count": tier.threshold},
                reward=reward_phrase(tier.reward, locale, with_expiry=True),
                repeat=repeat,
                reached=reached,
                is_next=is_next,
            )
        )
    return rungs
