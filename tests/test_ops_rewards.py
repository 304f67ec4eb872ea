"""The rewards page: filters, every action with its role, failed rewards with their error and
retry, the manual-payout CSV, pinned query counts and outsiders."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent, Role
from referral_saas import tenancy
from rewards.models import Reward, RewardStatus
from tests.conftest import World, login
from tests.factories import UserFactory, add_member, make_program
from tracking.models import Advocate
from tracking.services import advocate_enroll, conversion_record

pytestmark = pytest.mark.django_db

LIST = "/m/acme/rewards/"


def make_reward(world: World, order_id: str, **fields: Any) -> Reward:
    """A reward as the pipeline leaves it (the pipeline itself is tested elsewhere)."""
    with tenancy.merchant_context(world.acme):
        program = fields.pop("program", None) or make_program(world.acme, slug=f"p-{order_id}")
        advocate = (
            fields.pop("advocate", None)
            or advocate_enroll(
                program=program, email=f"adv-{order_id}@example.com", name="Maria Rossi"
            ).advocate
        )
        conversion = conversion_record(
            order_id=order_id, amount=5000, currency="EUR", customer={"email": "f@example.com"}
        ).conversion
        values: dict[str, Any] = {
            "recipient": "advocate",
            "kind": "account_credit",
            "amount": 1000,
            "currency": "EUR",
            "fulfilment_method": "manual",
            "status": RewardStatus.PENDING,
            **fields,
        }
        return Reward.objects.create(
            advocate=advocate, conversion=conversion, program=program, **values
        )


def status_of(world: World, reward: Reward) -> str:
    with tenancy.merchant_context(world.acme):
        return str(Reward.objects.get(pk=reward.pk).status)


def actions(world: World) -> list[tuple[str, str]]:
    with tenancy.merchant_context(world.acme):
        return list(AuditEvent.objects.order_by("pk").values_list("action", "actor_label"))


def member(world: World, role: str) -> Any:
    user = UserFactory(email=f"{role}@example.com")
    add_member(world.acme, user, role)
    return user


def url(reward: Reward, action: str = "") -> str:
    return f"/m/acme/rewards/{reward.public_id}/" + (f"{action}/" if action else "")


def test_list_filters_by_status_and_program_with_counts(
    client: Client, world: World, django_assert_max_num_queries: Any
) -> None:
    pending = make_reward(world, "o-1")
    failed = make_reward(world, "o-2", status=RewardStatus.FAILED, last_error="Stripe said no")
    login(client, world.bob)
    client.get(LIST)  # the first visit stores the current merchant in the session
    with django_assert_max_num_queries(8):
        response = client.get(LIST)
    assert [row["reward"].pk for row in response.context["rows"]] == [failed.pk, pending.pk]
    tabs = {value: count for value, _label, count in response.context["tabs"]}
    assert (tabs["pending"], tabs["failed"], tabs["issued"]) == (1, 1, 0)
    assert "Stripe said no" in response.content.decode()
    only_failed = client.get(f"{LIST}?status=failed").context["rows"]
    assert [row["reward"].pk for row in only_failed] == [failed.pk]
    with tenancy.merchant_context(world.acme):
        program_id = pending.program.public_id  # type: ignore[union-attr]
    by_program = client.get(f"{LIST}?program={program_id}").context["rows"]
    assert [row["reward"].pk for row in by_program] == [pending.pk]
    # junk filters are ignored, not errors
    assert len(client.get(f"{LIST}?status=nope&page=zzz").context["rows"]) == 2


def test_list_query_count_does_not_grow_with_rows(
    client: Client, world: World, django_assert_max_num_queries: Any
) -> None:
    first = make_reward(world, "o-0")
    with tenancy.merchant_context(world.acme):
        program, advocate = first.program, first.advocate
    for number in range(1, 12):
        make_reward(world, f"o-{number}", program=program, advocate=advocate)
    login(client, world.alice)
    client.get(LIST)
    with django_assert_max_num_queries(8):
        assert len(client.get(LIST).context["rows"]) == 12


def test_viewer_reads_but_every_action_is_refused_and_nothing_changes(
    client: Client, world: World
) -> None:
    reward = make_reward(world, "o-1", status=RewardStatus.HELD)
    login(client, world.bob)
    assert client.get(url(reward)).status_code == 200
    for action in ("approve", "reject", "fulfil", "void", "retry"):
        assert client.post(url(reward, action)).status_code == 403, action
    assert status_of(world, reward) == "held"
    assert actions(world) == []


def test_reviewer_approves_and_rejects_but_cannot_void_fulfil_or_retry(
    client: Client, world: World
) -> None:
    reviewer = member(world, Role.REVIEWER)
    held = make_reward(world, "o-1", status=RewardStatus.HELD)
    pending = make_reward(world, "o-2")
    failed = make_reward(world, "o-3", status=RewardStatus.FAILED)
    login(client, reviewer)
    assert client.post(url(held, "approve")).status_code == 302
    assert client.post(url(pending, "reject"), {"reason": "Duplicate"}).status_code == 302
    assert (status_of(world, held), status_of(world, pending)) == ("approved", "rejected")
    assert client.post(url(held, "void")).status_code == 403
    assert client.post(url(held, "fulfil")).status_code == 403
    assert client.post(url(failed, "retry")).status_code == 403
    assert status_of(world, held) == "approved"
    assert status_of(world, failed) == "failed"
    # the services' audit events name the dashboard user
    assert [a for a in actions(world) if a[0].startswith("reward.")] == [
        ("reward.approved", "reviewer@example.com"),
        ("reward.rejected", "reviewer@example.com"),
    ]


def test_admin_marks_a_manual_reward_fulfilled_with_a_reference(
    client: Client, world: World
) -> None:
    admin = member(world, Role.ADMIN)
    reward = make_reward(world, "o-1", status=RewardStatus.APPROVED)
    login(client, admin)
    response = client.post(url(reward, "fulfil"), {"external_id": "PAYPAL-123"}, follow=True)
    assert f"Reward {reward.public_id} marked as fulfilled." in response.content.decode()
    with tenancy.merchant_context(world.acme):
        fresh = Reward.objects.get(pk=reward.pk)
    assert (fresh.status, fresh.fulfilment_external_id) == ("issued", "PAYPAL-123")
    assert ("reward.issued", "admin@example.com") in actions(world)


def test_fulfil_refuses_a_reward_we_fulfil_ourselves(client: Client, world: World) -> None:
    reward = make_reward(
        world, "o-1", status=RewardStatus.APPROVED, fulfilment_method="generated_code"
    )
    login(client, world.alice)
    response = client.post(url(reward, "fulfil"), follow=True)
    assert "is fulfilled by us" in response.content.decode()
    assert status_of(world, reward) == "approved"


def test_void_with_reason_and_wrong_state_is_explained(client: Client, world: World) -> None:
    reward = make_reward(world, "o-1")
    login(client, world.alice)
    client.post(url(reward, "void"), {"reason": "Test order"})
    assert status_of(world, reward) == "voided"
    again = client.post(url(reward, "void"), {"reason": "Again"}, follow=True)
    assert "A voided reward cannot be voided." in again.content.decode()
    assert [a[0] for a in actions(world)].count("reward.voided") == 1


def test_failed_reward_shows_its_error_and_retry_requeues_it(
    client: Client, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    reward = make_reward(
        world,
        "o-1",
        status=RewardStatus.FAILED,
        fulfilment_method="webhook",
        attempts=8,
        last_error="HTTP 500 from shop",
    )
    login(client, world.alice)
    page = client.get(url(reward)).content.decode()
    assert "Fulfilment failed after 8 attempts." in page
    assert "HTTP 500 from shop" in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(url(reward, "retry"))
    with tenancy.merchant_context(world.acme):
        fresh = Reward.objects.get(pk=reward.pk)
    assert (fresh.status, fresh.attempts) == ("approved", 0)
    assert len(callbacks) == 1  # the fulfilment task, after commit
    with tenancy.merchant_context(world.acme):
        event = AuditEvent.objects.get(action="reward.retried")
    assert event.data == {"last_error": "HTTP 500 from shop"}
    assert event.actor_user_id == world.alice.pk
    # a second retry is refused: it is not failed any more
    again = client.post(url(reward, "retry"), follow=True)
    assert "Only failed rewards can be retried." in again.content.decode()


def read_csv(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def test_manual_payout_csv_lists_only_approved_manual_rewards(client: Client, world: World) -> None:
    payable = make_reward(world, "o-1", status=RewardStatus.APPROVED, amount=2500)
    make_reward(world, "o-2", status=RewardStatus.PENDING)
    make_reward(world, "o-3", status=RewardStatus.APPROVED, fulfilment_method="webhook")
    with tenancy.merchant_context(world.acme):
        advocate = Advocate.objects.get(pk=payable.advocate_id)
        Advocate.objects.filter(pk=advocate.pk).update(name='=HYPERLINK("http://x")')
    login(client, world.alice)
    response = client.get("/m/acme/rewards/manual-payouts.csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = read_csv(response)
    assert rows[0][:7] == [
        "reward_id",
        "advocate_email",
        "advocate_name",
        "recipient",
        "kind",
        "amount",
        "currency",
    ]
    assert [row[:7] for row in rows[1:]] == [
        [
            payable.public_id,
            "adv-o-1@example.com",
            '\'=HYPERLINK("http://x")',
            "advocate",
            "account_credit",
            "25.00",  # major units, with the currency
            "EUR",
        ]
    ]
    assert ("export.manual_payouts", "alice@example.com") in actions(world)


def test_manual_payout_csv_is_admin_only(client: Client, world: World) -> None:
    login(client, member(world, Role.REVIEWER))
    assert client.get("/m/acme/rewards/manual-payouts.csv").status_code == 403
    assert actions(world) == []


def test_outsider_gets_404_and_changes_nothing(client: Client, world: World) -> None:
    reward = make_reward(world, "o-1")
    login(client, world.charlie)
    assert client.get(url(reward)).status_code == 404
    assert client.post(url(reward, "approve")).status_code == 404
    crossed = f"/m/globex/rewards/{reward.public_id}/approve/"
    assert client.post(crossed).status_code == 404
    assert client.get(f"/m/globex/rewards/{reward.public_id}/").status_code == 404
    assert status_of(world, reward) == "pending"
    # and Globex's own payout export has none of Acme's rewards
    response = client.get("/m/globex/rewards/manual-payouts.csv")
    assert read_csv(response)[1:] == []
