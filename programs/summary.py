"""Plain-language descriptions of a program's offer and rules, in the visitor's language.

Three entry points, all pure functions of a parsed `ProgramConfig` (no database):

- `offer_headline(config, locale)`: the one-glance offer for a landing page ("Give €10, get €10").
- `reward_phrase(spec, locale)`: one reward, phrased as what someone gets ("€10 account credit").
- `program_summary(config, locale, currency=...)`: the rules in two to four short sentences:
  1. what advocates (and friends) get and when rewards are released;
  2. (tiered programs only) what makes a friend count towards a tier;
  3. who qualifies: new customers only, and the attribution window;
  4. (only when set) limits: the per-advocate cap and the program budget.

Decisions worth knowing:

- Every phrase is a whole translatable sentence or clause (gettext catalogs in `locale/`), never
  words glued together, so Italian, Romanian and Polish read naturally (plurals via `ngettext`).
- Money goes through `referral_saas.money.format_money` in the same locale ("€10", "10 €",
  "10 EUR" for Romanian, whose CLDR symbol for the euro is the ISO code).
- The tiered headline shows the *last* (top) tier: a headline sells the most attractive prize,
  while the summary lists every tier. A lone tier at 1 friend that repeats reads like a one-sided
  offer ("Get €10 credit for every friend you refer").
- A repeating last tier at threshold N is described as recurring every N more qualified friends
  ("then again for every 10 more").
- The minimum order is described as "of at least €50": the rule is a minimum, so an order of
  exactly €50 qualifies.
- A two-sided headline drops the kind when both sides get money of the same kind (cash or account
  credit): "Give €10, get €10"; otherwise each side says what it is: "Give 15% off, get €10
  credit".
- Variants: these functions describe the config they are given; to describe an A/B variant,
  pass `dataclasses.replace(config, advocate_reward=..., friend_reward=...)` with its rewards.
"""

from __future__ import annotations

from babel.core import Locale, UnknownLocaleError
from babel.lists import format_list
from babel.numbers import format_decimal
from django.utils import translation
from django.utils.translation import gettext, ngettext, pgettext

from programs.localized import localized_label
from programs.specs import MONEY_KINDS, ProgramConfig, RewardSpec, Tier
from referral_saas.money import format_money, to_major

__all__ = ["offer_headline", "program_summary", "reward_phrase"]

# Kinds whose headline can drop the kind when both sides get the same one ("Give €10, get €10").
_BARE_MONEY_KINDS = frozenset({"account_credit", "cash"})


# --- Public API --------------------------------------------------------------------------------


def reward_phrase(spec: RewardSpec, locale: str, *, with_expiry: bool = False) -> str:
    """One reward as what someone gets: "€10 account credit", "15% off", "a free Coffee grinder".

    With `with_expiry=True` and an expiry set, adds it: "€10 account credit (valid for 90 days)".
    """
    with translation.override(locale):
        return _reward(spec, _babel_locale(locale), with_expiry=with_expiry)


def offer_headline(config: ProgramConfig, locale: str) -> str:
    """The one-glance offer: "Give 15% off, get €10 credit", "Get €20 for every friend you
    refer", "Refer 10 friends, get a free year of premium" (tiered: the top tier)."""
    with translation.override(locale):
        return _headline(config, _babel_locale(locale))


def program_summary(config: ProgramConfig, locale: str, *, currency: str | None = None) -> str:
    """The program's rules in plain language, two to four short sentences (see module docs).

    `currency` is the program's currency, used for the minimum order amount and the budget; pass
    `program.currency`. When omitted, the currency of the first money reward is used, and a
    program with only percent/points/product rewards but a minimum order or budget raises
    `ValueError` (the amount could not be written honestly).
    """
    with translation.override(locale):
        return _summary(config, _babel_locale(locale), currency or _program_currency(config))


# --- Rewards -----------------------------------------------------------------------------------


def _reward(spec: RewardSpec, loc: str, *, with_expiry: bool = False) -> str:
    phrase = _with_renewals(spec, _reward_core(spec, loc))
    if with_expiry and spec.expires_after_days:
        phrase = f"{phrase} ({_expiry(spec.expires_after_days)})"
    return phrase


