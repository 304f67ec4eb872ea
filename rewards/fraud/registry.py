"""The fraud-rule registry: rule name → rule object, one small module per rule.

The names are exactly `programs.specs.FRAUD_RULES` (the per-program configuration), in the same
order, so evaluations list their signals in a stable order. Adding a rule means a module here,
an entry in `FRAUD_RULES` with its default outcome, and a label in the dashboard form;
`tests/test_fraud_rules.py` fails when the two lists drift apart.
"""

from __future__ import annotations

from programs.specs import FRAUD_RULES
from rewards.fraud.base import BaseRule
from rewards.fraud.rules.blocked_country import BlockedCountry
from rewards.fraud.rules.blocked_email_domain import BlockedEmailDomain
from rewards.fraud.rules.blocked_referrer import BlockedReferrer
from rewards.fraud.rules.disposable_email import DisposableEmail
from rewards.fraud.rules.duplicate_friend import DuplicateFriend
from rewards.fraud.rules.existing_customer import ExistingCustomer
from rewards.fraud.rules.fast_conversion import FastConversion
from rewards.fraud.rules.same_ip_user_agent import SameIpUserAgent
from rewards.fraud.rules.self_referral import SelfReferral
from rewards.fraud.rules.velocity import Velocity

_RULES: list[BaseRule] = [
    SelfReferral(),
    DisposableEmail(),
    Velocity(),
    FastConversion(),
    DuplicateFriend(),
    ExistingCustomer(),
    BlockedCountry(),
    BlockedEmailDomain(),
    BlockedReferrer(),
    SameIpUserAgent(),
]
_BY_NAME = {rule.name: rule for rule in _RULES}

RULES: dict[str, BaseRule] = {name: _BY_NAME[name] for name in FRAUD_RULES if name in _BY_NAME}
# Rules in the registry but not configurable (or the reverse) are a programming error.
UNREGISTERED = sorted(set(FRAUD_RULES) - set(_BY_NAME))
UNCONFIGURED = sorted(set(_BY_NAME) - set(FRAUD_RULES))
