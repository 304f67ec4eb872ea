"""The review queue: flagged conversions with their evidence, single and bulk decisions,
roles, tenancy, pinned query counts, the decided-conversions list and the what-if page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent, Role
from referral_saas import tenancy
from rewards.models import Reward, RewardStatus
from rewards.review_evidence import evidence_rows
from tests.conftest import World, login
from tests.factories import UserFactory, add_member
from tests.test_pipeline import enrol, order, program_with
from tracking.models import Conversion, ConversionStatus

pytestmark = pytest.mark.django_db

QUEUE = "/m/acme/review/"
DECIDE = "/m/acme/review/decide/"


@pytest.fixture
def evaluate_now(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Tasks run eagerly after commit; inside a test transaction, run them on the spot."""

    def run(make: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return make()

    return run


@pytest.fixture
def flagged(world: World, evaluate_now: Callable[..., Any]) -> list[Conversion]:
    """Two orders held for review (friends on a throwaway mail domain) and one that qualified."""
    with tenancy.merchant_context(world.acme):
        program = program_with(world.acme)
        advocate = enrol(program)
        made = [
            evaluate_now(lambda: order(advocate, "o-first", email="luca@mailinator.com")),
            evaluate_now(lambda: order(advocate, "o-second", email="Gio+x@mailinator.com")),
            evaluate_now(lambda: order(advocate, "o-clean", email="anna@example.com")),
        ]
        conversions = [Conversion.objects.get(pk=c.pk) for c in made]
    assert [c.status for c in conversions] == ["review", "review", "qualified"]
    return conversions


def member(world: World, role: str, email: str) -> Any:
    user = UserFactory(email=email)
    add_member(world.acme, user, role)
    return user


def state(world: World, conversion: Conversion) -> tuple[str, str, list[str]]:
    with tenancy.merchant_context(world.acme):
        fresh = Conversion.objects.get(pk=conversion.pk)
        rewards = list(
            Reward.objects.filter(conversion=fresh)
            .order_by("recipient")
            .values_list("status", flat=True)
        )
    return fresh.status, fresh.review_note, rewards


def audits(world: World, action: str) -> list[AuditEvent]:
    with tenancy.merchant_context(world.acme):
        return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def test_queue_shows_flagged_oldest_first_with_evidence_side_by_side(
    client: Client, world: World, flagged: list[Conversion]
) -> None:
    login(client, world.alice)
    response = client.get(QUEUE)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index("o-first") < body.index("o-second")
    assert "o-clean" not in body
    # the rule hit with its evidence
    assert 'data-rule="disposable_email"' in body
    assert "uses a throwaway mail service (mailinator.com)" in body
    assert "Listed domain" in body
    # advocate vs friend: raw emails and their normalised forms, the plus-tag dropped
    assert "maria@example.com" in body
    assert "gio@mailinator.com" in body
    assert "disposable domain" in body
    assert response.context["waiting"] == 2
    assert response.context["may_review"] is True


def test_viewer_reads_the_queue_but_cannot_decide(
    client: Client, world: World, flagged: list[Conversion]
) -> None:
    login(client, world.bob)  # viewer
    page = client.get(QUEUE)
    assert page.status_code == 200
    assert "o-first" in page.content.decode()
    assert 'value="approve"' not in page.content.decode()
    before = state(world, flagged[0])
    response = client.post(DECIDE, {"conversion": flagged[0].public_id, "decision": "approve"})
    assert response.status_code == 403
    assert state(world, flagged[0]) == before == ("review", "", ["held", "held"])
    assert audits(world, "conversion.review_approved") == []


def test_reviewer_approves_one_with_a_note_and_it_is_audited(
    client: Client, world: World, flagged: list[Conversion]
) -> None:
    reviewer = member(world, Role.REVIEWER, "rita@example.com")
    login(client, reviewer)
    response = client.post(
        DECIDE,
        {"conversion": flagged[0].public_id, "decision": "approve", "note": "Known customer"},
    )
    assert response.status_code == 302
    assert response["Location"] == QUEUE
    assert state(world, flagged[0]) == ("qualified", "Known customer", ["pending", "pending"])
    assert state(world, flagged[1])[0] == "review"  # the other one is untouched
    (event,) = audits(world, "conversion.review_approved")
    assert (event.actor_user_id, event.target_id) == (reviewer.pk, flagged[0].public_id)
    assert event.data == {"note": "Known customer"}
    followed = client.get(QUEUE)
    assert "1 conversion approved." in [str(m) for m in followed.context["messages"]]


def test_bulk_reject_decides_every_ticked_conversion(
    client: Client, world: World, flagged: list[Conversion]
) -> None:
    login(client, world.alice)
    response = client.post(
        DECIDE,
        {
            "conversion": [flagged[0].public_id, flagged[1].public_id],
            "decision": "reject",
            "note": "Throwaway addresses",
        },
        follow=True,
    )
    assert state(world, flagged[0]) == ("rejected", "Throwaway addresses", ["rejected"] * 2)
    assert state(world, flagged[1]) == ("rejected", "Throwaway addresses", ["rejected"] * 2)
    assert len(audits(world, "conversion.review_rejected")) == 2
    assert "2 conversions rejected." in response.content.decode()
    assert response.context["items"] == []


def test_bulk_reports_one_decided_meanwhile_and_decides_the_rest(
    client: Client, world: World, flagged: list[Conversion]
) -> None:
    login(client, world.alice)
    ids = [flagged[0].public_id, flagged[2].public_id]  # the second is qualified, not in review
    response = client.post(DECIDE, {"conversion": ids, "decision": "approve"}, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert "1 conversion approved." in texts
    assert (
        f"Not approved: {flagged[2].public_id}: A qualified conversion is not in review." in texts
    )
    assert state(world, flagged[0])[0] == "qualified"
    assert state(world, flagged[2])[0] == "qualified"
    assert len(audits(world, "conversion.review_approved")) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"decision": "approve"}, "Tick at least one conversion."),
        ({"decision": "maybe", "conversion": "x"}, "Choose approve or reject."),
        (
            {"decision": "approve", "conversion": [f"conv_{n}" for n in range(101)]},
            "At most 100 conversions at a time.",
        ),
    ],
)
def test_bad_decisions_change_nothing(
    client: Client, world: World, flagged: list[Conversion], data: dict[str, Any], message: str
) -> None:
    login(client, world.alice)
    response = client.post(DECIDE, data, follow=True)
    assert message in [str(m) for m in response.context["messages"]]
    assert [state(world, c)[0] for c in flagged] == ["review", "review", "qualified"]