def _reward_core(spec: RewardSpec, loc: str) -> str:
    kind = spec.kind
    if kind == "percent_discount":
        return gettext("%(percent)s%% off") % {"percent": spec.percent}
    if kind == "points":
        points = spec.points or 0
        return ngettext("%(count)s point", "%(count)s points", points) % {
            "count": format_decimal(points, locale=loc)
        }
    if kind == "free_product":
        return gettext("a free %(label)s") % {"label": localized_label(spec, _language(loc))}
    if spec.amount is None and spec.percent is not None:  # a commission (cash, account credit)
        return _commission(spec, loc)
    amount = _reward_money(spec, loc)
    if kind == "fixed_discount":
        if _an(spec):
            return pgettext("before a vowel sound", "an %(amount)s discount") % {"amount": amount}
        return gettext("a %(amount)s discount") % {"amount": amount}
    if kind == "account_credit":
        return gettext("%(amount)s account credit") % {"amount": amount}
    if kind == "cash":
        return gettext("%(amount)s cash") % {"amount": amount}
    if kind == "charity_donation":
        values = {"amount": amount, "label": localized_label(spec, _language(loc))}
        if _an(spec):
            return pgettext("before a vowel sound", "an %(amount)s donation to %(label)s") % values
        return gettext("a %(amount)s donation to %(label)s") % values
    raise ValueError(f"Unknown reward kind {kind!r}.")


def _with_renewals(spec: RewardSpec, phrase: str) -> str:
    """A recurring commission: "…, and of each renewal for 12 months"."""
    if not spec.recurring_months:
        return phrase
    return ngettext(
        "%(reward)s, and of each renewal for %(count)s month",
        "%(reward)s, and of each renewal for %(count)s months",
        spec.recurring_months,
    ) % {"reward": phrase, "count": spec.recurring_months}


def _commission(spec: RewardSpec, loc: str) -> str:
    """ "10% of each order in cash", capped: "…, up to €50" (the cap per order)."""
    values = {"percent": spec.percent}
    if spec.kind == "account_credit":
        phrase = gettext("%(percent)s%% of each order in account credit") % values
    else:
        phrase = gettext("%(percent)s%% of each order in cash") % values
    if spec.max_amount is not None and spec.currency is not None:
        cap = format_money(spec.max_amount, spec.currency, loc)
        phrase = pgettext("commission cap", "%(reward)s, up to %(amount)s") % {
            "reward": phrase,
            "amount": cap,
        }
    return phrase


def _short_reward(spec: RewardSpec, loc: str, *, bare: bool = False) -> str:
    """The headline form: shorter, and with `bare` (or for cash) just the amount."""
    kind = spec.kind
    if kind == "percent_discount":
        return pgettext("headline", "%(percent)s%% off") % {"percent": spec.percent}
    if kind not in MONEY_KINDS or (spec.amount is None and spec.percent is not None):
        return _with_renewals(spec, _reward_core(spec, loc))
    amount = _reward_money(spec, loc)
    if bare or kind == "cash":
        return amount
    if kind == "fixed_discount":
        return pgettext("headline", "%(amount)s off") % {"amount": amount}
    if kind == "account_credit":
        return pgettext("headline", "%(amount)s credit") % {"amount": amount}
    label = localized_label(spec, _language(loc))
    return pgettext("headline", "%(amount)s to %(label)s") % {"amount": amount, "label": label}


def _language(loc: str) -> str:
    """Babel's "pt_BR" → "pt": the program locale whose label the merchant wrote."""
    return loc.split("_")[0].lower()


def _expiry(days: int) -> str:
    return ngettext("valid for %(count)s day", "valid for %(count)s days", days) % {"count": days}


def _reward_money(spec: RewardSpec, loc: str) -> str:
    if spec.amount is None or spec.currency is None:
        raise ValueError(f"A {spec.kind} reward needs an amount and a currency.")
    return format_money(spec.amount, spec.currency, loc)


def _an(spec: RewardSpec) -> bool:
    """English article: "an €8 discount", "an €11 donation", "a €10 discount"."""
    if spec.amount is None or spec.currency is None:
        return False
    digits = str(int(to_major(spec.amount, spec.currency)))
    return digits.startswith("8") or (len(digits) % 3 == 2 and digits[:2] in {"11", "18"})


# --- Headline ----------------------------------------------------------------------------------


def _headline(config: ProgramConfig, loc: str) -> str:
    friend = config.friend_reward
    if config.tiers:
        top = config.tiers[-1]
        if len(config.tiers) == 1 and top.threshold == 1 and top.repeat:
            return _one_sided_headline(top.reward, friend, loc)
        values = {"count": top.threshold, "reward": _short_reward(top.reward, loc)}
        if friend:
            values["friend"] = _short_reward(friend, loc)
            return (
                ngettext(
                    "Give %(friend)s; refer %(count)s friend, get %(reward)s",
                    "Give %(friend)s; refer %(count)s friends, get %(reward)s",
                    top.threshold,
                )
                % values
            )
        return (
            ngettext(
                "Refer %(count)s friend, get %(reward)s",
                "Refer %(count)s friends, get %(reward)s",
                top.threshold,
            )
            % values
        )
    if config.advocate_reward:
        return _one_sided_headline(config.advocate_reward, friend, loc)
    if friend:
        return gettext("Give your friends %(reward)s") % {"reward": _short_reward(friend, loc)}
    return gettext("Refer a friend")


