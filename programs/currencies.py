"""Programs in several currencies: the amounts of each currency other than the program's own.

A program's `currency` is its default; the configuration's `currencies` object adds the others
it accepts, each with its own amounts — never converted from the default (no exchange rates):

    "currencies": {"PLN": {"advocate_reward": {"amount": 4000}, "friend_reward": {"amount": 2000},
                           "tiers": [{"amount": 4000}, {"amount": 30000}],
                           "rules": {"min_order_amount": 20000, "budget_amount": 200000,
                                     "max_rewards_per_advocate": 20}}}

Every amount the default currency has must be given (a reward given as a percent has none);
the count cap may be given per currency (otherwise the default's applies, counted within the
currency). An order in a currency that is neither the default nor listed is rejected with the
reason `currency`. Absent or `{}`: a single-currency program, exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from referral_saas.money import is_currency

if TYPE_CHECKING:
    from programs.specs import ProgramConfig, RewardSpec, Rules

MAX_CURRENCIES = 10
RULE_FIELDS = {"min_order_amount", "budget_amount", "max_rewards_per_advocate"}


@dataclass(frozen=True)
class CurrencyTerms:
    """The amounts of one extra currency (minor units of that currency)."""

    advocate_amount: int | None = None
    friend_amount: int | None = None
    tier_amounts: tuple[int | None, ...] = ()
    min_order_amount: int = 0
    budget_amount: int | None = None
    max_rewards_per_advocate: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.advocate_amount is not None:
            data["advocate_reward"] = {"amount": self.advocate_amount}
        if self.friend_amount is not None:
            data["friend_reward"] = {"amount": self.friend_amount}
        if self.tier_amounts:
            data["tiers"] = [
                {"amount": amount} if amount is not None else {} for amount in self.tier_amounts
            ]
        rules: dict[str, Any] = {"min_order_amount": self.min_order_amount}
        if self.budget_amount is not None:
            rules["budget_amount"] = self.budget_amount
        if self.max_rewards_per_advocate is not None:
            rules["max_rewards_per_advocate"] = self.max_rewards_per_advocate
        data["rules"] = rules
        return data


def accepted(config: ProgramConfig, default: str) -> list[str]:
    """The currencies the program accepts, its default first."""
    return [default, *sorted(config.currencies)]


def _spec_in(spec: RewardSpec | None, amount: int | None, currency: str) -> RewardSpec | None:
    if spec is None or spec.amount is None:
        return spec
    return replace(spec, amount=amount, currency=currency)


def in_currency(config: ProgramConfig, default: str, currency: str) -> ProgramConfig | None:
    """The configuration an order in `currency` is judged by: the program's own for its
    default currency, the same one with that currency's amounts for an accepted one, None for
    any other."""
    if currency == default:
        return config
    terms = config.currencies.get(currency)
    if terms is None:
        return None
    tiers = tuple(
        replace(tier, reward=_spec_in(tier.reward, amount, currency) or tier.reward)
        for tier, amount in zip(
            config.tiers, terms.tier_amounts or (None,) * len(config.tiers), strict=True
        )
    )
    rules: Rules = replace(
        config.rules,
        min_order_amount=terms.min_order_amount,
        budget_amount=terms.budget_amount,
        max_rewards_per_advocate=(
            terms.max_rewards_per_advocate
            if terms.max_rewards_per_advocate is not None
            else config.rules.max_rewards_per_advocate
        ),
    )
    return replace(
        config,
        advocate_reward=_spec_in(config.advocate_reward, terms.advocate_amount, currency),
        friend_reward=_spec_in(config.friend_reward, terms.friend_amount, currency),
        tiers=tiers,
        rules=rules,
    )


def parse(
    reader: Any,
    raw: Any,
    *,
    default: str,
    advocate: RewardSpec | None,
    friend: RewardSpec | None,
    tiers: tuple[Any, ...],
    rules: Rules,
    variants: tuple[Any, ...],
    max_money: int,
) -> dict[str, CurrencyTerms]:
    """Read `currencies` (see the module docstring), reporting every problem by field path."""
    data = reader.mapping(raw, "currencies")
    if not data:
        return {}
    if len(data) > MAX_CURRENCIES:
        reader.fail("currencies", f"At most {MAX_CURRENCIES} currencies besides the default.")
        return {}
    if any(v.advocate_reward or v.friend_reward for v in variants):
        reader.fail(
            "currencies",
            "A/B variants that change the offer work in the program's currency only: end the "
            "test before adding currencies.",
        )
        return {}
    parsed: dict[str, CurrencyTerms] = {}
    for code in sorted(data):
        path = f"currencies.{code}"
        if not isinstance(code, str) or not is_currency(code):
            reader.fail(path, "Must be an ISO-4217 code such as PLN.")
            continue
        if code == default:
            reader.fail(path, f"{code} is the program's currency: its amounts are given above.")
            continue
        terms = _terms(reader, data[code], path, code, advocate, friend, tiers, rules, max_money)
        if terms is not None:
            parsed[code] = terms
    return parsed


def _amount(
    reader: Any, spec: RewardSpec | None, raw: Any, path: str, code: str, max_money: int
) -> int | None:
    """The amount in `code` of a reward that has an amount in the default currency."""
    data = reader.mapping(raw, path)
    if spec is None or spec.amount is None:
        if data:
            reader.fail(path, "This reward has no amount in the program's currency to restate.")
        return None
    reader.unknown(data, {"amount"}, path)
    return reader.integer(data, "amount", path, low=1, high=max_money, required=True, money=code)


def _terms(
    reader: Any,
    raw: Any,
    path: str,
    code: str,
    advocate: RewardSpec | None,
    friend: RewardSpec | None,
    tiers: tuple[Any, ...],
    rules: Rules,
    max_money: int,
) -> CurrencyTerms | None:
    data = reader.mapping(raw, path)
    reader.unknown(data, {"advocate_reward", "friend_reward", "tiers", "rules"}, path)
    advocate_amount = _amount(
        reader, advocate, data.get("advocate_reward"), f"{path}.advocate_reward", code, max_money
    )
    friend_amount = _amount(
        reader, friend, data.get("friend_reward"), f"{path}.friend_reward", code, max_money
    )
    raw_tiers = data.get("tiers") or []
    tier_amounts: list[int | None] = []
    if not isinstance(raw_tiers, list) or (raw_tiers and len(raw_tiers) != len(tiers)):
        reader.fail(f"{path}.tiers", f"Give one entry per tier ({len(tiers)}), in order.")
    else:
        for index, tier in enumerate(tiers):
            item = raw_tiers[index] if raw_tiers else None
            tier_amounts.append(
                _amount(reader, tier.reward, item, f"{path}.tiers[{index}]", code, max_money)
            )
    rule_data = reader.mapping(data.get("rules"), f"{path}.rules")
    reader.unknown(rule_data, RULE_FIELDS, f"{path}.rules")
    where = f"{path}.rules"
    minimum = reader.integer(
        rule_data,
        "min_order_amount",
        where,
        low=0,
        high=max_money,
        money=code,
        required=bool(rules.min_order_amount),
    )
    budget = reader.integer(
        rule_data,
        "budget_amount",
        where,
        low=1,
        high=max_money,
        money=code,
        required=rules.budget_amount is not None,
    )
    if budget is not None and rules.budget_amount is None:
        reader.fail(f"{where}.budget_amount", "Set a budget in the program's currency first.")
    cap = reader.integer(rule_data, "max_rewards_per_advocate", where, low=1, high=100_000)
    return CurrencyTerms(
        advocate_amount=advocate_amount,
        friend_amount=friend_amount,
        tier_amounts=tuple(tier_amounts) if any(a is not None for a in tier_amounts) else (),
        min_order_amount=minimum or 0,
        budget_amount=budget,
        max_rewards_per_advocate=cap,
    )