def test_outsider_cannot_decide_acme_conversions(
    client: Client, world: World, flagged: list[Conversion]
) -> None:
    login(client, world.charlie)
    data = {"conversion": flagged[0].public_id, "decision": "approve"}
    assert client.post(DECIDE, data).status_code == 404
    assert client.post("/m/globex/review/decide/", data).status_code == 404
    assert client.get(f"/m/globex/conversions/{flagged[0].public_id}/").status_code == 404
    assert state(world, flagged[0])[0] == "review"


def test_redirect_target_stays_inside_the_merchant(
    client: Client, world: World, flagged: list[Conversion]
) -> None:
    login(client, world.alice)
    data = {"conversion": flagged[0].public_id, "decision": "reject"}
    away = client.post(DECIDE, {**data, "next": "https://evil.example/"})
    assert away["Location"] == QUEUE
    detail = f"/m/acme/conversions/{flagged[1].public_id}/"
    data["conversion"] = flagged[1].public_id
    assert client.post(DECIDE, {**data, "next": detail})["Location"] == detail


def test_queue_query_count_is_pinned_whatever_the_number_of_items(
    client: Client,
    world: World,
    flagged: list[Conversion],
    evaluate_now: Callable[..., Any],
    django_assert_max_num_queries: Any,
) -> None:
    login(client, world.alice)
    client.get(QUEUE)  # warm the session
    # session, user, merchant, membership, programs, the page, the waiting count, switcher
    with django_assert_max_num_queries(8):
        assert len(client.get(QUEUE).context["items"]) == 2
    with tenancy.merchant_context(world.acme):
        advocate = enrol(program_with(world.acme, slug="more"), "second@example.com")
        for number in range(6):
            evaluate_now(
                lambda n=number: order(advocate, f"more-{n}", email=f"f{n}@mailinator.com")
            )
    with django_assert_max_num_queries(8):
        assert len(client.get(QUEUE).context["items"]) == 8