def _one_sided_headline(advocate: RewardSpec, friend: RewardSpec | None, loc: str) -> str:
    if friend is None:
        return gettext("Get %(reward)s for every friend you refer") % {
            "reward": _short_reward(advocate, loc)
        }
    bare = advocate.kind == friend.kind and advocate.kind in _BARE_MONEY_KINDS
    return gettext("Give %(friend)s, get %(advocate)s") % {
        "friend": _short_reward(friend, loc, bare=bare),
        "advocate": _short_reward(advocate, loc, bare=bare),
    }


# --- Summary -----------------------------------------------------------------------------------


def _summary(config: ProgramConfig, loc: str, currency: str | None) -> str:
    rules = config.rules

    def money(amount: int) -> str:
        if currency is None:
            raise ValueError("program_summary needs currency= for the minimum order or budget.")
        return format_money(amount, currency, loc)

    minimum = money(rules.min_order_amount) if rules.min_order_amount else None
    clauses: list[str] = []
    if config.tiers:
        clauses.append(_tiers_clause(config.tiers, rules.hold_days, loc))
    elif config.advocate_reward:
        reward = _reward(config.advocate_reward, loc, with_expiry=True)
        clauses.append(
            _advocate_clause(reward, minimum, rules.first_purchase_only, rules.hold_days)
        )
    if config.friend_reward:
        clauses.append(_friend_clause(config.friend_reward, rules.first_purchase_only, loc))
    sentences = [_sentence("; ".join(clauses))] if clauses else []
    if config.tiers:
        sentences.append(_qualifies(minimum, rules.first_purchase_only))
    sentences.append(_eligibility(rules.new_customers_only, rules.attribution_window_days))
    limits: list[str] = []
    if rules.max_rewards_per_advocate:
        limits.append(_cap(rules.max_rewards_per_advocate, rules.max_rewards_period))
    if rules.budget_amount:
        amount = {"amount": money(rules.budget_amount)}
        if rules.budget_action == "stop_rewards":
            limits.append(gettext("rewards stop once they total %(amount)s") % amount)
        else:
            limits.append(gettext("the program pauses once rewards total %(amount)s") % amount)
    if limits:
        sentences.append(gettext("Limits: %(limits)s.") % {"limits": "; ".join(limits)})
    return " ".join(sentences)


def _advocate_clause(reward: str, minimum: str | None, first_only: bool, hold: int) -> str:
    values = {"reward": reward, "amount": minimum, "count": hold}
    if first_only and minimum:
        if hold == 0:
            return (
                gettext(
                    "Advocates get %(reward)s after each friend's first order of at least "
                    "%(amount)s, released immediately"
                )
                % values
            )
        return (
            ngettext(
                "Advocates get %(reward)s after each friend's first order of at least %(amount)s, "
                "released %(count)s day after the order",
                "Advocates get %(reward)s after each friend's first order of at least %(amount)s, "
                "released %(count)s days after the order",
                hold,
            )
            % values
        )
    if first_only:
        if hold == 0:
            return (
                gettext(
                    "Advocates get %(reward)s after each friend's first order, released immediately"
                )
                % values
            )
        return (
            ngettext(
                "Advocates get %(reward)s after each friend's first order, "
                "released %(count)s day after the order",
                "Advocates get %(reward)s after each friend's first order, "
                "released %(count)s days after the order",
                hold,
            )
            % values
        )
    if minimum:
        if hold == 0:
            return (
                gettext(
                    "Advocates get %(reward)s for every order of at least %(amount)s a friend "
                    "places, released immediately"
                )
                % values
            )
        return (
            ngettext(
                "Advocates get %(reward)s for every order of at least %(amount)s a friend places, "
                "released %(count)s day after the order",
                "Advocates get %(reward)s for every order of at least %(amount)s a friend places, "
                "released %(count)s days after the order",
                hold,
            )
            % values
        )
    if hold == 0:
        return (
            gettext(
                "Advocates get %(reward)s for every order a friend places, released immediately"
            )
            % values
        )
    return (
        ngettext(
            "Advocates get %(reward)s for every order a friend places, "
            "released %(count)s day after the order",
            "Advocates get %(reward)s for every order a friend places, "
            "released %(count)s days after the order",
            hold,
        )
        % values
    )


