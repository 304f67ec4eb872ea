"""A/B results: the Beta-Binomial probability against hand-computed and published values, the
plain-words verdict, the winner rule, and ending a test keeping the winner (service, roles)."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Role
from analytics import abtest, services
from analytics.abtest import ab_result, probability_b_beats_a, verdict
from programs.models import Program, ProgramCopy, ProgramVersion
from programs.services import program_config
from programs.specs import SpecError, parse_config
from referral_saas import tenancy
from tests import analytics_data as data
from tests.conftest import World, login
from tests.factories import UserFactory, add_member, make_program

# --- The probability -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # Beta(1,1) vs Beta(1,1): a coin toss
        ((0, 0), (0, 0), 1 / 2),
        # B ~ Beta(2,1) (density 2x) vs A uniform: ∫ 2x · x dx = 2/3
        ((0, 0), (1, 1), 2 / 3),
        # B ~ Beta(3,1) (density 3x²): ∫ 3x² · x dx = 3/4
        ((0, 0), (2, 2), 3 / 4),
        # B ~ Beta(1,2) (density 2(1-x)): ∫ 2(1-x) · x dx = 1/3
        ((0, 0), (0, 1), 1 / 3),
        # A ~ Beta(2,1), B ~ Beta(1,1): 1 - 2/3
        ((1, 1), (0, 0), 1 / 3),
    ],
)
def test_probability_matches_hand_integrals(
    a: tuple[int, int], b: tuple[int, int], expected: float
) -> None:
    value = probability_b_beats_a(
        a_conversions=a[0], a_trials=a[1], b_conversions=b[0], b_trials=b[1]
    )
    assert value == pytest.approx(expected, abs=1e-12)


def test_probability_of_a_published_example() -> None:
    # 100/1000 vs 120/1000: 92.3% (normal approximation of the two posteriors gives 92.29%)
    value = probability_b_beats_a(
        a_conversions=100, a_trials=1000, b_conversions=120, b_trials=1000
    )
    assert value == pytest.approx(0.9232, abs=5e-4)
    swapped = probability_b_beats_a(
        a_conversions=120, a_trials=1000, b_conversions=100, b_trials=1000
    )
    assert value + swapped == pytest.approx(1.0, abs=1e-9)


def test_large_counts_use_the_normal_approximation_close_to_the_exact_sum() -> None:
    exact = probability_b_beats_a(
        a_conversions=3000, a_trials=30000, b_conversions=3100, b_trials=30000
    )
    approximate = abtest._normal_approximation(3001, 27001, 3101, 26901)
    assert exact == pytest.approx(approximate, abs=1e-3)
    huge = probability_b_beats_a(
        a_conversions=25000, a_trials=250000, b_conversions=25500, b_trials=250000
    )
    assert 0.99 < huge < 1.0


# --- Results and verdicts --------------------------------------------------------------------


def test_verdict_in_plain_words() -> None:
    result = ab_result([("a", "A", 1000, 100, 40), ("b", "B", 1000, 120, 41)])
    control, challenger = result.variants
    assert challenger.lift == Decimal("0.2")
    assert verdict(challenger, control) == (
        "B converts 20% better than A; 92% probability it is truly better."
    )
    assert verdict(control, control) == "A is the control: the others are compared with it."
    assert result.winner is None  # 92% is not decisive


def test_a_decisive_challenger_wins_and_a_worse_one_is_said_so() -> None:
    result = ab_result([("a", "A", 2000, 100, 10), ("b", "B", 2000, 160, 10)])
    assert result.winner is not None
    assert result.winner.key == "b"
    assert (result.variants[1].probability_better or 0) > 0.99
    worse = ab_result([("a", "A", 2000, 160, 10), ("b", "B", 2000, 100, 10)])
    assert worse.winner is not None
    assert worse.winner.key == "a"
    assert verdict(worse.variants[1], worse.variants[0]).startswith(
        "B converts 38% worse than A; 0% probability"
    )


def test_too_little_data_is_never_called() -> None:
    result = ab_result([("a", "A", 50, 0, 3), ("b", "B", 50, 9, 3)])
    assert result.winner is None
    line = verdict(result.variants[1], result.variants[0])
    assert line == "No conversions for A yet: nothing to compare with."
    small = ab_result([("a", "A", 60, 3, 3), ("b", "B", 60, 9, 3)])
    assert small.winner is None
    assert "Too early to call" in verdict(small.variants[1], small.variants[0])


def test_conversions_above_clicks_are_capped() -> None:
    result = ab_result([("a", "A", 5, 9, 1), ("b", "B", 5, 1, 1)])
    assert result.variants[0].conversions == 5


# --- Ending a test ---------------------------------------------------------------------------

VARIANTS = [
    {"key": "a", "name": "Ten off", "weight": 50},
    {
        "key": "b",
        "name": "Fifteen off",
        "weight": 50,
        "friend_reward": {"kind": "fixed_discount", "amount": 1500},
        "copy": {"en": {"headline": "Give €15, get €10"}},
    },
]


def program_with_variants(world: World) -> Program:
    config = parse_config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "fixed_discount", "amount": 1000},
            "variants": VARIANTS,
        },
        program_type="two_sided",
        currency="EUR",
        stripe_connected=False,
    )
    return make_program(world.acme, slug="ab", config=config.to_dict())


def test_end_test_keeps_the_winners_offer_and_copy(world: World) -> None:
    program = program_with_variants(world)
    with tenancy.merchant_context(world.acme):
        services.abtest_end(actor=world.alice, program=program, keep="b")
        program.refresh_from_db()
        config = program_config(program)
        assert program.version == 2  # live program: a new version, old ones untouched
        assert config.variants == ()
        assert config.friend_reward is not None
        assert config.friend_reward.amount == 1500
        assert config.advocate_reward is not None
        assert config.advocate_reward.amount == 1000
        assert ProgramCopy.objects.get(program=program, locale="en").headline == (
            "Give €15, get €10"
        )
        first = ProgramVersion.objects.get(program=program, number=1)
        assert len(first.config["variants"]) == 2
        event = AuditEvent.objects.get(action="abtest.ended")
    assert event.data["kept"] == "b"
    assert [row["key"] for row in event.data["results"]] == ["a", "b"]


def test_end_test_keeping_the_control_only_removes_the_variants(world: World) -> None:
    program = program_with_variants(world)
    with tenancy.merchant_context(world.acme):
        services.abtest_end(actor=world.alice, program=program, keep="a")
        config = program_config(Program.objects.get(pk=program.pk))
    assert config.variants == ()
    assert config.friend_reward is not None
    assert config.friend_reward.amount == 1000


def test_end_test_refuses_an_unknown_variant_or_no_test(world: World) -> None:
    program = program_with_variants(world)
    plain = make_program(world.acme, slug="plain")
    with tenancy.merchant_context(world.acme):
        with pytest.raises(SpecError) as unknown:
            services.abtest_end(actor=world.alice, program=program, keep="zz")
        assert unknown.value.errors == {"keep": "No such variant in this program's test."}
        with pytest.raises(SpecError):
            services.abtest_end(actor=world.alice, program=plain, keep="a")
        assert Program.objects.get(pk=program.pk).version == 1
        assert not AuditEvent.objects.filter(action="abtest.ended").exists()


def test_results_count_each_variants_clicks_and_conversions(world: World) -> None:
    dataset = data.build(world.acme, world.globex, variants=True)
    program = dataset.program
    config = parse_config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "fixed_discount", "amount": 1000},
            "variants": VARIANTS,
        },
        program_type="two_sided",
        currency="EUR",
        stripe_connected=False,
    )
    with tenancy.merchant_context(world.acme):
        ProgramVersion.objects.filter(program=program).update(config=config.to_dict())
        Program.objects.filter(pk=program.pk).update(created_at=data.at(1, 0))
        program.refresh_from_db()
        results = services.abtest_results(program=program, today=data.END)
    assert results is not None
    a, b = results.variants
    # a1 is in a: 3 clicks, conversions c1, c2, c6 (c7 is after 6 Mar); a2 and a3 are in b
    assert (a.key, a.clicks, a.conversions, a.advocates) == ("a", 3, 3, 1)
    assert (b.key, b.clicks, b.conversions, b.advocates) == ("b", 4, 0, 2)


# --- Roles -------------------------------------------------------------------------------------


def end_url(world: World, program: Program) -> str:
    return reverse(
        "program_abtest_end",
        kwargs={"merchant_slug": world.acme.slug, "program_id": program.public_id},
    )


def page_url(world: World, program: Program) -> str:
    return reverse(
        "program_analytics",
        kwargs={"merchant_slug": world.acme.slug, "program_id": program.public_id},
    )


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER])
def test_viewers_and_reviewers_read_results_but_cannot_end_a_test(
    client: Client, world: World, role: str
) -> None:
    program = program_with_variants(world)
    user = UserFactory()
    add_member(world.acme, user, role)
    login(client, user)
    page = client.get(page_url(world, program))
    assert page.status_code == 200
    assert b"data-ab" in page.content
    assert b"End test" not in page.content
    response = client.post(end_url(world, program), {"keep": "b"})
    assert response.status_code == 403
    with tenancy.merchant_context(world.acme):
        assert len(program_config(Program.objects.get(pk=program.pk)).variants) == 2
        assert not AuditEvent.objects.filter(action="abtest.ended").exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admins_and_owners_end_a_test(client: Client, world: World, role: str) -> None:
    program = program_with_variants(world)
    user = UserFactory()
    add_member(world.acme, user, role)
    login(client, user)
    assert b"End test" in client.get(page_url(world, program)).content
    response = client.post(end_url(world, program), {"keep": "b"})
    assert response.status_code == 302
    assert response["Location"] == page_url(world, program)
    with tenancy.merchant_context(world.acme):
        assert program_config(Program.objects.get(pk=program.pk)).variants == ()
    follow: Any = client.get(page_url(world, program))
    assert "No A/B test is running on this program." in follow.content.decode()


def test_an_outsider_gets_404_and_changes_nothing(client: Client, world: World) -> None:
    program = program_with_variants(world)
    login(client, world.charlie)
    assert client.get(page_url(world, program)).status_code == 404
    assert client.post(end_url(world, program), {"keep": "b"}).status_code == 404
    with tenancy.merchant_context(world.acme):
        assert len(program_config(Program.objects.get(pk=program.pk)).variants) == 2


def test_ending_with_a_bad_variant_reports_it(client: Client, world: World) -> None:
    program = program_with_variants(world)
    login(client, world.alice)
    response = client.post(end_url(world, program), {"keep": "nope"}, follow=True)
    assert "No such variant in this program's test." in html.unescape(response.content.decode())