def test_conversions_list_filters_by_status_with_reasons(
    client: Client, world: World, flagged: list[Conversion], django_assert_max_num_queries: Any
) -> None:
    login(client, world.alice)
    client.post(DECIDE, {"conversion": flagged[0].public_id, "decision": "reject", "note": "no"})
    with django_assert_max_num_queries(7):
        response = client.get("/m/acme/conversions/?status=rejected")
    rows = response.context["rows"]
    assert [row["conversion"].order_id for row in rows] == ["o-first"]
    assert [hit.rule for hit in rows[0]["hits"]] == ["disposable_email", "review"]
    decided = client.get("/m/acme/conversions/").context["rows"]
    assert [row["conversion"].order_id for row in decided] == ["o-clean", "o-first"]
    review = client.get("/m/acme/conversions/?status=review").context["rows"]
    assert [row["conversion"].order_id for row in review] == ["o-second"]
    # an unknown status falls back to the decided list rather than failing
    assert client.get("/m/acme/conversions/?status=bogus").context["status"] == "decided"


def test_conversion_detail_shows_evidence_and_rewards(
    client: Client, world: World, flagged: list[Conversion]
) -> None:
    login(client, world.bob)
    response = client.get(f"/m/acme/conversions/{flagged[0].public_id}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Deciding needs the reviewer role." in body
    assert body.count("data-reward-status") == 2
    assert client.get("/m/acme/conversions/conv_00000000000000000000/").status_code == 404


def test_what_if_runs_for_reviewers_only(
    client: Client, world: World, flagged: list[Conversion]
) -> None:
    login(client, world.bob)
    assert client.get("/m/acme/review/what-if/").status_code == 403
    login(client, world.alice)
    with tenancy.merchant_context(world.acme):
        program = flagged[0].program
    assert program is not None
    response = client.get(f"/m/acme/review/what-if/?program={program.public_id}")
    report = response.context["report"]
    assert (report.examined, report.changes) == (3, [])
    assert "0 of 3 decisions would change" in response.content.decode()


def test_velocity_evidence_is_laid_out_one_limit_per_row() -> None:
    rows = evidence_rows(
        {
            "exceeded": [
                {"limit": "advocate_per_day", "count": 12, "threshold": 10},
                {"limit": "ip_per_day", "count": 6, "threshold": 5},
            ]
        }
    )
    assert rows == [
        ("Exceeded", "advocate per day: 12 (limit 10)"),
        ("Exceeded", "ip per day: 6 (limit 5)"),
    ]
    assert evidence_rows({"same_ip_on": ["order", "click"], "same_user_agent": True}) == [
        ("Same ip on", "order; click"),
        ("Same user agent", "yes"),
    ]


def test_held_rewards_stay_held_when_nothing_is_decided(flagged: list[Conversion]) -> None:
    # guard for the fixtures above: a review conversion's rewards wait, they are not pending
    with tenancy.merchant_context(flagged[0].merchant):
        statuses = set(
            Reward.objects.filter(conversion__status=ConversionStatus.REVIEW).values_list(
                "status", flat=True
            )
        )
    assert statuses == {RewardStatus.HELD}


def test_side_by_side_shows_normalised_email_name_network_and_timing() -> None:
    from datetime import UTC, datetime, timedelta

    from rewards.review_evidence import comparisons, timing
    from tracking.models import Advocate, Click, Referral

    clicked = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    advocate = Advocate(email="mariarossi@gmail.com", name="Maria Rossi", ip_hash="net-1")
    click = Click(ip_hash="net-1", user_agent="Firefox/140", created_at=clicked)
    referral = Referral(click=click, email="Maria.Rossi+promo@googlemail.com")
    conversion = Conversion(
        advocate=advocate,
        referral=referral,
        customer_email="Maria.Rossi+promo@googlemail.com",
        customer_name="Rossi, María",
        ip_hash="net-2",
        user_agent="Firefox/140",
        occurred_at=clicked + timedelta(seconds=12),
    )
    rows = {row.label: row for row in comparisons(conversion)}
    assert (rows["Email"].verdict, rows["Email, normalised"].verdict) == ("different", "same")
    assert rows["Email, normalised"].friend == "mariarossi@gmail.com"
    assert rows["Name"].verdict == "same"  # accents, case and word order ignored
    assert (rows["IP address (click)"].verdict, rows["IP address (order)"].verdict) == (
        "same",
        "different",
    )
    assert rows["Friend's browser"].friend == "same on click and order: Firefox/140"
    # no address or hash is ever shown, only whether they match
    assert "net-1" not in str(rows)
    assert timing(conversion) == {
        "clicked_at": clicked,
        "ordered_at": clicked + timedelta(seconds=12),
        "elapsed": "12 s",
    }
