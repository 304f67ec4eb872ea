"""Advocate-facing explanations of the fraud rules: one per rule, translated, and never the
merchant's detail (which names the friend)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

from programs.specs import FRAUD_RULES
from rewards.fraud.labels import ADVOCATE_EXPLANATIONS, advocate_explanation

FRAUD_LOCALE = Path(__file__).resolve().parent.parent / "rewards" / "fraud" / "locale"


def test_every_rule_has_an_explanation() -> None:
    assert set(ADVOCATE_EXPLANATIONS) == set(FRAUD_RULES)
    assert advocate_explanation("unknown") == "This referral did not meet the program's rules."


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Referring yourself does not earn a reward."),
        ("it", "Invitare te stesso non dà diritto a un premio."),
        ("ro", "Nu primești o recompensă dacă te recomanzi pe tine însuți."),
        ("pl", "Polecenie samego siebie nie daje nagrody."),
    ],
)
def test_explanations_are_translated(language: str, expected: str) -> None:
    with (
        override_settings(LOCALE_PATHS=[*settings.LOCALE_PATHS, FRAUD_LOCALE]),
        translation.override(language),
    ):
        assert advocate_explanation("self_referral") == expected


@pytest.mark.parametrize("language", ["it", "ro", "pl"])
def test_every_explanation_has_a_translation(language: str) -> None:
    with override_settings(LOCALE_PATHS=[*settings.LOCALE_PATHS, FRAUD_LOCALE]):
        with translation.override("en"):
            english = {rule: advocate_explanation(rule) for rule in FRAUD_RULES}
        with translation.override(language):
            for rule in FRAUD_RULES:
                assert advocate_explanation(rule) != english[rule], (language, rule)
