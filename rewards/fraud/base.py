"""The shapes every fraud rule shares: what a rule reads (`FraudInput`), what a hit says
(`Signal`), what an evaluation decides (`FraudResult`), and `BaseRule`, which applies a program's
configured outcome so each rule module only says whether it hit and why.

Kept apart from `rewards.fraud.__init__` so rule modules can import it without a cycle; the
package re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from programs.specs import Fraud
    from rewards.fraud.facts import Facts
    from tracking.models import Advocate, Click, Conversion, Referral

REJECT, REVIEW, SCORE_ONLY, OFF = "reject", "review", "score_only", "off"
PASS = "pass"  # noqa: S105 (an outcome, not a password)
# Severity order of a configured outcome; a rule may lower its outcome (never raise it).
_SEVERITY = {SCORE_ONLY: 0, REVIEW: 1, REJECT: 2}


@dataclass(frozen=True)
class FraudInput:
    """Everything the rules judge. The conversion is already saved; the rules never count it."""

    conversion: Conversion
    advocate: Advocate
    referral: Referral | None
    click: Click | None
    fraud: Fraud
    program_id: int


@dataclass(frozen=True)
class Signal:
    rule: str
    outcome: str  # reject | review | score_only
    score: int  # 0..100
    detail: str  # one plain sentence for the merchant
    evidence: dict[str, Any]  # JSON-serialisable facts behind the detail

    def reason(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "outcome": self.outcome,
            "detail": self.detail,
            "score": self.score,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class FraudResult:
    signals: tuple[Signal, ...]
    risk_score: int
    outcome: str  # reject | review | pass

    def reasons(self) -> list[dict[str, Any]]:
        """The signals in the shape stored on `Conversion.reasons` (JSON-serialisable)."""
        return [signal.reason() for signal in self.signals]


def combine(signals: tuple[Signal, ...]) -> FraudResult:
    """Outcome: any reject rejects, else any review holds, else pass; score-only signals only
    add to the risk score. The risk score treats each score as an independent chance of fraud,
    100 * (1 - product of (1 - s/100)), in exact fractions: it does not depend on rule order."""
    outcomes = {signal.outcome for signal in signals}
    outcome = REJECT if REJECT in outcomes else REVIEW if REVIEW in outcomes else PASS
    clean = Fraction(1)
    for signal in signals:
        clean *= Fraction(100 - max(0, min(100, signal.score)), 100)
    risk = Fraction(100) - clean * 100
    return FraudResult(signals=signals, risk_score=int(risk + Fraction(1, 2)), outcome=outcome)


class Rule(Protocol):
    name: str

    def check(self, inp: FraudInput, facts: Facts | None = None) -> Signal | None: ...


class BaseRule:
    """A rule module subclasses this and implements `hit()`. `check()` applies the program's
    outcome for the rule: `off` runs nothing; `ceiling` caps what configuration may ask for
    (same IP + user agent is never a verdict on its own, whatever a stored config says)."""

    name: ClassVar[str]
    ceiling: ClassVar[str] = REJECT

    def check(self, inp: FraudInput, facts: Facts | None = None) -> Signal | None:
        configured = inp.fraud.outcomes.get(self.name, OFF)
        if configured == OFF:
            return None
        if facts is None:
            from rewards.fraud.facts import Facts

            facts = Facts(inp)
        found = self.hit(inp, facts)
        if found is None:
            return None
        return Signal(
            rule=self.name,
            outcome=lower_of(configured, self.ceiling, found.ceiling),
            score=found.score,
            detail=found.detail,
            evidence=found.evidence,
        )

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Hit:
    """What a rule found. `ceiling` lowers the outcome for this hit only (an IP-only velocity
    hit is at most a review: one office behind one address must not be rejected)."""

    score: int
    detail: str
    evidence: dict[str, Any]
    ceiling: str = REJECT


def lower_of(*outcomes: str) -> str:
    return min(outcomes, key=lambda outcome: _SEVERITY.get(outcome, 0))
