"""The plans we sell, in one place: their limits, their features and their Stripe prices.

Everything that asks "may this merchant do X?" reads a `Plan` from here (through
`billing.limits`), so a new plan or a changed limit is one edit. `None` as a limit means
unlimited. Prices live in Stripe; we only keep the price id of each paid plan (settings
`STRIPE_PRICE_GROWTH`, `STRIPE_PRICE_SCALE`) and a display price for the plan cards.

An installation that does not sell plans (`billing_configured()` is false: no Stripe secret key,
or no paid plan with a price) is *self-hosted*: every merchant has `SELF_HOSTED_PLAN`, with no
limits and every feature. The software is AGPL: a self-hosted copy is not a crippled one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from referral_saas import limits


class Feature(limits.Feature):
    """Plan features other apps check with `referral_saas.limits.feature_enabled()`."""

    LABELS: dict[str, Promise] = {
        limits.Feature.AB_TESTS: _("A/B tests of offers and copy"),
        limits.Feature.STRIPE_FULFILMENT: _("Rewards fulfilled on your Stripe account"),
        limits.Feature.CUSTOM_BRANDING: _("Custom branding (no “powered by” footer)"),
        limits.Feature.WEBHOOKS: _("Outgoing webhooks"),
    }


@dataclass(frozen=True)
class Limits:
    active_programs: int | None
    conversions_per_month: int | None
    seats: int | None


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    rank: int  # higher is bigger; used to tell an upgrade from a downgrade
    monthly_price_display: str  # what the plan card shows; Stripe's price is what is charged
    limits: Limits
    features: frozenset[str]

    @property
    def is_paid(self) -> bool:
        return self.code not in (FREE, SELF_HOSTED)

    @property
    def price_id(self) -> str:
        """The Stripe price id of a paid plan ("" when billing is not configured for it)."""
        return str(getattr(settings, f"STRIPE_PRICE_{self.code.upper()}", "") or "")

    def has(self, feature: str) -> bool:
        return feature in self.features

    def feature_labels(self) -> list[str]:
        return [str(Feature.LABELS[f]) for f in Feature.LABELS if f in self.features]


FREE = "free"
GROWTH = "growth"
SCALE = "scale"
# Not sold and never stored on a subscription row: what every merchant has when billing is off.
SELF_HOSTED = "self_hosted"

PLANS: dict[str, Plan] = {
    FREE: Plan(
        code=FREE,
        name="Free",
        rank=0,
        monthly_price_display="€0",
        limits=Limits(active_programs=1, conversions_per_month=100, seats=3),
        features=frozenset(),
    ),
    GROWTH: Plan(
        code=GROWTH,
        name="Growth",
        rank=1,
        monthly_price_display="€49",
        limits=Limits(active_programs=5, conversions_per_month=2_000, seats=10),
        features=frozenset({Feature.AB_TESTS, Feature.STRIPE_FULFILMENT, Feature.WEBHOOKS}),
    ),
    SCALE: Plan(
        code=SCALE,
        name="Scale",
        rank=2,
        monthly_price_display="€199",
        limits=Limits(active_programs=None, conversions_per_month=25_000, seats=None),
        features=frozenset(
            {
                Feature.AB_TESTS,
                Feature.STRIPE_FULFILMENT,
                Feature.WEBHOOKS,
                Feature.CUSTOM_BRANDING,
            }
        ),
    ),
}

PLAN_CHOICES = [(plan.code, plan.name) for plan in PLANS.values()]

SELF_HOSTED_PLAN = Plan(
    code=SELF_HOSTED,
    name="Self-hosted",
    rank=max(plan.rank for plan in PLANS.values()) + 1,
    monthly_price_display="",
    limits=Limits(active_programs=None, conversions_per_month=None, seats=None),
    features=frozenset(Feature.LABELS),
)


def billing_configured() -> bool:
    """True when this installation sells plans: Stripe's secret key is set and at least one paid
    plan has its price id. The one definition every "is billing on?" question reads.

    The secret key alone is not enough: it is also the key reward fulfilment acts with, so an
    installation may have it and still sell nothing. Without a plan on sale nobody could ever
    leave Free, so the installation is self-hosted instead: no limits at all."""
    if not getattr(settings, "STRIPE_SECRET_KEY", ""):
        return False
    return any(plan.price_id for plan in PLANS.values() if plan.is_paid)


def plan_for(code: str) -> Plan:
    """The plan with this code; an unknown code (a plan retired from this list) is Free, so a
    stale row can never grant more than we sell."""
    return PLANS.get(code, PLANS[FREE])


def plan_for_price(price_id: str) -> Plan | None:
    """The paid plan whose Stripe price this is, or None for a price we do not sell."""
    if not price_id:
        return None
    for plan in PLANS.values():
        if plan.is_paid and plan.price_id == price_id:
            return plan
    return None


def limit_grew(old: int | None, new: int | None) -> bool:
    """True when `new` allows more than `old` (None = unlimited)."""
    if old is None:
        return False
    return new is None or new > old
