"""What a merchant's plan allows: the questions other apps ask billing.

- the reward pipeline: `conversion_over_limit()` (is this conversion beyond the month's limit?)
  and `monthly_usage()` (the meter and banners);
- programs: `check_program_activation()` before a program goes live;
- accounts: `check_seat_available()` before an invitation is sent;
- any feature gate: `feature_enabled()` / `require_feature()` (webhook endpoints, and program
  configurations through `check_program_features()`).

On a self-hosted installation (`billing.plans.billing_configured()` is false) every merchant has
`SELF_HOSTED_PLAN`: every answer is "unlimited" and every feature is on, without a query.

The reads that take a `merchant_id` use the unscoped managers *with an explicit merchant
filter*: the pipeline calls them from workers that may be between merchants, and a wrong tenant
is impossible because the merchant is named in the query itself. The checks that act inside a
request or service (`check_*`) use the scoped managers and the current merchant.

Over a limit, nothing is ever refused after the fact or deleted: conversions are still stored
(flagged over-limit by the pipeline), programs beyond the limit are paused on a downgrade, and
members beyond the seat count stay; only *new* activations and invitations are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Invitation, Membership, Merchant
from billing.models import Subscription
from billing.plans import (
    FREE,
    PLANS,
    SELF_HOSTED_PLAN,
    Feature,
    Plan,
    billing_configured,
    plan_for,
)
from programs.models import Program, ProgramStatus
from programs.specs import STRIPE_METHODS, ProgramConfig, RewardSpec, SpecError
from referral_saas import tenancy
from referral_saas.api.errors import ApiError
from tracking.models import Conversion

NEAR_LIMIT_RATIO = 0.8


class FeatureNotInPlan(ApiError):
    """The merchant's plan does not include a feature; `message` is safe to show.

    Raised by the services where the feature is created or switched on. The API answers it as
    it answers every `ApiError`: a 403 in the error envelope, code `plan_feature_unavailable`,
    `param` the feature. The dashboard shows `message` (`billing.middleware`)."""

    def __init__(self, message: str, *, feature: str) -> None:
        super().__init__(
            status_code=403,
            type="permission_error",
            code="plan_feature_unavailable",
            message=message,
            param=feature,
        )
        self.message = message
        self.feature = feature


@dataclass(frozen=True)
class Usage:
    """This UTC calendar month's tracked conversions against the plan's limit."""

    used: int
    limit: int | None  # None: unlimited
    near: bool  # at least 80 % of the limit
    reached: bool  # at or beyond the limit: new conversions are stored but not rewarded
    plan: Plan
    month_start: datetime

    @property
    def percent(self) -> int:
        if not self.limit:
            return 0
        return min(100, round(100 * self.used / self.limit))


def _plan_and_mode(merchant_id: int) -> tuple[Plan, bool]:
    """The merchant's plan now, and whether it is a live data space, in one query: a test data
    space (`accounts.testmode`) has its account's plan (its subscription is the account's)."""
    if not billing_configured():
        return SELF_HOSTED_PLAN, True
    account_subscription = Subscription.unscoped_all_merchants.filter(
        merchant_id=Coalesce(OuterRef("live_merchant_id"), OuterRef("pk"))
    )
    row = (
        Merchant.objects.filter(pk=merchant_id)
        .annotate(
            plan_code=Subquery(account_subscription.values("plan")[:1]),
            grace_ends=Subquery(account_subscription.values("grace_period_ends_at")[:1]),
        )
        .values_list("livemode", "plan_code", "grace_ends")
        .first()
    )
    if row is None or row[1] is None:
        return PLANS[FREE], row[0] if row is not None else True
    return effective_plan(plan_code=row[1], grace_period_ends_at=row[2]), row[0]


def current_plan(*, merchant_id: int) -> Plan:
    """The plan the merchant has *now*: on a self-hosted installation the unlimited
    `SELF_HOSTED_PLAN` (no query); otherwise Free without a subscription row, and Free as soon
    as a payment grace period has run out (even before the sweeper has written the downgrade).
    A test data space (`accounts.testmode`) has its account's plan."""
    return _plan_and_mode(merchant_id)[0]


def effective_plan(*, plan_code: str, grace_period_ends_at: datetime | None) -> Plan:
    if grace_period_ends_at is not None and grace_period_ends_at <= timezone.now():
        return PLANS[FREE]
    return plan_for(plan_code)


def month_start(moment: datetime) -> datetime:
    """The first instant of `moment`'s UTC calendar month."""
    moment = moment.astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_conversions(merchant_id: int, moment: datetime) -> QuerySet[Conversion]:
    start = month_start(moment)
    # Served by the (merchant, -created_at) index: a range scan of one merchant's month.
    return Conversion.unscoped_all_merchants.filter(merchant_id=merchant_id, created_at__gte=start)


def conversion_over_limit(
    *, merchant_id: int, conversion_created_at: datetime, conversion_pk: int
) -> bool:
    """True when this conversion is beyond the plan's monthly tracked-conversion limit.

    Its rank in its UTC month is the number of the merchant's conversions created before it
    (ties on `created_at` broken by primary key), so the answer does not depend on the order
    workers evaluate conversions in, and asking twice gives the same answer. Two queries: the
    plan (one row by a unique key) and one indexed COUNT, capped at the limit with a LIMIT so
    its cost does not grow with the month's volume.
    """
    plan, livemode = _plan_and_mode(merchant_id)
    limit = plan.limits.conversions_per_month
    if limit is None or not livemode:  # test data never counts toward the plan
        return False
    earlier = month_conversions(merchant_id, conversion_created_at).filter(
        Q(created_at__lt=conversion_created_at)
        | Q(created_at=conversion_created_at, pk__lt=conversion_pk)
    )
    return earlier[:limit].count() >= limit


