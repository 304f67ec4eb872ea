"""Same network as the advocate: the friend's IP address (on the click or the order) is the
one the advocate enrolled from. Households and offices share addresses, so this only ever adds
to the risk score — never a verdict, whatever a stored configuration asks. When the friend's
browser is also the same on the click and the order the score is a little higher (the same
machine throughout), but still only a score."""

from __future__ import annotations

from typing import Any

from rewards.fraud.base import SCORE_ONLY, BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts

SCORE = 25
SAME_BROWSER_SCORE = 35


class SameIpUserAgent(BaseRule):
    name = "same_ip_user_agent"
    ceiling = SCORE_ONLY

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        advocate_ip = inp.advocate.ip_hash.strip()
        if not advocate_ip:
            return None
        conversion, click = inp.conversion, inp.click
        seen_on = [
            where
            for where, ip in (
                ("order", conversion.ip_hash),
                ("click", click.ip_hash if click is not None else ""),
            )
            if ip and ip == advocate_ip
        ]
        if not seen_on:
            return None
        same_browser = bool(
            click is not None
            and conversion.user_agent
            and click.user_agent == conversion.user_agent
        )
        # No address (not even its prefix) in the evidence: it stays on the rows it came from.
        evidence: dict[str, Any] = {"same_ip_on": seen_on, "same_user_agent": same_browser}
        return Hit(
            score=SAME_BROWSER_SCORE if same_browser else SCORE,
            detail=(
                f"The friend's {' and '.join(seen_on)} came from the IP address the advocate "
                "joined from (households and offices share addresses: a score, not a verdict)."
            ),
            evidence=evidence,
        )
