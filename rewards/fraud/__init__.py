"""Fraud rules of the reward pipeline: a registry of small rule modules configured per program.

`evaluate(FraudInput(...))` runs every rule the program's version does not switch off and
returns the signals, a 0-100 risk score and the outcome (`reject` if any rule rejects, else
`review` if any holds, else `pass`; score-only signals never change it). It only reads — the
pipeline stores `result.reasons()` and `result.risk_score` on the conversion — and it is
deterministic: the same conversion judged again, even after more rows arrived, gives the same
result (see `rewards.fraud.facts`). At most three queries per evaluation.
"""

from __future__ import annotations

from referral_saas.emails import is_disposable, normalise_email, normalise_name
from rewards.fraud.base import (
    BaseRule,
    FraudInput,
    FraudResult,
    Hit,
    Rule,
    Signal,
    combine,
)
from rewards.fraud.facts import Facts
from rewards.fraud.registry import RULES


def evaluate(inp: FraudInput, facts: Facts | None = None) -> FraudResult:
    """Judge one attributed conversion under `inp.fraud` (its program version's settings).
    `facts`: what a batch fetched for it (`rewards.pipeline.batch`), else queried here."""
    facts = facts or Facts(inp)
    signals = []
    for rule in RULES.values():
        signal = rule.check(inp, facts)
        if signal is not None:
            signals.append(signal)
    return combine(tuple(signals))


__all__ = [
    "RULES",
    "BaseRule",
    "FraudInput",
    "FraudResult",
    "Hit",
    "Rule",
    "Signal",
    "evaluate",
    "is_disposable",
    "normalise_email",
    "normalise_name",
]
