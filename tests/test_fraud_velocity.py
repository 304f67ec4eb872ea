"""Velocity limits at their exact boundaries (advocate per day, IP per day, program per hour),
and the office: many different people behind one IP address are never rejected for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import World
from tests.fraud_helpers import Scene, at, fraud, judge, only, rules_hit, scene_for


@pytest.fixture
def scene(world: World) -> Iterator[Scene]:
    with scene_for(world.acme) as built:
        yield built


# --- per advocate, 24 hours ----------------------------------------------------------------


@pytest.mark.parametrize(("earlier", "flagged"), [(0, False), (3, False), (4, True), (9, True)])
def test_advocate_limit_boundary(scene: Scene, earlier: int, flagged: bool) -> None:
    # limit 4 a day: the 4th order passes, the 5th is one over
    advocate = scene.advocate()
    for index in range(earlier):
        scene.conversion(advocate, at(minutes=-(index + 1) * 60))
    conversion = scene.conversion(advocate, at())

    result = judge(conversion, only("velocity", "review", velocity_per_advocate_per_day=4))

    assert rules_hit(result) == ({"velocity": "review"} if flagged else {})
    if flagged:
        assert result.signals[0].evidence == {
            "exceeded": [{"limit": "advocate_per_day", "count": earlier + 1, "threshold": 4}]
        }
        assert result.signals[0].detail == (
            f"{earlier + 1} orders referred by this advocate in 24 hours (limit 4)."
        )


@pytest.mark.parametrize(("seconds_before", "counted"), [(86_400, False), (86_399, True)])
def test_the_day_is_the_24_hours_before_the_order(
    scene: Scene, seconds_before: int, counted: bool
) -> None:
    advocate = scene.advocate()
    scene.conversion(advocate, at(-seconds_before))
    conversion = scene.conversion(advocate, at())

    result = judge(conversion, only("velocity", velocity_per_advocate_per_day=1))

    assert bool(result.signals) is counted


def test_other_advocates_and_later_orders_do_not_count(scene: Scene) -> None:
    advocate, other = scene.advocate(), scene.advocate()
    for minute in range(5):
        scene.conversion(other, at(minutes=-minute - 1))
        scene.conversion(advocate, at(minutes=minute + 1))  # after this one
    conversion = scene.conversion(advocate, at())

    assert judge(conversion, only("velocity", velocity_per_advocate_per_day=1)).signals == ()


# --- per IP address, 24 hours --------------------------------------------------------------


@pytest.mark.parametrize(("earlier", "flagged"), [(2, False), (3, True)])
def test_ip_limit_boundary(scene: Scene, earlier: int, flagged: bool) -> None:
    # limit 3 referred orders a day from one address, by different advocates and friends
    for index in range(earlier):
        scene.conversion(scene.advocate(), at(minutes=-(index + 1)), ip_hash="net-1")
    conversion = scene.conversion(scene.advocate(), at(), ip_hash="net-1")

    result = judge(conversion, only("velocity", "review", velocity_per_ip_per_day=3))

    assert rules_hit(result) == ({"velocity": "review"} if flagged else {})
    if flagged:
        assert result.signals[0].evidence == {
            "exceeded": [{"limit": "ip_per_day", "count": 4, "threshold": 3}]
        }


def test_unreferred_orders_from_the_address_do_not_count(scene: Scene) -> None:
    for index in range(10):
        scene.conversion(None, at(minutes=-(index + 1)), ip_hash="net-1")
    conversion = scene.conversion(scene.advocate(), at(), ip_hash="net-1")

    assert judge(conversion, only("velocity", velocity_per_ip_per_day=1)).signals == ()


def test_an_address_alone_is_at_most_a_review_even_if_configured_to_reject(scene: Scene) -> None:
    for index in range(3):
        scene.conversion(scene.advocate(), at(minutes=-(index + 1)), ip_hash="net-1")
    conversion = scene.conversion(scene.advocate(), at(), ip_hash="net-1")

    result = judge(conversion, only("velocity", "reject", velocity_per_ip_per_day=1))

    assert rules_hit(result) == {"velocity": "review"}
    assert result.outcome == "review"


def test_advocate_velocity_still_rejects_when_configured(scene: Scene) -> None:
    advocate = scene.advocate()
    scene.conversion(advocate, at(-60), ip_hash="net-1")
    conversion = scene.conversion(advocate, at(), ip_hash="net-1")
    settings = only(
        "velocity", "reject", velocity_per_advocate_per_day=1, velocity_per_ip_per_day=1
    )

    result = judge(conversion, settings)

    assert rules_hit(result) == {"velocity": "reject"}
    assert [item["limit"] for item in result.signals[0].evidence["exceeded"]] == [
        "advocate_per_day",
        "ip_per_day",
    ]


# --- per program, 1 hour -------------------------------------------------------------------


@pytest.mark.parametrize(("earlier", "flagged"), [(4, False), (5, True)])
def test_program_limit_boundary(scene: Scene, earlier: int, flagged: bool) -> None:
    for index in range(earlier):
        scene.conversion(scene.advocate(), at(minutes=-(index + 1) * 10))
    scene.conversion(scene.advocate(), at(-3600))  # exactly an hour before: outside
    conversion = scene.conversion(scene.advocate(), at())

    result = judge(conversion, only("velocity", "review", velocity_per_program_per_hour=5))

    assert rules_hit(result) == ({"velocity": "review"} if flagged else {})


def test_no_program_limit_by_default(scene: Scene) -> None:
    for index in range(50):
        scene.conversion(scene.advocate(), at(-(index + 1)))
    conversion = scene.conversion(scene.advocate(), at())

    assert judge(conversion, only("velocity")).signals == ()


def test_other_programs_do_not_count(scene: Scene, world: World) -> None:
    from tests.factories import make_program

    other = make_program(world.acme, slug="other", name="Other")
    for index in range(5):
        scene.conversion(scene.advocate(), at(-(index + 1)), program=other)
    conversion = scene.conversion(scene.advocate(), at())

    assert judge(conversion, only("velocity", velocity_per_program_per_hour=1)).signals == ()


# --- the office ----------------------------------------------------------------------------


@pytest.mark.parametrize("velocity", ["review", "reject"])
def test_twenty_people_behind_one_office_ip_are_not_rejected(scene: Scene, velocity: str) -> None:
    # given 20 colleagues: each referred by a different colleague, all on one address, all with
    # the company's standard browser, every other rule at its default setting
    outcomes = []
    for person in range(20):
        advocate = scene.advocate(
            f"colleague{person}@acme-office.it", name=f"Person {person}", ip_hash="office"
        )
        click = scene.click(
            advocate, at(minutes=person * 10 - 5), ip_hash="office", user_agent="Edge/130"
        )
        conversion = scene.conversion(
            advocate,
            at(minutes=person * 10),
            email=f"friend{person}@acme-office.it",
            ip_hash="office",
            user_agent="Edge/130",
            country="IT",
            new_customer=True,
        )
        outcomes.append(judge(conversion, fraud({"velocity": velocity}), click=click))

    # then nobody is rejected: the address shows as a score, and past the per-IP limit
    # (5 a day by default) the orders wait for a human
    assert [result.outcome for result in outcomes] == ["pass"] * 5 + ["review"] * 15
    assert all(set(rules_hit(result)) <= {"same_ip_user_agent", "velocity"} for result in outcomes)
    assert rules_hit(outcomes[0]) == {"same_ip_user_agent": "score_only"}
    assert rules_hit(outcomes[19]) == {"same_ip_user_agent": "score_only", "velocity": "review"}