def _tiers_clause(tiers: tuple[Tier, ...], hold: int, loc: str) -> str:
    items: list[str] = []
    for index, tier in enumerate(tiers):
        values = {"reward": _reward(tier.reward, loc, with_expiry=True), "count": tier.threshold}
        if index == 0:
            item = (
                ngettext(
                    "%(reward)s at %(count)s qualified friend",
                    "%(reward)s at %(count)s qualified friends",
                    tier.threshold,
                )
                % values
            )
        else:
            item = pgettext("tier threshold", "%(reward)s at %(count)s") % values
        if tier.repeat:
            again = ngettext(
                "(then again for every further friend)",
                "(then again for every %(count)s more)",
                tier.threshold,
            ) % {"count": tier.threshold}
            item = f"{item} {again}"
        items.append(item)
    values = {"tiers": format_list(items, locale=loc), "count": hold}
    if hold == 0:
        return gettext("Advocates get %(tiers)s, each released immediately") % values
    return (
        ngettext(
            "Advocates get %(tiers)s, each released %(count)s day after the qualifying order",
            "Advocates get %(tiers)s, each released %(count)s days after the qualifying order",
            hold,
        )
        % values
    )


def _friend_clause(spec: RewardSpec, first_only: bool, loc: str) -> str:
    values = {"reward": _reward(spec, loc)}
    discount = spec.kind == "percent_discount"  # "15% off their first order" (no "on")
    if first_only:
        clause = (
            pgettext("discount", "friends get %(reward)s their first order")
            if discount
            else gettext("friends get %(reward)s on their first order")
        ) % values
    else:
        clause = (
            pgettext("discount", "friends get %(reward)s every qualifying order")
            if discount
            else gettext("friends get %(reward)s with every qualifying order")
        ) % values
    if spec.expires_after_days:
        clause = f"{clause} ({_expiry(spec.expires_after_days)})"
    return clause


def _qualifies(minimum: str | None, first_only: bool) -> str:
    values = {"amount": minimum}
    if first_only and minimum:
        return gettext("A friend qualifies with their first order of at least %(amount)s.") % values
    if first_only:
        return gettext("A friend qualifies with their first order.")
    if minimum:
        return gettext("A friend qualifies with any order of at least %(amount)s.") % values
    return gettext("A friend qualifies with any order.")


def _eligibility(new_customers_only: bool, window: int) -> str:
    values = {"count": window}
    if new_customers_only:
        return (
            ngettext(
                "Friends must be new customers and order within %(count)s day of clicking the "
                "referral link.",
                "Friends must be new customers and order within %(count)s days of clicking the "
                "referral link.",
                window,
            )
            % values
        )
    return (
        ngettext(
            "Friends must order within %(count)s day of clicking the referral link.",
            "Friends must order within %(count)s days of clicking the referral link.",
            window,
        )
        % values
    )


def _cap(count: int, period: str) -> str:
    values = {"count": count}
    if period == "day":
        return (
            ngettext(
                "up to %(count)s reward per advocate per day",
                "up to %(count)s rewards per advocate per day",
                count,
            )
            % values
        )
    if period == "week":
        return (
            ngettext(
                "up to %(count)s reward per advocate per week",
                "up to %(count)s rewards per advocate per week",
                count,
            )
            % values
        )
    if period == "year":
        return (
            ngettext(
                "up to %(count)s reward per advocate per year",
                "up to %(count)s rewards per advocate per year",
                count,
            )
            % values
        )
    if period == "lifetime":
        return (
            ngettext(
                "up to %(count)s reward per advocate in total",
                "up to %(count)s rewards per advocate in total",
                count,
            )
            % values
        )
    return (
        ngettext(
            "up to %(count)s reward per advocate per month",
            "up to %(count)s rewards per advocate per month",
            count,
        )
        % values
    )


# --- Helpers -----------------------------------------------------------------------------------


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


def _program_currency(config: ProgramConfig) -> str | None:
    specs = [config.advocate_reward, config.friend_reward]
    specs += [tier.reward for tier in config.tiers]
    for variant in config.variants:
        specs += [variant.advocate_reward, variant.friend_reward]
    for spec in specs:
        if spec is not None and spec.currency:
            return spec.currency
    return None


def _babel_locale(locale: str) -> str:
    """Django's "pt-br" → babel's "pt_BR"; an unknown locale formats numbers as English."""
    name = translation.to_locale(locale)
    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return "en"
    return name
