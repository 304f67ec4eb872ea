"""Issue 12, the newcomer's walk: figures correct by definition (finding 5), money in major
units with its currency wherever a person reads it (finding 6), and the friend identified on
the rewards page and its CSV (finding 12)."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from analytics import services as analytics_services
from analytics.kpis import Period, kpi_values, program_overview
from analytics.presenters import funnel
from programs.models import Program
from referral_saas import tenancy
from rewards.models import Reward
from tests.conftest import World, login
from tests.factories import make_program
from tracking.models import Advocate, Click, Conversion, Referral

PERIOD = Period(start=date(2026, 3, 2), end=date(2026, 3, 6))
NOW = datetime(2026, 3, 10, 8, tzinfo=UTC)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def page_text(response: Any) -> str:
    return html.unescape(response.content.decode()).replace("\xa0", " ")


def values(world: World, program: Program | None = None) -> dict[str, Any]:
    with tenancy.merchant_context(world.acme):
        return kpi_values(program_overview(period=PERIOD, program=program).totals)


def rolled_up_values(world: World, program: Program | None = None) -> dict[str, Any]:
    with tenancy.merchant_context(world.acme):
        analytics_services.rollups_refresh(now=NOW)
    return values(world, program)


# --- Finding 5: unique visitors ---------------------------------------------------------------


@pytest.fixture
def program(world: World) -> Program:
    return make_program(world.acme)


@pytest.fixture
def advocate(world: World, program: Program) -> Advocate:
    with tenancy.merchant_context(world.acme):
        return Advocate.objects.create(
            program=program, email="maria@example.com", code="MARIA", created_at=at(1)
        )


def test_clicks_without_consent_still_count_their_visitors(
    world: World, advocate: Advocate
) -> None:
    # given 29 clicks and not one visitor id (nobody consented): the walk showed 0 visitors
    with tenancy.merchant_context(world.acme):
        for n in range(20):  # one phone, one address, the same day
            Click.objects.create(
                program=advocate.program,
                advocate=advocate,
                ip_hash="hash-a",
                user_agent="Phone",
                created_at=at(3, n % 12),
            )
        for day in (3, 4):  # the same address and browser on another day is counted again
            Click.objects.create(
                program=advocate.program,
                advocate=advocate,
                ip_hash="hash-b",
                user_agent="Desktop",
                created_at=at(day),
            )
        Click.objects.create(  # the same address, another browser: another person
            program=advocate.program,
            advocate=advocate,
            ip_hash="hash-a",
            user_agent="Desktop",
            created_at=at(3),
        )
        for _ in range(3):  # only the truncated prefix is known (the demo seed's clicks)
            Click.objects.create(
                program=advocate.program,
                advocate=advocate,
                ip_prefix="203.0.113.0/24",
                user_agent="Mozilla/5.0 (demo)",
                created_at=at(5),
            )
        for _ in range(3):  # nothing known at all: each is a visitor of its own
            Click.objects.create(program=advocate.program, advocate=advocate, created_at=at(5))
    # then
    live = values(world)
    assert live["clicks"] == 29
    assert live["unique_visitors"] == 1 + 2 + 1 + 1 + 3
    assert rolled_up_values(world)["unique_visitors"] == 8


def test_a_consenting_visitor_is_one_visitor_across_days(world: World, advocate: Advocate) -> None:
    with tenancy.merchant_context(world.acme):
        for day in (2, 3, 4):
            Click.objects.create(
                program=advocate.program,
                advocate=advocate,
                visitor_id="vis-1",
                ip_hash=f"hash-{day}",
                created_at=at(day),
            )
    assert values(world)["unique_visitors"] == 1
    assert rolled_up_values(world)["unique_visitors"] == 1


# --- Finding 5: participation rate ------------------------------------------------------------


def _order(order_id: str, when: datetime, email: str, **fields: Any) -> Conversion:
    fields.setdefault("currency", "EUR")
    fields.setdefault("amount", 5000)
    fields.setdefault("status", "unattributed")
    return Conversion.objects.create(
        order_id=order_id, occurred_at=when, created_at=when, customer_email=email, **fields
    )


def test_participation_is_the_share_of_customers_who_are_advocates(
    world: World, program: Program
) -> None:
    other = make_program(world.acme, slug="other")
    with tenancy.merchant_context(world.acme):
        # five people joined in the period, only one of them ordered: the old definition
        # (advocates ÷ customers) said 5 ÷ 2 = 250 %
        for n in range(4):
            Advocate.objects.create(
                program=program, email=f"fan{n}@example.com", code=f"FAN{n}", created_at=at(2)
            )
        Advocate.objects.create(
            program=program, email="Buyer@Example.com", code="BUYER", created_at=at(3, 9)
        )
        _order("o1", at(3, 10), "buyer@example.com")  # joined an hour before: participates
        _order("o2", at(3, 11), "someone@example.com")  # never joined
        # joined after the day of the order: not a participant for that order
        _order("o3", at(4), "late@example.com")
        Advocate.objects.create(
            program=program, email="late@example.com", code="LATE", created_at=at(5)
        )
        # an advocate of the other program, matched by the storefront's customer id
        Advocate.objects.create(
            program=other, email="x@example.com", customer_id="cus_9", code="X", created_at=at(2)
        )
        _order("o4", at(4), "", customer_id="cus_9")
    # then: 4 customers seen, 1 of them an advocate of this program, 2 of any program
    for figures in (values, rolled_up_values):
        assert figures(world, program)["participation_rate"] == Decimal(1) / Decimal(4)
        assert figures(world)["participation_rate"] == Decimal(2) / Decimal(4)
        assert figures(world, program)["advocates"] == 6  # the count of joins is unchanged


# --- Finding 5: the funnel and the conversion rate --------------------------------------------


@pytest.fixture
def walk(world: World, program: Program, advocate: Advocate) -> dict[str, Any]:
    """Two clicks; five friends, only two of them through a click (the others by the API or a
    code typed at checkout); orders without a referral; two rewards per rewarded order."""
    with tenancy.merchant_context(world.acme):
        clicks = [
            Click.objects.create(
                program=program, advocate=advocate, visitor_id=f"v{n}", created_at=at(3)
            )
            for n in range(2)
        ]
        friends = [
            Referral.objects.create(
                program=program,
                advocate=advocate,
                email=f"friend{n}@example.com",
                click=clicks[n] if n < 2 else None,
                created_at=at(3, 13),
            )
            for n in range(5)
        ]
        orders = [
            _order(
                f"r{n}",
                at(4),
                friend.email,
                status="qualified",
                program=program,
                advocate=advocate,
                referral=friend,
            )
            for n, friend in enumerate(friends)
        ]
        for n in range(3):  # attributed by a code, no referral behind them in this data
            _order(
                f"code{n}",
                at(4),
                f"buyer{n}@example.com",
                status="qualified",
                program=program,
                advocate=advocate,
            )
        for order in orders[:1] + orders[2:]:
            for recipient in ("advocate", "friend"):
                Reward.objects.create(
                    recipient=recipient,
                    advocate=advocate,
                    conversion=order,
                    program=program,
                    kind="account_credit",
                    amount=1000,
                    currency="EUR",
                    cost=1000,
                    status="approved",
                    fulfilment_method="manual",
                    created_at=at(4),
                )
    return {"clicks": clicks, "friends": friends, "orders": orders}


def test_every_funnel_step_is_a_share_of_the_step_before(world: World, walk: Any) -> None:
    with tenancy.merchant_context(world.acme):
        overview = program_overview(period=PERIOD, program=None)
    steps = {step["label"]: step for step in funnel(overview)}
    # the old funnel: 2 clicks → 5 signups (250 %) → 8 orders (160 %) → 8 rewards
    assert [steps[name]["value"] for name in ("Click", "Signup", "Order", "Reward")] == [2, 2, 2, 1]
    assert [steps[name]["from_previous"] for name in ("Signup", "Order", "Reward")] == [
        "100.0%",
        "100.0%",
        "50.0%",
    ]
    # the plain counts stay what they are, beside the funnel
    figures = values(world)
    assert (figures["referrals"], figures["conversions"], figures["rewards"]) == (5, 8, 8)
    # the conversion rate is the click → order share, not 8 orders ÷ 2 clicks = 400 %
    assert figures["conversion_rate"] == Decimal(1)
    assert rolled_up_values(world)["conversion_rate"] == Decimal(1)


def test_a_rejected_order_or_reward_does_not_go_further_in_the_funnel(
    world: World, walk: Any
) -> None:
    with tenancy.merchant_context(world.acme):
        Reward.objects.filter(conversion=walk["orders"][0]).update(status="voided")
        Conversion.objects.filter(pk=walk["orders"][1].pk).update(status="rejected")
        overview = program_overview(period=PERIOD, program=None)
    steps = {step["label"]: step for step in funnel(overview)}
    assert [steps[name]["value"] for name in ("Click", "Signup", "Order", "Reward")] == [2, 2, 1, 0]


def test_clicks_outside_the_period_do_not_enter_its_funnel(
    world: World, program: Program, advocate: Advocate
) -> None:
    with tenancy.merchant_context(world.acme):
        before = Click.objects.create(program=program, advocate=advocate, created_at=at(1))
        Referral.objects.create(
            program=program,
            advocate=advocate,
            email="f@example.com",
            click=before,
            created_at=at(2),
        )
        overview = program_overview(period=PERIOD, program=None)
    steps = {step["label"]: step for step in funnel(overview)}
    assert (steps["Click"]["value"], steps["Signup"]["value"]) == (0, 0)


def test_the_page_defines_every_figure(client: Client, world: World, walk: Any) -> None:
    response = login(client, world.bob).get(
        reverse("merchant_overview", kwargs={"merchant_slug": world.acme.slug})
    )
    text = page_text(response)
    for kpi in response.context["kpis"]:
        assert str(kpi["sentence"]) in text
    assert "by visitor id where the visitor consented to it" in text
    assert "each rate is the share of the step before that made it" in text
    assert "Of those clicks, the ones after which the friend signed up" in text


# --- Finding 6: money in major units with its currency -----------------------------------------


def _program_with_rules(world: World, **rules: Any) -> Program:
    from programs.specs import parse_config

    parsed = parse_config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "fixed_discount", "amount": 1000},
            "rules": rules,
        },
        program_type="two_sided",
        currency="EUR",
        stripe_connected=True,
    )
    return make_program(world.acme, config=parsed.to_dict())


def _order_through_pipeline(advocate: Advocate, order_id: str, amount: int, email: str) -> Any:
    from tracking.services import conversion_record

    recorded = conversion_record(
        order_id=order_id,
        amount=amount,
        currency="EUR",
        customer={"email": email},
        code=advocate.code,
    ).conversion
    return Conversion.objects.get(pk=recorded.pk)


def _reason(conversion: Conversion, rule: str) -> dict[str, Any]:
    return next(reason for reason in conversion.reasons if reason["rule"] == rule)


@pytest.mark.django_db(transaction=True)  # the pipeline runs on commit (tasks eager)
def test_a_rejection_below_the_minimum_reads_as_money(world: World) -> None:
    from tracking.services import advocate_enroll

    program = _program_with_rules(world, min_order_amount=3000)
    with tenancy.merchant_context(world.acme):
        advocate = advocate_enroll(program=program, email="maria@example.com").advocate
        small = _order_through_pipeline(advocate, "o-small", 2500, "luca@example.com")
    reason = _reason(small, "min_order_amount")
    # the machine-readable fields are as before (DESIGN §3): rule, outcome, amounts in minor
    # units; the evidence gains the currency they are in
    assert (reason["rule"], reason["outcome"]) == ("min_order_amount", "reject")
    assert reason["evidence"]["amount"] == 2500
    assert reason["evidence"]["minimum"] == 3000
    assert reason["evidence"]["currency"] == "EUR"
    assert reason["detail"] == "The order (€25.00) is below the minimum of €30.00."
    assert "minor units" not in reason["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_budget_reason_reads_as_money(world: World) -> None:
    from tracking.services import advocate_enroll

    program = _program_with_rules(world, budget_amount=2500)
    with tenancy.merchant_context(world.acme):
        advocate = advocate_enroll(program=program, email="maria@example.com").advocate
        _order_through_pipeline(advocate, "b-1", 5000, "f1@example.com")
        second = _order_through_pipeline(advocate, "b-2", 5000, "f2@example.com")
    details = [r["detail"] for r in second.reasons if r["rule"] == "budget"]
    assert details[0] == "The program budget (€25.00) is spent (€20.00); no advocate reward."
    assert _reason(second, "budget")["evidence"]["budget"] == 2500


def test_the_review_pages_show_reasons_in_the_readers_locale(
    client: Client, world: World, advocate: Advocate
) -> None:
    from django.utils import translation

    from rewards.review_evidence import rule_hits

    # a reason stored before this fix (no currency in its evidence, the old sentence)
    old = {
        "rule": "min_order_amount",
        "outcome": "reject",
        "detail": "The order (2500 after refunds) is below the minimum of 3000 EUR minor units.",
        "evidence": {"amount": 2500, "minimum": 3000},
    }
    with translation.override("it"):
        (hit,) = rule_hits([old], currency="EUR")
    assert hit.detail == (
        "The order (25,00\xa0€ after refunds) is below the minimum of 30,00\xa0€."
    )
    assert hit.evidence == [("Amount", "25,00\xa0€"), ("Minimum", "30,00\xa0€")]
    with tenancy.merchant_context(world.acme):
        conversion = _order(
            "o-old",
            at(3),
            "luca@example.com",
            status="rejected",
            program=advocate.program,
            advocate=advocate,
            reasons=[old],
        )
    response = login(client, world.alice).get(
        reverse(
            "conversion_detail",
            kwargs={"merchant_slug": world.acme.slug, "conversion_id": conversion.public_id},
        )
    )
    text = page_text(response)
    assert "The order (€25.00 after refunds) is below the minimum of €30.00." in text
    assert "minor units" not in text
    assert "3000" not in text


def test_money_for_files_is_plain_major_units() -> None:
    from referral_saas.money import major_text

    assert major_text(3000, "EUR") == "30.00"
    assert major_text(5, "EUR") == "0.05"
    assert major_text(3000, "JPY") == "3000"
    assert major_text(1234567, "KWD") == "1234.567"


# --- Findings 6 and 12: the rewards page and its CSVs ------------------------------------------


@pytest.fixture
def friend_reward(world: World, program: Program, advocate: Advocate) -> Reward:
    with tenancy.merchant_context(world.acme):
        friend = Referral.objects.create(
            program=program, advocate=advocate, email="julia@example.com", name="Julia Berg"
        )
        conversion = _order(
            "o-julia",
            at(3),
            "julia.shop@example.com",
            amount=12345,
            status="qualified",
            program=program,
            advocate=advocate,
            referral=friend,
        )
        return Reward.objects.create(
            recipient="friend",
            advocate=advocate,
            conversion=conversion,
            program=program,
            kind="account_credit",
            amount=1050,
            currency="EUR",
            cost=1050,
            status="approved",
            fulfilment_method="manual",
        )


def _csv(response: Any) -> list[dict[str, str]]:
    import csv
    import io

    body = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(body)))


def test_the_rewards_page_names_the_friend_in_full_for_reviewers(
    client: Client, world: World, friend_reward: Reward
) -> None:
    login(client, world.alice)
    listing = page_text(client.get(reverse("rewards", kwargs={"merchant_slug": "acme"})))
    assert "julia@example.com</span> · Julia Berg" in listing
    detail = page_text(
        client.get(
            reverse(
                "reward_detail",
                kwargs={"merchant_slug": "acme", "reward_id": friend_reward.public_id},
            )
        )
    )
    assert "julia@example.com</span> · Julia Berg" in detail


def test_a_viewer_sees_the_friend_masked(
    client: Client, world: World, friend_reward: Reward
) -> None:
    login(client, world.bob)  # a viewer
    listing = page_text(client.get(reverse("rewards", kwargs={"merchant_slug": "acme"})))
    detail = page_text(
        client.get(
            reverse(
                "reward_detail",
                kwargs={"merchant_slug": "acme", "reward_id": friend_reward.public_id},
            )
        )
    )
    for text in (listing, detail):
        assert "j•••@example.com" in text
        assert "julia@example.com" not in text
        assert "Julia Berg" not in text


def test_the_csvs_name_the_friend_and_give_amounts_in_major_units(
    client: Client, world: World, friend_reward: Reward
) -> None:
    login(client, world.alice)
    (reward,) = _csv(client.get("/m/acme/exports/rewards.csv"))
    assert (reward["amount"], reward["currency"]) == ("10.50", "EUR")
    assert (reward["friend_email"], reward["friend_name"]) == ("julia@example.com", "Julia Berg")
    (payout,) = _csv(client.get("/m/acme/rewards/manual-payouts.csv"))
    assert (payout["amount"], payout["currency"], payout["recipient"]) == ("10.50", "EUR", "friend")
    assert payout["friend_email"] == "julia@example.com"
    (conversion,) = _csv(client.get("/m/acme/exports/conversions.csv"))
    assert (conversion["amount"], conversion["refunded_amount"], conversion["currency"]) == (
        "123.45",
        "0.00",
        "EUR",
    )


def test_an_order_without_a_referral_names_its_buyer_as_the_friend(
    client: Client, world: World, friend_reward: Reward
) -> None:
    with tenancy.merchant_context(world.acme):
        Conversion.objects.filter(pk=friend_reward.conversion_id).update(
            referral=None, customer_name="Julia B."
        )
    login(client, world.alice)
    (reward,) = _csv(client.get("/m/acme/exports/rewards.csv"))
    assert (reward["friend_email"], reward["friend_name"]) == (
        "julia.shop@example.com",
        "Julia B.",
    )