def monthly_usage(*, merchant_id: int, now: datetime | None = None) -> Usage:
    """This month's tracked conversions (every stored conversion counts, rewarded or not)."""
    now = now or timezone.now()
    plan = current_plan(merchant_id=merchant_id)
    limit = plan.limits.conversions_per_month
    used = month_conversions(merchant_id, now).count()
    return Usage(
        used=used,
        limit=limit,
        near=limit is not None and used >= NEAR_LIMIT_RATIO * limit,
        reached=limit is not None and used >= limit,
        plan=plan,
        month_start=month_start(now),
    )


def feature_enabled(*, merchant_id: int, feature: str) -> bool:
    return current_plan(merchant_id=merchant_id).has(feature)


def require_feature(*, merchant_id: int, feature: str) -> None:
    """Raise `FeatureNotInPlan` when the merchant's plan lacks `feature`."""
    plan = current_plan(merchant_id=merchant_id)
    if plan.has(feature):
        return
    label = str(Feature.LABELS.get(feature, feature))
    including = [p.name for p in PLANS.values() if p.has(feature)]
    if including:
        message = _(
            "%(feature)s is not included in the %(plan)s plan; it comes with %(plans)s. "
            "Upgrade on the Billing page."
        ) % {"feature": label, "plan": plan.name, "plans": _(" and ").join(including)}
    else:
        message = _("%(feature)s is not included in the %(plan)s plan.") % {
            "feature": label,
            "plan": plan.name,
        }
    raise FeatureNotInPlan(message, feature=feature)


def _reward_specs(config: ProgramConfig, keys: set[str]) -> list[RewardSpec]:
    specs: list[RewardSpec | None] = []
    if "advocate_reward" in keys:
        specs.append(config.advocate_reward)
    if "friend_reward" in keys:
        specs.append(config.friend_reward)
    if "tiers" in keys:
        specs += [tier.reward for tier in config.tiers]
    if "variants" in keys:
        for variant in config.variants:
            specs += [variant.advocate_reward, variant.friend_reward]
    return [spec for spec in specs if spec is not None]


def program_features(config: ProgramConfig, *, keys: set[str] | None = None) -> list[str]:
    """The plan features a program configuration uses, looking only at its parts named in
    `keys` (all of them when None): A/B variants, Stripe fulfilment, webhook fulfilment."""
    keys = {"advocate_reward", "friend_reward", "tiers", "variants"} if keys is None else keys
    used: list[str] = []
    if "variants" in keys and config.variants:
        used.append(Feature.AB_TESTS)
    methods = {spec.fulfilment for spec in _reward_specs(config, keys)}
    if methods & STRIPE_METHODS:
        used.append(Feature.STRIPE_FULFILMENT)
    if "webhook" in methods:
        used.append(Feature.WEBHOOKS)
    return used


def check_program_features(*, config: ProgramConfig, keys: set[str] | None = None) -> None:
    """Refuse (`FeatureNotInPlan`) a program configuration of the current merchant that uses a
    feature its plan lacks. Only the parts being written (`keys`: the configuration fields of
    the request; None = all, as when a program is duplicated) are judged, so a program set up
    on a bigger plan can still have its copy or dates edited after a downgrade."""
    used = program_features(config, keys=keys)
    if not used:
        return
    merchant = tenancy.get_current_merchant()
    for feature in used:
        require_feature(merchant_id=merchant.pk, feature=feature)


def check_program_activation(*, program: Program) -> None:
    """Refuse to activate `program` (in the current merchant) when the plan's active-program
    limit is already used by *other* programs. Raises the programs app's `SpecError` on
    `status`, which its API answers as a 400 and its dashboard shows as a message."""
    merchant = tenancy.get_current_merchant()
    if not merchant.livemode:
        return  # programs tried in test mode do not use the plan's programs
    plan = current_plan(merchant_id=merchant.pk)
    limit = plan.limits.active_programs
    if limit is None:
        return
    # Two programs activated at once must not both see the other as inactive: serialise
    # activations per merchant on its row (the caller's transaction holds the lock).
    list(Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk", flat=True))
    active = Program.objects.filter(status=ProgramStatus.ACTIVE).exclude(pk=program.pk).count()
    if active >= limit:
        raise SpecError(
            {
                "status": _(
                    "Your %(plan)s plan allows %(limit)d active program(s) and %(active)d "
                    "already running. Pause one, or upgrade your plan on the Billing page."
                )
                % {"plan": plan.name, "limit": limit, "active": active}
            }
        )


def seats_used(*, excluding_email: str = "") -> int:
    """Members plus open invitations of the current merchant (an invitation holds a seat)."""
    open_invitations = Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
    if excluding_email:
        # Re-inviting the same address replaces its open invitation: not an extra seat.
        open_invitations = open_invitations.exclude(email__iexact=excluding_email)
    return Membership.objects.count() + open_invitations.count()


def check_seat_available(*, email: str) -> None:
    """Refuse a new invitation when members and open invitations fill the plan's seats.
    Raises a `ValidationError` on `email`, as the invitation form and service report errors."""
    merchant = tenancy.get_current_merchant()
    plan = current_plan(merchant_id=merchant.pk)
    seats = plan.limits.seats
    if seats is None:
        return
    if seats_used(excluding_email=email) >= seats:
        raise ValidationError(
            {
                "email": _(
                    "Your %(plan)s plan includes %(seats)d team seats, and members and pending "
                    "invitations use them all. Revoke an invitation, remove a member, or upgrade "
                    "your plan on the Billing page."
                )
                % {"plan": plan.name, "seats": seats}
            }
        )
