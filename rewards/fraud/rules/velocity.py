"""Velocity: too many referred orders too fast — per advocate (24 h), per IP address (24 h)
and per program (1 h). At the limit passes; one over flags.

An IP address alone is at most a review, whatever the configuration says: twenty colleagues
behind one office address are twenty real friends until someone looks."""

from __future__ import annotations

from typing import Any

from rewards.fraud.base import REJECT, REVIEW, BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts

SCORE = 50


class Velocity(BaseRule):
    name = "velocity"

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        fraud, counts = inp.fraud, facts.velocity
        exceeded: list[dict[str, Any]] = []
        sentences: list[str] = []
        # Each count is of earlier conversions; this one makes it one more.
        if counts.advocate + 1 > fraud.velocity_per_advocate_per_day:
            exceeded.append(
                _limit("advocate_per_day", counts.advocate + 1, fraud.velocity_per_advocate_per_day)
            )
            sentences.append(
                f"{counts.advocate + 1} orders referred by this advocate in 24 hours "
                f"(limit {fraud.velocity_per_advocate_per_day})"
            )
        if inp.conversion.ip_hash and counts.ip + 1 > fraud.velocity_per_ip_per_day:
            exceeded.append(_limit("ip_per_day", counts.ip + 1, fraud.velocity_per_ip_per_day))
            sentences.append(
                f"{counts.ip + 1} referred orders from one IP address in 24 hours "
                f"(limit {fraud.velocity_per_ip_per_day})"
            )
        per_hour = fraud.velocity_per_program_per_hour
        if per_hour is not None and counts.program + 1 > per_hour:
            exceeded.append(_limit("program_per_hour", counts.program + 1, per_hour))
            sentences.append(
                f"{counts.program + 1} referred orders in this program in one hour "
                f"(limit {per_hour})"
            )
        if not exceeded:
            return None
        ip_only = all(item["limit"] == "ip_per_day" for item in exceeded)
        return Hit(
            score=SCORE,
            detail="; ".join(sentences) + ".",
            evidence={"exceeded": exceeded},
            ceiling=REVIEW if ip_only else REJECT,
        )


def _limit(name: str, count: int, limit: int) -> dict[str, Any]:
    return {"limit": name, "count": count, "threshold": limit}
