"""The fraud settings a program version stores: the thresholds added for the rule registry
(program velocity per hour, blocked referring domains) parse, validate and round-trip."""

from __future__ import annotations

from typing import Any

import pytest

from programs.specs import FRAUD_RULES, Fraud, SpecError, config_from_stored, parse_config

BASE: dict[str, Any] = {"advocate_reward": {"kind": "account_credit", "amount": 1000}}


def parse(fraud: Any) -> Fraud:
    return parse_config(
        {**BASE, "fraud": fraud}, program_type="one_sided", currency="EUR", stripe_connected=False
    ).fraud


def test_defaults() -> None:
    parsed = parse(None)
    assert parsed.velocity_per_program_per_hour is None
    assert parsed.blocked_referring_domains == ()
    assert parsed.outcomes["blocked_referrer"] == "reject"
    assert parsed.to_dict()["thresholds"]["velocity_per_program_per_hour"] is None
    assert parsed.to_dict()["thresholds"]["blocked_referring_domains"] == []


def test_new_thresholds_parse_and_round_trip() -> None:
    parsed = parse(
        {
            "blocked_referrer": "review",
            "thresholds": {
                "velocity_per_program_per_hour": 120,
                "blocked_referring_domains": [" Coupons.Example ", "deals.example.org"],
            },
        }
    )
    assert parsed.velocity_per_program_per_hour == 120
    assert parsed.blocked_referring_domains == ("coupons.example", "deals.example.org")
    assert parsed.outcomes["blocked_referrer"] == "review"
    stored = {**BASE, "fraud": parsed.to_dict()}
    again = config_from_stored(stored, program_type="one_sided", currency="EUR").fraud
    assert again == parsed


@pytest.mark.parametrize(
    ("thresholds", "path", "message"),
    [
        ({"velocity_per_program_per_hour": 0}, "velocity_per_program_per_hour", "between 1"),
        ({"velocity_per_program_per_hour": "10"}, "velocity_per_program_per_hour", "whole"),
        ({"blocked_referring_domains": "x.com"}, "blocked_referring_domains", "list"),
        ({"blocked_referring_domains": ["not a domain"]}, "blocked_referring_domains", "Not"),
    ],
)
def test_bad_thresholds_name_their_field(
    thresholds: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SpecError) as error:
        parse({"thresholds": thresholds})
    assert list(error.value.errors) == [f"fraud.thresholds.{path}"]
    assert message in error.value.errors[f"fraud.thresholds.{path}"]


def test_a_version_stored_before_the_new_rule_still_reads() -> None:
    old = {key: value for key, value in Fraud().to_dict().items() if key != "blocked_referrer"}
    del old["thresholds"]["velocity_per_program_per_hour"]
    del old["thresholds"]["blocked_referring_domains"]
    parsed = config_from_stored({**BASE, "fraud": old}, program_type="one_sided", currency="EUR")
    assert parsed.fraud == Fraud()


def test_same_ip_user_agent_can_only_score() -> None:
    with pytest.raises(SpecError) as error:
        parse({"same_ip_user_agent": "reject"})
    assert "fraud.same_ip_user_agent" in error.value.errors
    assert set(FRAUD_RULES) >= {"blocked_referrer", "same_ip_user_agent"}
