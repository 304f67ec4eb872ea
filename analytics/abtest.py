"""A/B results: conversion rate per variant, lift over the first (control) variant and the
probability that a variant truly converts better, from a Beta-Binomial posterior.

Each variant's conversion rate is conversions ÷ clicks on its advocates' links. With a uniform
prior, the rate's posterior is Beta(1 + conversions, 1 + clicks - conversions), and
P(rate_B > rate_A) has a closed form (Evan Miller, "Formulas for Bayesian A/B testing") that
needs one term per conversion of B; past EXACT_LIMIT terms the normal approximation of the two
Betas is used (its error there is far below the one decimal shown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

EXACT_LIMIT = 20_000
# A call is made only at this probability (or its complement) and with enough data.
DECISIVE = 0.95
MIN_CLICKS = 100
MIN_CONVERSIONS = 10


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def probability_b_beats_a(
    *, a_conversions: int, a_trials: int, b_conversions: int, b_trials: int
) -> float:
    """P(p_B > p_A) under independent Beta(1 + s, 1 + n - s) posteriors."""
    alpha_a, beta_a = 1 + a_conversions, 1 + a_trials - a_conversions
    alpha_b, beta_b = 1 + b_conversions, 1 + b_trials - b_conversions
    if alpha_b > EXACT_LIMIT:
        return _normal_approximation(alpha_a, beta_a, alpha_b, beta_b)
    total = 0.0
    base = _log_beta(alpha_a, beta_a)
    for i in range(alpha_b):
        total += math.exp(
            _log_beta(alpha_a + i, beta_a + beta_b)
            - math.log(beta_b + i)
            - _log_beta(1 + i, beta_b)
            - base
        )
    return min(1.0, max(0.0, total))


def _normal_approximation(alpha_a: float, beta_a: float, alpha_b: float, beta_b: float) -> float:
    def moments(alpha: float, beta: float) -> tuple[float, float]:
        n = alpha + beta
        return alpha / n, alpha * beta / (n * n * (n + 1))

    mean_a, var_a = moments(alpha_a, beta_a)
    mean_b, var_b = moments(alpha_b, beta_b)
    z = (mean_b - mean_a) / math.sqrt(var_a + var_b)
    return 0.5 * math.erfc(-z / math.sqrt(2))


@dataclass(frozen=True)
class VariantResult:
    key: str
    name: str
    clicks: int
    conversions: int
    advocates: int
    is_control: bool
    # Against the control; None for the control itself or when the control has no rate.
    lift: Decimal | None
    probability_better: float | None

    @property
    def rate(self) -> Decimal | None:
        return Decimal(self.conversions) / Decimal(self.clicks) if self.clicks else None

    @property
    def enough_data(self) -> bool:
        return self.clicks >= MIN_CLICKS and self.conversions >= MIN_CONVERSIONS


@dataclass(frozen=True)
class AbResult:
    variants: list[VariantResult]
    # The variant to keep when the data is decisive (None: keep testing).
    winner: VariantResult | None

    @property
    def control(self) -> VariantResult:
        return self.variants[0]


def ab_result(rows: list[tuple[str, str, int, int, int]]) -> AbResult:
    """rows: (key, name, clicks, conversions, advocates) in the program's variant order; the
    first is the control. Conversions are capped at clicks (an order may come with a code and
    no click, but a rate above 100% has no binomial meaning)."""
    _key, _name, control_clicks, control_conv, _adv = rows[0]
    control_conv = min(control_conv, control_clicks)
    results = []
    for index, (key, name, clicks, conversions, advocates) in enumerate(rows):
        conversions = min(conversions, clicks)
        is_control = index == 0
        lift = probability = None
        if not is_control:
            probability = probability_b_beats_a(
                a_conversions=control_conv,
                a_trials=control_clicks,
                b_conversions=conversions,
                b_trials=clicks,
            )
            if control_clicks and control_conv and clicks:
                control_rate = Decimal(control_conv) / Decimal(control_clicks)
                lift = (Decimal(conversions) / Decimal(clicks)) / control_rate - 1
        results.append(
            VariantResult(key, name, clicks, conversions, advocates, is_control, lift, probability)
        )
    return AbResult(variants=results, winner=_winner(results))


def _winner(results: list[VariantResult]) -> VariantResult | None:
    """The best challenger if it is decisively better than the control; the control if every
    challenger is decisively worse; otherwise nobody yet."""
    if not all(result.enough_data for result in results):
        return None
    challengers = [r for r in results if not r.is_control and r.probability_better is not None]
    best = max(challengers, key=lambda r: r.probability_better or 0.0, default=None)
    if best is not None and (best.probability_better or 0) >= DECISIVE:
        return best
    if challengers and all((r.probability_better or 0) <= 1 - DECISIVE for r in challengers):
        return results[0]
    return None


def verdict(result: VariantResult, control: VariantResult) -> str:
    """The plain-words line: "B converts 18% better than A; 96% probability it is truly
    better." (or worse, or why nothing can be said yet)."""
    if result.is_control:
        line = _("%(name)s is the control: the others are compared with it.")
        return line % {"name": result.name}
    if result.probability_better is None or result.lift is None:
        return _("No conversions for %(control)s yet: nothing to compare with.") % {
            "control": control.name
        }
    lift = abs(result.lift) * 100
    params = {
        "name": result.name,
        "control": control.name,
        "lift": f"{lift:.0f}",
        "probability": f"{result.probability_better * 100:.0f}",
    }
    if result.lift >= 0:
        line = (
            _(
                "%(name)s converts %(lift)s%% better than %(control)s; "
                "%(probability)s%% probability it is truly better."
            )
            % params
        )
    else:
        line = (
            _(
                "%(name)s converts %(lift)s%% worse than %(control)s; "
                "%(probability)s%% probability it is truly better."
            )
            % params
        )
    if not (result.enough_data and control.enough_data):
        line += " " + _(
            "Too early to call: wait for at least %(clicks)s clicks and %(conversions)s "
            "conversions per variant."
        ) % {"clicks": MIN_CLICKS, "conversions": MIN_CONVERSIONS}
    return line
