"""The friend's side of an offer, in the friend's words: what *they* get ("15% off your first
order"), on what conditions, and the one sentence a link preview shows.

The advocate's reward, headline and terms are never used here: a friend who follows a link is
not the person the merchant's program copy talks to (the walk found the friend page saying
"ricevi tu 10 € di credito", the advocate's reward). Call inside `translation.override(locale)`.

Merchant-typed labels (the free product, the charity) come through `reward_label`, the one
place that asks `programs.localized` for the label in the visitor's language.
"""

from __future__ import annotations

from babel.numbers import format_decimal
from django.utils import translation
from django.utils.translation import gettext, ngettext, pgettext

from programs.localized import localized_label
from programs.specs import ProgramConfig, RewardSpec
from referral_saas.money import format_money


def reward_label(spec: RewardSpec, locale: str) -> str:
    """The merchant's label (product, upgrade, charity) in `locale`, else its default text."""
    return localized_label(spec, locale)


def _babel(locale: str) -> str:
    return translation.to_locale(locale)


def _money(spec: RewardSpec, locale: str) -> str:
    if spec.amount is None or spec.currency is None:
        raise ValueError(f"A {spec.kind} reward needs an amount and a currency.")
    return format_money(spec.amount, spec.currency, _babel(locale))


def friend_offer(spec: RewardSpec, locale: str, *, first_order: bool = True) -> str:
    """The friend's reward as a headline addressed to them: "Get 15% off your first order",
    "Get €10 off your first order", "Get a free bag of Roma blend with your first order".
    `first_order` follows the program's "first purchase only" rule (else "your order")."""
    kind = spec.kind
    if kind == "percent_discount":
        values: dict[str, object] = {"percent": spec.percent}
        if first_order:
            return gettext("Get %(percent)s%% off your first order") % values
        return gettext("Get %(percent)s%% off your order") % values
    if kind == "points":
        points = spec.points or 0
        if first_order:
            return ngettext(
                "Get %(count)s point with your first order",
                "Get %(count)s points with your first order",
                points,
            ) % {"count": format_decimal(points, locale=_babel(locale))}
        return ngettext(
            "Get %(count)s point with your order", "Get %(count)s points with your order", points
        ) % {"count": format_decimal(points, locale=_babel(locale))}
    if kind == "free_product":
        values = {"label": reward_label(spec, locale)}
        if first_order:
            return gettext("Get a free %(label)s with your first order") % values
        return gettext("Get a free %(label)s with your order") % values
    if spec.amount is None and spec.percent is not None:  # a commission: cash, account credit
        return _commission_offer(spec, locale, first_order=first_order)
    values = {"amount": _money(spec, locale)}
    if kind == "fixed_discount":
        if first_order:
            return gettext("Get %(amount)s off your first order") % values
        return gettext("Get %(amount)s off your order") % values
    if kind == "account_credit":
        if first_order:
            return gettext("Get %(amount)s credit for your first order") % values
        return gettext("Get %(amount)s credit for your order") % values
    if kind == "cash":
        if first_order:
            return gettext("Get %(amount)s back on your first order") % values
        return gettext("Get %(amount)s back on your order") % values
    if kind == "charity_donation":
        values["label"] = reward_label(spec, locale)
        if first_order:
            return gettext("Your first order gives %(amount)s to %(label)s") % values
        return gettext("Your order gives %(amount)s to %(label)s") % values
    raise ValueError(f"Unknown reward kind {kind!r}.")


def _commission_offer(spec: RewardSpec, locale: str, *, first_order: bool) -> str:
    """A share of the friend's order: "Get 10% back on your first order, up to €50"."""
    values: dict[str, object] = {"percent": spec.percent}
    if spec.kind == "account_credit":
        if first_order:
            offer = gettext("Get %(percent)s%% of your first order as credit") % values
        else:
            offer = gettext("Get %(percent)s%% of your order as credit") % values
    elif first_order:
        offer = gettext("Get %(percent)s%% back on your first order") % values
    else:
        offer = gettext("Get %(percent)s%% back on your order") % values
    if spec.max_amount is None or spec.currency is None:
        return offer
    cap = format_money(spec.max_amount, spec.currency, _babel(locale))
    return pgettext("commission cap", "%(reward)s, up to %(amount)s") % {
        "reward": offer,
        "amount": cap,
    }


def friend_conditions(
    config: ProgramConfig, spec: RewardSpec, *, merchant_name: str, currency: str, locale: str
) -> list[str]:
    """The conditions of the friend's gift, one short sentence each (what the pipeline checks
    for a friend: the minimum order, new customers only, how long the code is valid)."""
    rules = config.rules
    conditions: list[str] = []
    if rules.min_order_amount:
        amount = format_money(rules.min_order_amount, currency, _babel(locale))
        conditions.append(gettext("For orders of at least %(amount)s.") % {"amount": amount})
    if rules.new_customers_only:
        conditions.append(
            gettext("For new customers of %(merchant)s.") % {"merchant": merchant_name}
        )
    if spec.expires_after_days:
        days = spec.expires_after_days
        conditions.append(
            ngettext(
                "Your gift is valid for %(count)s day.",
                "Your gift is valid for %(count)s days.",
                days,
            )
            % {"count": days}
        )
    return conditions
