"""What a plan allows: the monthly conversion limit, active programs, seats and features."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Invitation, Membership
from accounts.services import invitation_create
from billing import limits
from billing.models import Subscription
from billing.plans import FREE, GROWTH, PLANS, SCALE, Feature, plan_for, plan_for_price
from programs.models import Program, ProgramStatus
from programs.services import program_activate
from programs.specs import SpecError
from referral_saas import tenancy
from tests.conftest import World
from tests.factories import make_program
from tests.test_billing_support import billing_configured  # noqa: F401  (fixture)
from tracking.models import Conversion
from tracking.services import conversion_record

# An installation that sells plans: without billing configured there are no limits at all.
pytestmark = pytest.mark.usefixtures("billing_configured")


def on_plan(merchant: Any, plan: str, **fields: Any) -> Subscription:
    with tenancy.merchant_context(merchant):
        row, _ = Subscription.objects.update_or_create(defaults={"plan": plan, **fields})
        return row


def conversions(merchant: Any, count: int, *, at: datetime, prefix: str = "O") -> list[Conversion]:
    """`count` conversions created at exactly `at` (ties broken by primary key)."""
    with tenancy.merchant_context(merchant):
        made = [
            conversion_record(
                order_id=f"{prefix}-{n}",
                amount=1000,
                currency="EUR",
                customer={"email": f"{prefix.lower()}{n}@example.com"},
            ).conversion
            for n in range(count)
        ]
        Conversion.objects.filter(pk__in=[c.pk for c in made]).update(created_at=at)
        return list(Conversion.objects.filter(pk__in=[c.pk for c in made]).order_by("pk"))


def over(conversion: Conversion) -> bool:
    return limits.conversion_over_limit(
        merchant_id=conversion.merchant_id,
        conversion_created_at=conversion.created_at,
        conversion_pk=conversion.pk,
    )


# --- Plans -------------------------------------------------------------------------------------


def test_plans_are_ordered_and_each_bigger_plan_allows_at_least_as_much() -> None:
    free, growth, scale = PLANS[FREE], PLANS[GROWTH], PLANS[SCALE]
    assert free.rank < growth.rank < scale.rank
    for small, big in ((free, growth), (growth, scale)):
        for name in ("active_programs", "conversions_per_month", "seats"):
            s, b = getattr(small.limits, name), getattr(big.limits, name)
            assert s is not None, name
            assert b is None or b >= s, name
        assert small.features <= big.features
    assert scale.has(Feature.CUSTOM_BRANDING)
    assert not growth.has(Feature.CUSTOM_BRANDING)


def test_unknown_plan_code_and_unknown_price_grant_nothing(settings: Any) -> None:
    settings.STRIPE_PRICE_GROWTH = "price_g"
    assert plan_for("enterprise-retired") is PLANS[FREE]
    assert plan_for_price("price_g") is PLANS[GROWTH]
    assert plan_for_price("price_unknown") is None
    assert plan_for_price("") is None


# --- Monthly conversion limit --------------------------------------------------------------------


def test_conversions_beyond_the_monthly_limit_are_over_ties_broken_by_pk(world: World) -> None:
    # given Free (100 a month) and 101 conversions created at the very same instant
    at = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    made = conversions(world.acme, 101, at=at)

    # then the first 100 by primary key are within the limit, the 101st is over
    assert [over(c) for c in made].count(True) == 1
    assert over(made[-1]) is True
    assert over(made[99]) is False


def test_the_limit_counts_only_the_conversions_utc_month(world: World) -> None:
    conversions(world.acme, 100, at=datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC), prefix="FEB")
    (march,) = conversions(world.acme, 1, at=datetime(2026, 3, 1, 0, 0, tzinfo=UTC), prefix="MAR")
    assert over(march) is False


def test_another_merchants_conversions_do_not_count(world: World) -> None:
    at = datetime(2026, 3, 15, tzinfo=UTC)
    conversions(world.globex, 100, at=at, prefix="G")
    (mine,) = conversions(world.acme, 1, at=at + timedelta(seconds=1), prefix="A")
    assert over(mine) is False


def test_an_upgrade_lifts_the_limit_and_an_unlimited_plan_needs_no_count(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime(2026, 3, 15, tzinfo=UTC)
    made = conversions(world.acme, 101, at=at)
    on_plan(world.acme, GROWTH)
    assert over(made[-1]) is False

    # a plan without a conversion limit answers from the plan row alone
    unlimited = replace(
        PLANS[SCALE], limits=replace(PLANS[SCALE].limits, conversions_per_month=None)
    )
    monkeypatch.setitem(PLANS, SCALE, unlimited)
    on_plan(world.acme, SCALE)
    with CaptureQueriesContext(connection) as queries:
        assert over(made[-1]) is False
    assert len(queries) == 1


def test_over_limit_check_is_two_cheap_queries(world: World) -> None:
    at = datetime(2026, 3, 15, tzinfo=UTC)
    made = conversions(world.acme, 3, at=at)
    with CaptureQueriesContext(connection) as queries:
        over(made[-1])
    assert len(queries) == 2  # the plan row, then one COUNT capped by LIMIT
    count_sql = queries[1]["sql"]
    assert "COUNT(" in count_sql.upper()
    assert "LIMIT 100" in count_sql.upper()


def test_an_expired_grace_period_counts_as_free_before_the_sweeper_runs(world: World) -> None:
    at = datetime(2026, 3, 15, tzinfo=UTC)
    made = conversions(world.acme, 101, at=at)
    on_plan(world.acme, GROWTH, grace_period_ends_at=timezone.now() - timedelta(seconds=1))
    assert limits.current_plan(merchant_id=world.acme.pk) is PLANS[FREE]
    assert over(made[-1]) is True
    on_plan(world.acme, GROWTH, grace_period_ends_at=timezone.now() + timedelta(days=1))
    assert over(made[-1]) is False


def test_monthly_usage_near_and_reached(world: World) -> None:
    now = timezone.now()
    conversions(world.acme, 79, at=now)
    usage = limits.monthly_usage(merchant_id=world.acme.pk)
    assert (usage.used, usage.limit, usage.near, usage.reached) == (79, 100, False, False)

    conversions(world.acme, 1, at=now, prefix="NEAR")
    usage = limits.monthly_usage(merchant_id=world.acme.pk)
    assert (usage.used, usage.near, usage.reached, usage.percent) == (80, True, False, 80)

    conversions(world.acme, 25, at=now, prefix="OVER")
    usage = limits.monthly_usage(merchant_id=world.acme.pk)
    assert (usage.used, usage.near, usage.reached, usage.percent) == (105, True, True, 100)


def test_limit_banner_tells_members_when_near_and_when_reached(client: Any, world: World) -> None:
    client.force_login(world.bob, backend="django.contrib.auth.backends.ModelBackend")
    now = timezone.now()
    assert client.get("/m/acme/billing/banners/").content.decode().count("alert") == 0

    conversions(world.acme, 85, at=now)
    near = client.get("/m/acme/billing/banners/").content.decode()
    assert 'data-billing-banner="warning"' in near
    assert "85 of this month" in near

    conversions(world.acme, 15, at=now, prefix="R")
    reached = client.get("/m/acme/billing/banners/").content.decode()
    assert 'data-billing-banner="error"' in reached
    assert "reached this month" in reached
    assert '/m/acme/billing/"' not in reached  # Bob is not an owner: no link he cannot open


# --- Active programs -----------------------------------------------------------------------------


def test_activating_beyond_the_plans_program_limit_is_refused_and_changes_nothing(
    world: World,
) -> None:
    make_program(world.acme, slug="live", name="Live")
    draft = make_program(world.acme, slug="next", name="Next", status=ProgramStatus.DRAFT)

    with tenancy.merchant_context(world.acme), pytest.raises(SpecError) as refused:
        program_activate(actor=world.alice, program=draft)

    assert "Free plan allows 1 active program" in refused.value.errors["status"]
    with tenancy.merchant_context(world.acme):
        assert Program.objects.get(pk=draft.pk).status == ProgramStatus.DRAFT


def test_activation_within_the_limit_and_after_an_upgrade_works(world: World) -> None:
    make_program(world.acme, slug="live", name="Live")
    draft = make_program(world.acme, slug="next", name="Next", status=ProgramStatus.DRAFT)
    on_plan(world.acme, GROWTH)
    with tenancy.merchant_context(world.acme):
        assert program_activate(actor=world.alice, program=draft).status == ProgramStatus.ACTIVE


def test_the_api_answers_a_refused_activation_with_a_400_on_status(
    client: Any, world: World, acme_secret: Any
) -> None:
    make_program(world.acme, slug="live", name="Live")
    draft = make_program(world.acme, slug="next", name="Next", status=ProgramStatus.DRAFT)

    response = client.post(
        f"/api/v1/programs/{draft.public_id}/activate",
        HTTP_AUTHORIZATION=f"Bearer {acme_secret.plaintext}",
    )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "status"
    assert "upgrade your plan" in response.json()["error"]["message"]


# --- Seats ----------------------------------------------------------------------------------------


def test_invitations_beyond_the_seats_are_refused_reinvites_are_not(world: World) -> None:
    # given Free (3 seats): Alice and Bob are members, Dana is invited
    with tenancy.merchant_context(world.acme):
        alice = Membership.objects.get(user=world.alice)
        invitation_create(actor=alice, email="dana@example.com", role="viewer")

        # when Alice invites a fourth person: refused, nothing written
        with pytest.raises(ValidationError) as refused:
            invitation_create(actor=alice, email="erin@example.com", role="viewer")
        assert "3 team seats" in refused.value.message_dict["email"][0]
        assert not Invitation.objects.filter(email="erin@example.com").exists()

        # re-inviting Dana replaces her invitation: no extra seat
        invitation_create(actor=alice, email="Dana@example.com", role="admin")
        assert Invitation.objects.filter(accepted_at=None, revoked_at=None).count() == 1


def test_an_expired_invitation_frees_its_seat(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        alice = Membership.objects.get(user=world.alice)
        invitation_create(actor=alice, email="dana@example.com", role="viewer")
        Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        invitation_create(actor=alice, email="erin@example.com", role="viewer")
        assert limits.seats_used() == 3


# --- Features ----------------------------------------------------------------------------------


def test_features_follow_the_plan(world: World) -> None:
    assert not limits.feature_enabled(merchant_id=world.acme.pk, feature=Feature.WEBHOOKS)
    with pytest.raises(limits.FeatureNotInPlan, match="Outgoing webhooks is not included"):
        limits.require_feature(merchant_id=world.acme.pk, feature=Feature.WEBHOOKS)
    on_plan(world.acme, GROWTH)
    limits.require_feature(merchant_id=world.acme.pk, feature=Feature.WEBHOOKS)
    assert not limits.feature_enabled(merchant_id=world.acme.pk, feature=Feature.CUSTOM_BRANDING)
    # Globex is still on Free
    assert not limits.feature_enabled(merchant_id=world.globex.pk, feature=Feature.WEBHOOKS)
