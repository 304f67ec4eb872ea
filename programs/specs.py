"""The configuration a program is judged by: reward specs, tiers, qualification rules and fraud
settings. One parser validates it for the API and the dashboard alike, naming the field at fault
by its path (`advocate_reward.percent`, `tiers[1].threshold`), and one serialiser writes the
public JSON shape (DESIGN.md §3). Parsed values are frozen dataclasses: what a version stored is
what a decision reads.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from programs.currencies import CurrencyTerms
from programs.currencies import parse as parse_currencies
from referral_saas.errors import InvalidInput
from referral_saas.money import format_money, is_currency

REWARD_KINDS = (
    "percent_discount",
    "fixed_discount",
    "account_credit",
    "cash",
    "points",
    "free_product",
    "charity_donation",
)
# Which value each kind carries: a percentage, money, a count of points, or nothing but a label.
MONEY_KINDS = frozenset({"fixed_discount", "account_credit", "cash", "charity_donation"})
LABEL_KINDS = frozenset({"free_product", "charity_donation"})
FULFILMENT_METHODS: tuple[str, ...] = (
    "generated_code",
    "code_pool",
    "stripe_promotion_code",
    "stripe_customer_balance",
    "stripe_transfer",
    "webhook",
    "manual",
    # Issued by the `integrations` app (registered in rewards.fulfilment at start-up).
    "shopify_discount_code",
    "woocommerce_coupon",
)
STORE_METHODS = frozenset({"shopify_discount_code", "woocommerce_coupon"})
# Paid by the `payouts` app: the advocate's cash, grouped into payouts once the minimum is met.
FULFILMENT_METHODS = (*FULFILMENT_METHODS, "payout")
STRIPE_METHODS = frozenset(m for m in FULFILMENT_METHODS if m.startswith("stripe_"))
# Which fulfilment methods can deliver which kinds (a cash transfer cannot be a coupon).
FULFILMENT_FOR_KIND: dict[str, frozenset[str]] = {
    "percent_discount": frozenset(
        {"generated_code", "code_pool", "stripe_promotion_code", "webhook", "manual"}
        | STORE_METHODS
    ),
    "fixed_discount": frozenset(
        {"generated_code", "code_pool", "stripe_promotion_code", "webhook", "manual"}
        | STORE_METHODS
    ),
    "account_credit": frozenset(
        {"generated_code", "code_pool", "stripe_customer_balance", "webhook", "manual"}
        | STORE_METHODS
    ),
    # `payout`: grouped with the advocate's other cash into a payout (the payouts app).
    "cash": frozenset({"stripe_transfer", "webhook", "manual", "payout"}),
    "points": frozenset({"webhook", "manual"}),
    "free_product": frozenset({"generated_code", "code_pool", "webhook", "manual"}),
    "charity_donation": frozenset({"webhook", "manual"}),
}
DEFAULT_FULFILMENT = {
    kind: ("generated_code" if "generated_code" in methods else "manual")
    for kind, methods in FULFILMENT_FOR_KIND.items()
}
CAP_PERIODS = ("day", "week", "month", "year", "lifetime")
BUDGET_ACTIONS = ("pause_program", "stop_rewards")
OUTCOMES = ("off", "reject", "review", "score_only")
# Rule → default outcome. Same IP + user agent may only ever score (never a verdict alone).
FRAUD_RULES: dict[str, str] = {
    "self_referral": "reject",
    "disposable_email": "review",
    "velocity": "review",
    "fast_conversion": "review",
    "duplicate_friend": "reject",
    "existing_customer": "reject",
    "blocked_country": "reject",
    "blocked_email_domain": "reject",
    "blocked_referrer": "reject",
    "same_ip_user_agent": "score_only",
}
SCORE_ONLY_RULES = frozenset({"same_ip_user_agent"})
CODE_PREFIX = re.compile(r"^[A-Z0-9]{0,12}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")

MAX_MONEY = 100_000_000_00  # one hundred million in major units: a typo guard, not a business rule


# Invalid configuration: the one bad-input error of every app, under its old name.
SpecError = InvalidInput


@dataclass(frozen=True)
class RewardSpec:
    kind: str
    fulfilment: str
    amount: int | None = None
    currency: str | None = None
    percent: int | None = None
    points: int | None = None
    label: str = ""  # the product, upgrade or charity, for free_product / charity_donation
    # The label in other languages (locale → text); `label` is the default locale's text and
    # the fallback for any language missing here (see `programs.localized.localized_label`).
    labels: dict[str, str] = field(default_factory=dict)
    expires_after_days: int | None = None
    code_prefix: str = ""
    code_length: int = 10
    code_pool: str = ""  # public id of the merchant's CodePool, for fulfilment "code_pool"
    # A commission (`cash` or `account_credit` with `percent`): that share of the order's amount
    # net of refunds, at most `max_amount` (minor units) when set.
    max_amount: int | None = None
    # A recurring commission: later paid invoices of the same subscription earn it again for
    # this many months after the subscription's first attributed order (rewards.recurring).
    recurring_months: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.percent is not None:
            data["percent"] = self.percent
        if self.amount is not None:
            data["amount"] = self.amount
            data["currency"] = self.currency
        if self.points is not None:
            data["points"] = self.points
        if self.label:
            data["label"] = self.label
        if self.labels:
            # Only when set: configurations stored before per-locale labels stay byte-identical.
            data["labels"] = dict(sorted(self.labels.items()))
        data["fulfilment"] = self.fulfilment
        if self.fulfilment == "generated_code":
            data["code_prefix"] = self.code_prefix
            data["code_length"] = self.code_length
        if self.fulfilment == "code_pool":
            data["code_pool"] = self.code_pool
        data["expires_after_days"] = self.expires_after_days
        if self.max_amount is not None:
            data["max_amount"] = self.max_amount
        if self.recurring_months is not None:
            data["recurring_months"] = self.recurring_months
        return data


@dataclass(frozen=True)
class Tier:
    threshold: int
    reward: RewardSpec
    repeat: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "reward": self.reward.to_dict(), "repeat": self.repeat}


@dataclass(frozen=True)
class Rules:
    attribution_window_days: int = 30
    min_order_amount: int = 0
    first_purchase_only: bool = True
    new_customers_only: bool = True
    one_referrer_per_friend: bool = True
    hold_days: int = 30
    max_rewards_per_advocate: int | None = None
    max_rewards_period: str = "month"
    budget_amount: int | None = None
    budget_action: str = "pause_program"
    # Buyers of qualified orders become advocates of the program (once each), with the welcome
    # email; the friend page asks the friend's name as well as the email before the offer.
    enrol_buyers: bool = False
    ask_friend_name: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Fraud:
    outcomes: dict[str, str] = field(default_factory=lambda: dict(FRAUD_RULES))
    velocity_per_advocate_per_day: int = 10
    velocity_per_ip_per_day: int = 5
    min_seconds_click_to_conversion: int = 30
    blocked_countries: tuple[str, ...] = ()
    blocked_email_domains: tuple[str, ...] = ()
    # None: no program-wide limit (a right number depends on the shop's size; a wrong default
    # would hold a big merchant's legitimate campaign day).
    velocity_per_program_per_hour: int | None = None
    blocked_referring_domains: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.outcomes,
            "thresholds": {
                "velocity_per_advocate_per_day": self.velocity_per_advocate_per_day,
                "velocity_per_ip_per_day": self.velocity_per_ip_per_day,
                "velocity_per_program_per_hour": self.velocity_per_program_per_hour,
                "min_seconds_click_to_conversion": self.min_seconds_click_to_conversion,
                "blocked_countries": list(self.blocked_countries),
                "blocked_email_domains": list(self.blocked_email_domains),
                "blocked_referring_domains": list(self.blocked_referring_domains),
            },
        }


@dataclass(frozen=True)
class Variant:
    """An A/B alternative: its share of new advocates, and what it changes (offer and/or copy)."""

    key: str
    name: str
    weight: int
    advocate_reward: RewardSpec | None = None
    friend_reward: RewardSpec | None = None
    copy: dict[str, dict[str, str]] = field(default_factory=dict)  # locale → headline/description

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "weight": self.weight,
            "advocate_reward": self.advocate_reward.to_dict() if self.advocate_reward else None,
            "friend_reward": self.friend_reward.to_dict() if self.friend_reward else None,
            "copy": self.copy,
        }


@dataclass(frozen=True)
class ProgramConfig:
    """Everything a conversion is judged by. Stored whole on each `ProgramVersion`."""

    advocate_reward: RewardSpec | None
    friend_reward: RewardSpec | None
    tiers: tuple[Tier, ...]
    rules: Rules
    fraud: Fraud
    variants: tuple[Variant, ...] = ()
    # The other currencies the program accepts, with their own amounts (programs.currencies).
    currencies: dict[str, CurrencyTerms] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "variants": [variant.to_dict() for variant in self.variants],
            "advocate_reward": self.advocate_reward.to_dict() if self.advocate_reward else None,
            "friend_reward": self.friend_reward.to_dict() if self.friend_reward else None,
            "tiers": [tier.to_dict() for tier in self.tiers],
            "rules": self.rules.to_dict(),
            "fraud": self.fraud.to_dict(),
        }
        if self.currencies:  # only when set: single-currency configurations stay as they were
            data["currencies"] = {code: t.to_dict() for code, t in sorted(self.currencies.items())}
        return data


# --- Parsing ---------------------------------------------------------------------------------


class _Reader:
    """Collects every error (not just the first) while reading a nested JSON-like dict."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, message)

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "Must be an object.")
            return {}
        return value

    def unknown(self, data: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(data) - allowed):
            self.fail(_join(path, key), "Unknown field.")

    def integer(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        *,
        low: int,
        high: int,
        default: int | None = None,
        required: bool = False,
        money: str | None = None,
    ) -> int | None:
        """With `money` (a currency), the value is minor units and the range is written as
        amounts ("from €0.01 to €100,000,000"): merchants type major units in the dashboard."""
        value = data.get(key)
        where = _join(path, key)
        if value is None:
            if required:
                self.fail(where, "This field is required.")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, "Must be a whole number (money is in minor units, e.g. 1000 = €10).")
            return default
        if not low <= value <= high:
            if money is not None and is_currency(money):
                low_text, high_text = format_money(low, money), format_money(high, money)
                self.fail(where, f"Enter an amount from {low_text} to {high_text}.")
            else:
                self.fail(where, f"Must be between {low} and {high}.")
            return default
        return value

    def boolean(self, data: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.fail(_join(path, key), "Must be true or false.")
            return default
        return value

    def choice(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        options: tuple[str, ...] | frozenset[str],
        default: str | None = None,
    ) -> str | None:
        value = data.get(key, default)
        if value is None:
            self.fail(_join(path, key), "This field is required.")
            return None
        if value not in options:
            self.fail(_join(path, key), f"Must be one of: {', '.join(sorted(options))}.")
            return None
        return str(value)

    def text(self, data: dict[str, Any], key: str, path: str, max_length: int) -> str:
        value = data.get(key, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(_join(path, key), "Must be a string.")
            return ""
        if "\x00" in value:
            self.fail(_join(path, key), "Must not contain NUL characters.")
            return ""
        value = value.strip()
        if len(value) > max_length:
            self.fail(_join(path, key), f"At most {max_length} characters.")
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# Kinds that may be a commission: `percent` of the order instead of a fixed `amount`.
COMMISSION_KINDS = frozenset({"cash", "account_credit"})
REWARD_FIELDS = {
    "max_amount",
    "recurring_months",
    "kind",
    "fulfilment",
    "amount",
    "currency",
    "percent",
    "points",
    "label",
    "labels",
    "expires_after_days",
    "code_prefix",
    "code_length",
    "code_pool",
}


def _reward(reader: _Reader, raw: Any, path: str, ctx: _Context) -> RewardSpec | None:
    data = reader.mapping(raw, path)
    if not data:
        reader.fail(path, "Describe the reward (kind, value, fulfilment).")
        return None
    reader.unknown(data, REWARD_FIELDS, path)
    kind = reader.choice(data, "kind", path, REWARD_KINDS)
    fulfilment = reader.choice(
        data, "fulfilment", path, FULFILMENT_METHODS, DEFAULT_FULFILMENT.get(kind or "", "manual")
    )
    amount = currency = percent = points = None
    has_percent, has_amount = data.get("percent") is not None, data.get("amount") is not None
    max_amount = recurring_months = None
    if data.get("max_amount") is not None and not (kind in COMMISSION_KINDS and has_percent):
        reader.fail(
            _join(path, "max_amount"),
            "Only a commission (cash or account credit with percent) has a cap.",
        )
    recurring = data.get("recurring_months") is not None
    if recurring and not (kind in COMMISSION_KINDS and has_percent and not has_amount):
        reader.fail(
            _join(path, "recurring_months"),
            "Only a commission (cash or account credit with percent) recurs.",
        )
        recurring = False
    elif recurring and not path.endswith("advocate_reward"):
        # A renewal is the same friend paying again: only the advocate's commission recurs.
        reader.fail(_join(path, "recurring_months"), "Only the advocate's reward recurs.")
        recurring = False
    if has_percent and has_amount:
        reader.fail(_join(path, "percent"), "Give a percent or an amount, never both.")
    if kind == "percent_discount":
        percent = reader.integer(data, "percent", path, low=1, high=100, required=True)
        if has_amount and not has_percent:
            reader.fail(_join(path, "amount"), "A percent discount takes `percent`, not `amount`.")
    elif kind in COMMISSION_KINDS and has_percent and not has_amount:
        # A commission: a share of the order net of refunds, optionally capped.
        percent = reader.integer(data, "percent", path, low=1, high=100, required=True)
        max_amount = reader.integer(
            data, "max_amount", path, low=1, high=MAX_MONEY, money=ctx.currency
        )
        if max_amount is not None:  # the cap's currency, for describing it (not stored)
            currency = ctx.currency
        if recurring:
            recurring_months = _months(reader, data, path)
    elif kind in MONEY_KINDS:
        amount = reader.integer(
            data, "amount", path, low=1, high=MAX_MONEY, required=True, money=ctx.currency
        )
        currency = data.get("currency", ctx.currency)
        if not isinstance(currency, str) or not is_currency(currency):
            reader.fail(_join(path, "currency"), "Must be an ISO-4217 code such as EUR.")
        elif currency != ctx.currency:
            reader.fail(
                _join(path, "currency"), f"Must be the program's currency ({ctx.currency})."
            )
        if has_percent and kind not in COMMISSION_KINDS:
            reader.fail(_join(path, "percent"), f"A {kind} reward takes `amount`, not `percent`.")
    elif kind == "points":
        points = reader.integer(data, "points", path, low=1, high=10_000_000, required=True)
    label = reader.text(data, "label", path, 120)
    if kind in LABEL_KINDS and not label:
        what = "product or upgrade" if kind == "free_product" else "charity"
        reader.fail(_join(path, "label"), f"Name the {what}.")
    labels = _labels(reader, data, path, ctx, kind)
    expires = reader.integer(data, "expires_after_days", path, low=1, high=3650)
    prefix = reader.text(data, "code_prefix", path, 12).upper()
    if not CODE_PREFIX.match(prefix):
        reader.fail(_join(path, "code_prefix"), "Letters A-Z and digits only, at most 12.")
    length = reader.integer(data, "code_length", path, low=6, high=32, default=10) or 10
    if kind and fulfilment and fulfilment not in FULFILMENT_FOR_KIND[kind]:
        allowed = ", ".join(sorted(FULFILMENT_FOR_KIND[kind]))
        reader.fail(
            _join(path, "fulfilment"),
            f"A {kind} reward cannot be fulfilled by {fulfilment}; use one of: {allowed}.",
        )
    elif fulfilment in STRIPE_METHODS and not ctx.stripe_connected:
        reader.fail(
            _join(path, "fulfilment"),
            "Connect your Stripe account before using a Stripe fulfilment method.",
        )
    elif (
        fulfilment in STORE_METHODS
        and ctx.store_methods is not None
        and fulfilment not in ctx.store_methods
    ):
        store = "Shopify shop" if fulfilment == "shopify_discount_code" else "WooCommerce store"
        reader.fail(
            _join(path, "fulfilment"),
            f"Connect your {store} on the Integrations page before using {fulfilment}.",
        )
    pool = reader.text(data, "code_pool", path, 32)
    if fulfilment == "code_pool" and pool not in ctx.code_pools:
        reader.fail(
            _join(path, "code_pool"),
            "Choose one of this program's code pools (upload codes first)."
            if not pool
            else f"No code pool {pool!r} in this program.",
        )
    if kind is None or fulfilment is None:
        return None
    return RewardSpec(
        kind=kind,
        fulfilment=fulfilment,
        amount=amount,
        currency=currency if amount is not None or max_amount is not None else None,
        percent=percent,
        points=points,
        label=label,
        labels=labels,
        expires_after_days=expires,
        code_prefix=prefix,
        code_length=length,
        code_pool=pool if fulfilment == "code_pool" else "",
        max_amount=max_amount,
        recurring_months=recurring_months,
    )


def _months(reader: _Reader, data: dict[str, Any], path: str) -> int | None:
    value = data.get("recurring_months")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 120:
        reader.fail(_join(path, "recurring_months"), "A whole number of months, from 1 to 120.")
        return None
    return value


LABEL_MAX_LENGTH = 120


def _labels(
    reader: _Reader, data: dict[str, Any], path: str, ctx: _Context, kind: str | None
) -> dict[str, str]:
    """`labels`: the label per program language, e.g. {"it": "un sacchetto di miscela Roma"}.
    Empty texts are dropped (that language falls back to `label`)."""
    where = _join(path, "labels")
    raw = reader.mapping(data.get("labels"), where)
    if raw and kind not in LABEL_KINDS:
        reader.fail(where, "Only free-product and charity rewards have a label to translate.")
        return {}
    labels: dict[str, str] = {}
    for locale in raw:
        if locale not in ctx.locales:
            names = ", ".join(LOCALE_NAMES.get(code, code) for code in ctx.locales)
            reader.fail(_join(where, str(locale)), f"Not one of the program's languages ({names}).")
            continue
        text = reader.text(raw, locale, where, LABEL_MAX_LENGTH)
        if text:
            labels[locale] = text
    return labels


def _tiers(reader: _Reader, raw: Any, ctx: _Context) -> tuple[Tier, ...]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        reader.fail("tiers", "Must be a list of tiers.")
        return ()
    if len(raw) > 20:
        reader.fail("tiers", "At most 20 tiers.")
        return ()
    tiers: list[Tier] = []
    previous = 0
    for index, item in enumerate(raw):
        path = f"tiers[{index}]"
        data = reader.mapping(item, path)
        reader.unknown(data, {"threshold", "reward", "repeat"}, path)
        threshold = reader.integer(data, "threshold", path, low=1, high=100_000, required=True)
        if threshold is not None and threshold <= previous:
            reader.fail(
                _join(path, "threshold"),
                f"Tiers must strictly increase: {threshold} is not above {previous}.",
            )
        reward = _reward(reader, data.get("reward"), _join(path, "reward"), ctx)
        repeat = reader.boolean(data, "repeat", path, False)
        if repeat and index != len(raw) - 1:
            reader.fail(_join(path, "repeat"), "Only the last tier can repeat.")
        if threshold is not None:
            previous = max(previous, threshold)
        if threshold is not None and reward is not None:
            tiers.append(Tier(threshold=threshold, reward=reward, repeat=repeat))
    return tuple(tiers)


RULE_FIELDS = set(Rules.__dataclass_fields__)


def _rules(reader: _Reader, raw: Any, ctx: _Context) -> Rules:
    data = reader.mapping(raw, "rules")
    reader.unknown(data, RULE_FIELDS, "rules")
    d = Rules()
    cap = reader.integer(data, "max_rewards_per_advocate", "rules", low=1, high=100_000)
    budget = reader.integer(
        data, "budget_amount", "rules", low=1, high=MAX_MONEY, money=ctx.currency
    )
    return Rules(
        attribution_window_days=reader.integer(
            data,
            "attribution_window_days",
            "rules",
            low=1,
            high=365,
            default=d.attribution_window_days,
        )
        or d.attribution_window_days,
        min_order_amount=reader.integer(
            data, "min_order_amount", "rules", low=0, high=MAX_MONEY, default=0, money=ctx.currency
        )
        or 0,
        first_purchase_only=reader.boolean(
            data, "first_purchase_only", "rules", d.first_purchase_only
        ),
        new_customers_only=reader.boolean(
            data, "new_customers_only", "rules", d.new_customers_only
        ),
        one_referrer_per_friend=reader.boolean(
            data, "one_referrer_per_friend", "rules", d.one_referrer_per_friend
        ),
        hold_days=_hold_days(reader, data),
        max_rewards_per_advocate=cap,
        max_rewards_period=reader.choice(
            data, "max_rewards_period", "rules", CAP_PERIODS, d.max_rewards_period
        )
        or d.max_rewards_period,
        budget_amount=budget,
        budget_action=reader.choice(data, "budget_action", "rules", BUDGET_ACTIONS, d.budget_action)
        or d.budget_action,
        enrol_buyers=reader.boolean(data, "enrol_buyers", "rules", d.enrol_buyers),
        ask_friend_name=reader.boolean(data, "ask_friend_name", "rules", d.ask_friend_name),
    )


def _hold_days(reader: _Reader, data: dict[str, Any]) -> int:
    value = reader.integer(data, "hold_days", "rules", low=0, high=90, default=30)
    return 30 if value is None else value


FRAUD_THRESHOLDS = {
    "velocity_per_advocate_per_day",
    "velocity_per_ip_per_day",
    "velocity_per_program_per_hour",
    "min_seconds_click_to_conversion",
    "blocked_countries",
    "blocked_email_domains",
    "blocked_referring_domains",
}


def _fraud(reader: _Reader, raw: Any) -> Fraud:
    data = reader.mapping(raw, "fraud")
    reader.unknown(data, set(FRAUD_RULES) | {"thresholds"}, "fraud")
    outcomes = dict(FRAUD_RULES)
    for rule in FRAUD_RULES:
        if rule in data:
            allowed = ("off", "score_only") if rule in SCORE_ONLY_RULES else OUTCOMES
            value = reader.choice(data, rule, "fraud", allowed)
            if rule in SCORE_ONLY_RULES and value is None:
                reader.errors["fraud." + rule] = (
                    "This signal is never a verdict on its own: choose score_only or off."
                )
            outcomes[rule] = value or outcomes[rule]
    limits = reader.mapping(data.get("thresholds"), "fraud.thresholds")
    reader.unknown(limits, FRAUD_THRESHOLDS, "fraud.thresholds")
    d = Fraud()
    path = "fraud.thresholds"
    return Fraud(
        outcomes=outcomes,
        velocity_per_advocate_per_day=reader.integer(
            limits,
            "velocity_per_advocate_per_day",
            path,
            low=1,
            high=10_000,
            default=d.velocity_per_advocate_per_day,
        )
        or d.velocity_per_advocate_per_day,
        velocity_per_ip_per_day=reader.integer(
            limits,
            "velocity_per_ip_per_day",
            path,
            low=1,
            high=10_000,
            default=d.velocity_per_ip_per_day,
        )
        or d.velocity_per_ip_per_day,
        min_seconds_click_to_conversion=_seconds(reader, limits, path),
        blocked_countries=_codes(reader, limits, "blocked_countries", path, COUNTRY, upper=True),
        blocked_email_domains=_codes(reader, limits, "blocked_email_domains", path, DOMAIN),
        velocity_per_program_per_hour=reader.integer(
            limits, "velocity_per_program_per_hour", path, low=1, high=1_000_000
        ),
        blocked_referring_domains=_codes(reader, limits, "blocked_referring_domains", path, DOMAIN),
    )


def _seconds(reader: _Reader, limits: dict[str, Any], path: str) -> int:
    value = reader.integer(
        limits, "min_seconds_click_to_conversion", path, low=0, high=86_400, default=30
    )
    return 30 if value is None else value


def _codes(
    reader: _Reader,
    data: dict[str, Any],
    key: str,
    path: str,
    pattern: re.Pattern[str],
    *,
    upper: bool = False,
) -> tuple[str, ...]:
    raw = data.get(key) or []
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        reader.fail(_join(path, key), "Must be a list of strings.")
        return ()
    values = sorted({(v.strip().upper() if upper else v.strip().lower()) for v in raw})
    bad = [v for v in values if not pattern.match(v)]
    if bad:
        reader.fail(_join(path, key), f"Not valid: {', '.join(bad[:5])}.")
    return tuple(values)


@dataclass(frozen=True)
class _Context:
    program_type: str
    currency: str
    stripe_connected: bool
    code_pools: frozenset[str]
    locales: tuple[str, ...]
    # The store methods whose store is connected; None: not judged (stored configurations).
    store_methods: frozenset[str] | None = None


VARIANT_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")
LOCALES = ("en", "it", "ro", "pl")
# The languages' names in English, for messages to merchants (the dashboard is in English).
LOCALE_NAMES = {"en": "English", "it": "Italian", "ro": "Romanian", "pl": "Polish"}


def _variants(reader: _Reader, raw: Any, ctx: _Context) -> tuple[Variant, ...]:
    if raw is None or raw == []:
        return ()
    if not isinstance(raw, list) or not 2 <= len(raw) <= 5:
        reader.fail("variants", "Give 2 to 5 variants (or none).")
        return ()
    variants: list[Variant] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = f"variants[{index}]"
        data = reader.mapping(item, path)
        reader.unknown(
            data, {"key", "name", "weight", "advocate_reward", "friend_reward", "copy"}, path
        )
        key = reader.text(data, "key", path, 30).lower()
        if not VARIANT_KEY.match(key):
            reader.fail(_join(path, "key"), "Lowercase letters, digits, - and _ (up to 30).")
        elif key in seen:
            reader.fail(_join(path, "key"), f"Variant key {key!r} is used twice.")
        seen.add(key)
        weight = reader.integer(data, "weight", path, low=0, high=100, required=True)
        advocate = friend = None
        if data.get("advocate_reward") is not None:
            if ctx.program_type == "tiered":
                reader.fail(
                    _join(path, "advocate_reward"),
                    "Tiered programs vary their tiers through versions, not variants.",
                )
            else:
                advocate = _reward(
                    reader, data["advocate_reward"], _join(path, "advocate_reward"), ctx
                )
        if data.get("friend_reward") is not None:
            if ctx.program_type == "one_sided":
                reader.fail(
                    _join(path, "friend_reward"),
                    "A one-sided program has no friend reward to vary.",
                )
            else:
                friend = _reward(reader, data["friend_reward"], _join(path, "friend_reward"), ctx)
        variants.append(
            Variant(
                key=key,
                name=reader.text(data, "name", path, 80) or key,
                weight=weight or 0,
                advocate_reward=advocate,
                friend_reward=friend,
                copy=_variant_copy(reader, data, path, ctx.locales),
            )
        )
    if sum(v.weight for v in variants) == 0:
        reader.fail("variants", "At least one variant needs a weight above 0.")
    return tuple(variants)


VARIANT_COPY_LIMITS = {"headline": 200, "description": 2000}  # as the program's own copy


def _variant_copy(
    reader: _Reader, data: dict[str, Any], path: str, locales: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    raw = reader.mapping(data.get("copy"), _join(path, "copy"))
    copy: dict[str, dict[str, str]] = {}
    for locale, texts in raw.items():
        where = f"{path}.copy.{locale}"
        if locale not in locales:
            names = ", ".join(LOCALE_NAMES.get(code, code) for code in locales)
            reader.fail(where, f"Not one of the program's languages ({names}).")
            continue
        fields = reader.mapping(texts, where)
        reader.unknown(fields, set(VARIANT_COPY_LIMITS), where)
        language = LOCALE_NAMES.get(locale, locale)
        copy[locale] = {
            key: plain_text(
                reader.text(fields, key, where, limit),
                path=f"{where}.{key}",
                what=f"the {key} ({language}) of variant {index_of(path)}",
            )
            for key, limit in VARIANT_COPY_LIMITS.items()
            if key in fields
        }
    return copy


# Warnings: what the services fixed up in a merchant's input rather than refuse it (HTML removed
# from copy). A caller that shows them (the API response's `warnings`, the dashboard's messages)
# collects them around the service call with `collect_warnings()`; nobody listening, nothing kept.
_warnings: ContextVar[list[dict[str, str]] | None] = ContextVar("program_warnings", default=None)
TAG = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9-]*)")


@contextmanager
def collect_warnings() -> Iterator[list[dict[str, str]]]:
    """Collect the warnings (`{"param", "message", "code"}`) of the service calls inside."""
    collected: list[dict[str, str]] = []
    token = _warnings.set(collected)
    try:
        yield collected
    finally:
        _warnings.reset(token)


def warn(param: str, message: str, code: str) -> None:
    collected = _warnings.get()
    if collected is not None and not any(w["param"] == param for w in collected):
        collected.append({"param": param, "message": message, "code": code})


def index_of(path: str) -> str:
    """ "variants[1]" → "2" (people count from 1)."""
    match = re.search(r"\[(\d+)\]$", path)
    return str(int(match.group(1)) + 1) if match else path


def plain_text(value: str, *, path: str = "", what: str = "") -> str:
    """Strip every tag: merchant copy is text, never markup that could run in a page. Entities
    are decoded back (templates escape on output: "Tom & Jerry" must not become "&amp;").

    With `path`, removed HTML is reported as a warning (`html_removed`) naming the tags, so the
    merchant learns why their text changed; `what` names the field in words ("terms (Italian)")."""
    import nh3

    raw = value.replace("\x00", "")
    cleaned = html.unescape(nh3.clean(raw, tags=set(), attributes={})).strip()
    if path and cleaned != html.unescape(raw).strip():
        tags = list(dict.fromkeys(f"<{name.lower()}>" for name in TAG.findall(raw)))
        if "<!--" in raw:
            tags.append("<!-- -->")
        if tags:
            warn(
                path,
                f"We removed HTML from {what or path}: {', '.join(tags)}. "
                "The page shows it as plain text.",
                "html_removed",
            )
    return cleaned


CONFIG_FIELDS = {
    "advocate_reward",
    "friend_reward",
    "tiers",
    "rules",
    "fraud",
    "variants",
    "currencies",
}


def null_errors(data: dict[str, Any]) -> dict[str, str]:
    """What a request body sends as null where the API schema says array or object (send []
    or leave it out). Checked where requests come in (programs.services), not by `parse_config`,
    which also reads stored and internal configurations where absent and null mean the same."""
    return {
        name: f"Must be {shape}, not null."
        for name, shape in NOT_NULLABLE.items()
        if name in data and data[name] is None
    }


NOT_NULLABLE = {
    "tiers": "an array",
    "variants": "an array ([] for none)",
    "rules": "an object",
    "fraud": "an object",
    "currencies": "an object ({} for none)",
}


def parse_config(
    data: dict[str, Any],
    *,
    program_type: str,
    currency: str,
    stripe_connected: bool,
    code_pools: frozenset[str] = frozenset(),
    locales: tuple[str, ...] = LOCALES,
    store_methods: frozenset[str] | None = None,
) -> ProgramConfig:
    """Validate a whole configuration for a program of `program_type`, or raise `SpecError`
    listing every problem by field path."""
    reader = _Reader()
    ctx = _Context(
        program_type=program_type,
        currency=currency,
        stripe_connected=stripe_connected,
        code_pools=code_pools,
        locales=locales,
        store_methods=store_methods,
    )
    advocate = friend = None
    if program_type == "tiered":
        if data.get("advocate_reward") is not None:
            reader.fail("advocate_reward", "A tiered program rewards advocates through its tiers.")
        if not data.get("tiers"):
            reader.fail("tiers", "A tiered program needs at least one tier.")
    else:
        advocate = _reward(reader, data.get("advocate_reward"), "advocate_reward", ctx)
        if data.get("tiers"):
            reader.fail("tiers", "Only tiered programs have tiers.")
    if program_type == "two_sided":
        if data.get("friend_reward") is None:
            reader.fail("friend_reward", "A two-sided program needs a friend reward.")
        else:
            friend = _reward(reader, data.get("friend_reward"), "friend_reward", ctx)
    elif program_type == "one_sided" and data.get("friend_reward") is not None:
        reader.fail(
            "friend_reward",
            "A one-sided program rewards only the advocate; "
            "choose two-sided to reward friends too.",
        )
    elif program_type == "tiered" and data.get("friend_reward") is not None:
        friend = _reward(reader, data.get("friend_reward"), "friend_reward", ctx)
    tiers = _tiers(reader, data.get("tiers"), ctx) if program_type == "tiered" else ()
    rules = _rules(reader, data.get("rules"), ctx)
    fraud = _fraud(reader, data.get("fraud"))
    variants = _variants(reader, data.get("variants"), ctx)
    currencies = parse_currencies(
        reader,
        data.get("currencies"),
        default=currency,
        advocate=advocate,
        friend=friend,
        tiers=tiers,
        rules=rules,
        variants=variants,
        max_money=MAX_MONEY,
    )
    if reader.errors:
        raise SpecError(reader.errors)
    return ProgramConfig(
        advocate_reward=advocate,
        friend_reward=friend,
        tiers=tiers,
        rules=rules,
        fraud=fraud,
        variants=variants,
        currencies=currencies,
    )


def config_from_stored(data: dict[str, Any], *, program_type: str, currency: str) -> ProgramConfig:
    """Rebuild a stored (already validated) configuration. Stripe availability is not re-judged:
    a version that was valid when made stays readable."""
    pools = set()
    for spec in _stored_rewards(data):
        if spec.get("code_pool"):
            pools.add(spec["code_pool"])
    return parse_config(
        data,
        program_type=program_type,
        currency=currency,
        stripe_connected=True,
        code_pools=frozenset(pools),
    )


def _stored_rewards(data: dict[str, Any]) -> list[dict[str, Any]]:
    specs = [data.get("advocate_reward"), data.get("friend_reward")]
    specs += [tier.get("reward") for tier in data.get("tiers") or []]
    for variant in data.get("variants") or []:
        specs += [variant.get("advocate_reward"), variant.get("friend_reward")]
    return [spec for spec in specs if isinstance(spec, dict)]
