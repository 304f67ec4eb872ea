"""Advocates: search, profile timeline, leaderboard, block/unblock (audited, admin+, and the
pipeline then rejects the blocked advocate's orders), pinned query counts, outsiders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, Role
from programs.specs import SpecError
from referral_saas import tenancy
from tests.conftest import World, login
from tests.factories import UserFactory, add_member, make_program
from tests.test_pipeline import enrol, order, program_with
from tracking.advocate_admin import advocate_block, advocate_unblock
from tracking.models import Advocate, Click, Conversion, Referral

pytestmark = pytest.mark.django_db

LIST = "/m/acme/advocates/"


@pytest.fixture
def people(world: World) -> dict[str, Advocate]:
    with tenancy.merchant_context(world.acme):
        program = make_program(world.acme)
        made = {
            name: Advocate.objects.create(
                program=program, email=email, name=full, code=code, created_at=timezone.now()
            )
            for name, email, full, code in (
                ("maria", "maria@example.com", "Maria Rossi", "MARIA10"),
                ("luca", "luca.bianchi@example.com", "Luca Bianchi", "LUCA22"),
                ("anna", "anna@shop.example", "Anna Verdi", "ANNA33"),
            )
        }
    return made


def shown(response: Any) -> list[str]:
    return [advocate.email for advocate in response.context["page"].rows]


def test_search_by_email_prefix_name_or_exact_code(
    client: Client, world: World, people: dict[str, Advocate]
) -> None:
    login(client, world.bob)
    assert sorted(shown(client.get(LIST))) == [
        "anna@shop.example",
        "luca.bianchi@example.com",
        "maria@example.com",
    ]
    assert shown(client.get(f"{LIST}?q=luca.b")) == ["luca.bianchi@example.com"]
    assert shown(client.get(f"{LIST}?q=verdi")) == ["anna@shop.example"]
    assert shown(client.get(f"{LIST}?q=maria10")) == ["maria@example.com"]
    assert shown(client.get(f"{LIST}?q=nobody")) == []
    assert "No advocate matches “nobody”." in client.get(f"{LIST}?q=nobody").content.decode()


def test_list_pages_without_counting_and_pins_queries(
    client: Client, world: World, people: dict[str, Advocate], django_assert_max_num_queries: Any
) -> None:
    with tenancy.merchant_context(world.acme):
        program = people["maria"].program
        Advocate.objects.bulk_create(
            Advocate(program=program, email=f"a{n}@example.com", code=f"CODE{n:03}")
            for n in range(60)
        )
    login(client, world.alice)
    client.get(LIST)
    with django_assert_max_num_queries(7):
        first = client.get(LIST)
    assert (len(first.context["page"].rows), first.context["page"].has_next) == (50, True)
    with django_assert_max_num_queries(7):
        second = client.get(f"{LIST}?page=2")
    assert (len(second.context["page"].rows), second.context["page"].has_next) == (13, False)
    assert not set(shown(first)) & set(shown(second))


def test_profile_timeline_has_joined_clicks_friends_orders_and_rewards(
    client: Client,
    world: World,
    django_capture_on_commit_callbacks: Any,
    django_assert_max_num_queries: Any,
) -> None:
    with tenancy.merchant_context(world.acme):
        program = program_with(world.acme)
        advocate = enrol(program)
        Click.objects.create(program=program, advocate=advocate, referer="https://blog.example/")
        with django_capture_on_commit_callbacks(execute=True):
            order(advocate, "o-1", email="luca@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            order(advocate, "o-2", email="temp@mailinator.com")
    login(client, world.bob)
    path = f"/m/acme/advocates/{advocate.public_id}/"
    client.get(path)
    with django_assert_max_num_queries(11):
        response = client.get(path)
    kinds = [event.kind for event in response.context["events"]]
    assert kinds.count("joined") == kinds.count("click") == 1
    assert kinds.count("referral") == kinds.count("conversion") == 2
    assert kinds.count("reward") == 4  # advocate and friend, for each order
    assert kinds[-1] == "joined"  # newest first, joining is the oldest
    body = response.content.decode()
    assert "https://blog.example/" in body
    assert "Order o-2" in body
    assert "throwaway mail service" in body
    assert response.context["stats"]["clicks"] == 1
    assert "Block this advocate" not in body  # viewers cannot block


def test_admin_blocks_with_reason_and_the_next_order_is_rejected(
    client: Client, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with tenancy.merchant_context(world.acme):
        advocate = enrol(program_with(world.acme))
    login(client, world.alice)
    path = f"/m/acme/advocates/{advocate.public_id}/"
    response = client.post(f"{path}block/", {"reason": "Coupon site spam"}, follow=True)
    assert "is blocked" in response.content.decode()
    with tenancy.merchant_context(world.acme):
        fresh = Advocate.objects.get(pk=advocate.pk)
        assert fresh.blocked_reason == "Coupon site spam"
        event = AuditEvent.objects.get(action="advocate.blocked")
        assert (event.actor_user_id, event.data) == (world.alice.pk, {"reason": "Coupon site spam"})
        with django_capture_on_commit_callbacks(execute=True):
            blocked_order = order(fresh, "o-after-block")
        decided = Conversion.objects.get(pk=blocked_order.pk)
    assert decided.status == "rejected"
    assert "advocate_blocked" in [reason["rule"] for reason in decided.reasons]
    client.post(f"{path}unblock/")
    with tenancy.merchant_context(world.acme):
        assert Advocate.objects.get(pk=advocate.pk).blocked_at is None
        assert AuditEvent.objects.get(action="advocate.unblocked").data == {
            "previous_reason": "Coupon site spam"
        }


def test_block_needs_a_reason_and_an_admin(
    client: Client, world: World, people: dict[str, Advocate]
) -> None:
    maria = people["maria"]
    path = f"/m/acme/advocates/{maria.public_id}/block/"
    reviewer = UserFactory(email="rita@example.com")
    add_member(world.acme, reviewer, Role.REVIEWER)
    login(client, reviewer)
    assert client.post(path, {"reason": "x"}).status_code == 403
    login(client, world.alice)
    response = client.post(path, {"reason": "   "}, follow=True)
    assert "Say why the advocate is blocked" in response.content.decode()
    with tenancy.merchant_context(world.acme):
        assert Advocate.objects.get(pk=maria.pk).blocked_at is None
        assert not AuditEvent.objects.filter(action__startswith="advocate.").exists()


def test_block_twice_and_unblock_unblocked_are_refused(
    world: World, people: dict[str, Advocate]
) -> None:
    with tenancy.merchant_context(world.acme):
        maria = people["maria"]
        with pytest.raises(SpecError, match="not blocked"):
            advocate_unblock(advocate=maria)
        advocate_block(advocate=maria, reason="first")
        with pytest.raises(SpecError, match="already blocked"):
            advocate_block(advocate=maria, reason="second")
        assert Advocate.objects.get(pk=maria.pk).blocked_reason == "first"
        assert AuditEvent.objects.filter(action="advocate.blocked").count() == 1


def test_leaderboard_ranks_by_qualified_conversions_in_the_period(
    client: Client,
    world: World,
    django_capture_on_commit_callbacks: Any,
    django_assert_max_num_queries: Any,
) -> None:
    with tenancy.merchant_context(world.acme):
        program = program_with(world.acme)
        top, second = enrol(program, "top@example.com"), enrol(program, "second@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            for n in range(3):
                order(top, f"top-{n}", email=f"friend{n}@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            order(second, "second-0", email="friend9@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            order(second, "second-old", email="friend8@example.com")
        # an old order falls outside the last 7 days
        Conversion.objects.filter(order_id="second-old").update(
            occurred_at=timezone.now() - timedelta(days=20)
        )
    login(client, world.bob)
    client.get("/m/acme/advocates/leaderboard/")
    with django_assert_max_num_queries(7):  # one grouped query for the ranking
        leaders = client.get("/m/acme/advocates/leaderboard/?period=7").context["leaders"]
    assert [(row["advocate__email"], row["qualified"]) for row in leaders] == [
        ("top@example.com", 3),
        ("second@example.com", 1),
    ]
    month = client.get(
        f"/m/acme/advocates/leaderboard/?period=30&program={program.public_id}"
    ).context["leaders"]
    assert [(row["advocate__email"], row["qualified"]) for row in month] == [
        ("top@example.com", 3),
        ("second@example.com", 2),
    ]
    assert month[0]["revenue"] == 15000


def test_outsider_gets_404_on_profile_and_block(
    client: Client, world: World, people: dict[str, Advocate]
) -> None:
    maria = people["maria"]
    login(client, world.charlie)
    for path in (
        f"/m/acme/advocates/{maria.public_id}/",
        f"/m/globex/advocates/{maria.public_id}/",
    ):
        assert client.get(path).status_code == 404
    assert (
        client.post(f"/m/globex/advocates/{maria.public_id}/block/", {"reason": "x"}).status_code
        == 404
    )
    with tenancy.merchant_context(world.acme):
        assert Advocate.objects.get(pk=maria.pk).blocked_at is None
    # Globex's own list and search never show Acme's advocates
    assert shown(client.get("/m/globex/advocates/?q=maria")) == []
    with tenancy.merchant_context(world.acme):
        assert Referral.objects.count() == 0
