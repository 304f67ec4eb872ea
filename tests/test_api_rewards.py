"""Rewards: the database's one-reward-per-(conversion, recipient, tier) rule, and the
`/api/v1/rewards` endpoints through HTTP on PostgreSQL: list, filters, detail, the manual
transitions (approve, reject, fulfil), refusals that change nothing, a concurrent approve,
key kinds, another merchant, and the conversion resource listing its rewards."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from django.db import IntegrityError, transaction
from django.test import Client

from accounts.models import AuditEvent, Merchant
from programs.models import Program
from referral_saas import tenancy
from rewards.models import Reward, RewardStatus
from rewards.selectors import rewards_for_conversions
from tests.conftest import World, make_key
from tests.factories import make_program
from tracking import services
from tracking.models import Advocate, Conversion

AVAILABLE = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)


def call(client: Client, method: str, path: str, key: str, body: Any = None) -> Any:
    payload = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    return client.generic(
        method.upper(),
        path,
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.fixture
def key(world: World) -> str:
    return make_key(world.acme).plaintext


@pytest.fixture
def program(world: World) -> Program:
    return make_program(world.acme)


def enrol(merchant: Merchant, program: Program, email: str = "maria@example.com") -> Advocate:
    with tenancy.merchant_context(merchant):
        return services.advocate_enroll(program=program, email=email, name="Maria").advocate


def convert(merchant: Merchant, order_id: str = "ORD-1") -> Conversion:
    with tenancy.merchant_context(merchant):
        return services.conversion_record(
            order_id=order_id, amount=8900, currency="EUR", customer={"email": "luca@example.com"}
        ).conversion


def make_reward(
    merchant: Merchant,
    advocate: Advocate,
    conversion: Conversion,
    *,
    recipient: str = "advocate",
    tier: int = 0,
    status: str = RewardStatus.PENDING,
    method: str = "webhook",
    **values: Any,
) -> Reward:
    values = values or {"kind": "account_credit", "amount": 1000, "currency": "EUR"}
    with tenancy.merchant_context(merchant):
        return Reward.objects.create(
            recipient=recipient,
            advocate=advocate,
            conversion=conversion,
            tier=tier,
            status=status,
            fulfilment_method=method,
            available_at=AVAILABLE,
            **values,
        )


@pytest.fixture
def advocate(world: World, program: Program) -> Advocate:
    return enrol(world.acme, program)


@pytest.fixture
def conversion(world: World) -> Conversion:
    return convert(world.acme)


def snapshot(reward: Reward) -> dict[str, Any]:
    row = Reward.unscoped_all_merchants.filter(pk=reward.pk).values().get()
    return {
        **row,
        "audits": AuditEvent.unscoped_all_merchants.filter(target_id=reward.public_id).count(),
    }


def reward_body(reward: Reward, **changes: Any) -> dict[str, Any]:
    body = {
        "id": reward.public_id,
        "object": "reward",
        "livemode": True,
        "recipient": reward.recipient,
        "advocate": reward.advocate.public_id,
        "conversion": reward.conversion.public_id,
        "tier": reward.tier,
        "kind": reward.kind,
        "amount": reward.amount,
        "percent": reward.percent,
        "points": reward.points,
        "label": reward.label,
        "currency": reward.currency or None,
        "status": reward.status,
        "available_at": "2026-12-22T10:00:00.000000Z",
        "fulfilment": {"method": reward.fulfilment_method},
        "reasons": [],
        "created_at": reward.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "issued_at": None,
    }
    return body | changes


# --- The database's rule ---------------------------------------------------------------------


def test_one_reward_per_conversion_recipient_and_tier(
    world: World, advocate: Advocate, conversion: Conversion
) -> None:
    make_reward(world.acme, advocate, conversion)
    make_reward(world.acme, advocate, conversion, recipient="friend")
    make_reward(world.acme, advocate, conversion, tier=1)
    make_reward(world.acme, advocate, conversion, tier=5)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_reward(world.acme, advocate, conversion, tier=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_reward(world.acme, advocate, conversion, recipient="friend")

    assert Reward.unscoped_all_merchants.count() == 4


def test_a_reward_has_an_amount_or_a_percent_never_both(
    world: World, advocate: Advocate, conversion: Conversion
) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        make_reward(world.acme, advocate, conversion, kind="fixed_discount", amount=500, percent=10)


def test_rewards_for_conversions_is_one_query(
    world: World, advocate: Advocate, django_assert_num_queries: Any
) -> None:
    first, second, third = (convert(world.acme, f"O{n}") for n in range(3))
    a = make_reward(world.acme, advocate, first)
    b = make_reward(world.acme, advocate, first, recipient="friend")
    c = make_reward(world.acme, advocate, second)

    with tenancy.merchant_context(world.acme), django_assert_num_queries(1):
        found = rewards_for_conversions([first.pk, second.pk, third.pk])
        assert [r.conversion.public_id for r in found[first.pk]] == [first.public_id] * 2

    assert {pk: [r.pk for r in rs] for pk, rs in found.items()} == {
        first.pk: [a.pk, b.pk],
        second.pk: [c.pk],
        third.pk: [],
    }


# --- Reads -----------------------------------------------------------------------------------


def test_list_filters_and_detail(
    client: Client, world: World, key: str, program: Program, advocate: Advocate
) -> None:
    first, second = convert(world.acme, "O1"), convert(world.acme, "O2")
    erin = enrol(world.acme, program, "erin@example.com")
    older = make_reward(world.acme, advocate, first)
    friend = make_reward(
        world.acme,
        advocate,
        first,
        recipient="friend",
        status=RewardStatus.HELD,
        method="generated_code",
        kind="percent_discount",
        percent=10,
    )
    newer = make_reward(world.acme, erin, second, status=RewardStatus.APPROVED)

    listed = call(client, "get", "/api/v1/rewards", key)
    assert listed.status_code == 200
    assert listed.json() == {
        "data": [reward_body(newer), reward_body(friend), reward_body(older)],
        "next_cursor": None,
    }
    shown = listed.json()["data"][1]
    assert (shown["amount"], shown["percent"], shown["currency"]) == (None, 10, None)

    def ids(query: str) -> list[str]:
        response = call(client, "get", f"/api/v1/rewards?{query}", key)
        assert response.status_code == 200, response.json()
        return [r["id"] for r in response.json()["data"]]

    assert ids("status=held") == [friend.public_id]
    assert ids("recipient=advocate") == [newer.public_id, older.public_id]
    assert ids(f"advocate={erin.public_id}") == [newer.public_id]
    assert ids(f"conversion={first.public_id}") == [friend.public_id, older.public_id]
    assert ids("status=approved&recipient=friend") == []
    assert ids("limit=1") == [newer.public_id]

    bad = call(client, "get", "/api/v1/rewards?status=paid", key)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "status"

    detail = call(client, "get", f"/api/v1/rewards/{older.public_id}", key)
    assert detail.status_code == 200
    assert detail.json() == reward_body(older)
    missing = call(client, "get", "/api/v1/rewards/rwd_nope", key)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"


def test_conversion_shows_its_rewards_in_detail_and_list_without_a_query_per_row(
    client: Client,
    world: World,
    key: str,
    advocate: Advocate,
    conversion: Conversion,
    django_assert_num_queries: Any,
) -> None:
    mine = make_reward(world.acme, advocate, conversion)
    friends = make_reward(world.acme, advocate, conversion, recipient="friend")
    for n in range(4):
        make_reward(world.acme, advocate, convert(world.acme, f"O{n}"))

    detail = call(client, "get", f"/api/v1/conversions/{conversion.public_id}", key)
    assert detail.json()["rewards"] == [reward_body(mine), reward_body(friends)]

    # the key lookup, the page, and the rewards of the whole page
    with django_assert_num_queries(3):
        listed = call(client, "get", "/api/v1/conversions", key)
    rewards = {c["id"]: c["rewards"] for c in listed.json()["data"]}
    assert len(rewards) == 5
    assert rewards[conversion.public_id] == [reward_body(mine), reward_body(friends)]
    assert all(len(r) == 1 for cid, r in rewards.items() if cid != conversion.public_id)


# --- Transitions -----------------------------------------------------------------------------


@pytest.mark.parametrize("start", [RewardStatus.PENDING, RewardStatus.HELD])
def test_approve_from_pending_or_held(
    client: Client, world: World, key: str, advocate: Advocate, conversion: Conversion, start: str
) -> None:
    reward = make_reward(world.acme, advocate, conversion, status=start)

    response = call(client, "post", f"/api/v1/rewards/{reward.public_id}/approve", key, {})

    assert response.status_code == 200, response.json()
    reason = {"rule": "manual", "outcome": "approved", "detail": "Approved by the merchant."}
    assert response.json() == reward_body(reward, status="approved", reasons=[reason])
    reward.refresh_from_db()
    assert (reward.status, reward.reasons) == ("approved", [reason])
    audit = AuditEvent.unscoped_all_merchants.get(target_id=reward.public_id)
    assert (audit.action, audit.merchant_id) == ("reward.approved", world.acme.pk)


def test_reject_from_held_keeps_the_reason(
    client: Client, world: World, key: str, advocate: Advocate, conversion: Conversion
) -> None:
    earlier = {"rule": "self_referral", "outcome": "review", "detail": "Same customer id."}
    reward = make_reward(world.acme, advocate, conversion, status=RewardStatus.HELD)
    Reward.unscoped_all_merchants.filter(pk=reward.pk).update(reasons=[earlier])

    response = call(
        client,
        "post",
        f"/api/v1/rewards/{reward.public_id}/reject",
        key,
        {"reason": "Same household."},
    )

    assert response.status_code == 200, response.json()
    reason = {"rule": "manual", "outcome": "rejected", "detail": "Same household."}
    assert response.json() == reward_body(reward, status="rejected", reasons=[earlier, reason])
    audit = AuditEvent.unscoped_all_merchants.get(target_id=reward.public_id)
    assert (audit.action, audit.data) == ("reward.rejected", {"reason": "Same household."})


def test_fulfil_a_webhook_reward_then_again_with_the_same_id_changes_nothing(
    client: Client, world: World, key: str, advocate: Advocate, conversion: Conversion
) -> None:
    reward = make_reward(world.acme, advocate, conversion, status=RewardStatus.APPROVED)
    path = f"/api/v1/rewards/{reward.public_id}/fulfil"

    response = call(client, "post", path, key, {"external_id": "credit_1", "code": "WELCOME10"})

    assert response.status_code == 200, response.json()
    body = response.json()
    reward.refresh_from_db()
    assert reward.status == "issued"
    assert reward.issued_at is not None
    assert body == reward_body(
        reward,
        status="issued",
        fulfilment={"method": "webhook", "code": "WELCOME10", "external_id": "credit_1"},
        reasons=[{"rule": "manual", "outcome": "issued", "detail": "Fulfilled by the merchant."}],
        issued_at=reward.issued_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
    done = snapshot(reward)
    assert done["audits"] == 1

    again = call(client, "post", path, key, {"external_id": "credit_1"})
    assert again.status_code == 200
    assert again.json() == body
    assert snapshot(reward) == done

    other = call(client, "post", path, key, {"external_id": "credit_2"})
    assert other.status_code == 400
    assert other.json()["error"]["param"] == "status"
    assert snapshot(reward) == done


@pytest.mark.parametrize(
    ("action", "start", "method", "param"),
    [
        ("approve", RewardStatus.APPROVED, "webhook", "status"),
        ("approve", RewardStatus.REJECTED, "webhook", "status"),
        ("approve", RewardStatus.ISSUED, "webhook", "status"),
        ("approve", RewardStatus.VOIDED, "webhook", "status"),
        ("reject", RewardStatus.APPROVED, "webhook", "status"),
        ("reject", RewardStatus.ISSUED, "webhook", "status"),
        ("fulfil", RewardStatus.PENDING, "webhook", "status"),
        ("fulfil", RewardStatus.HELD, "manual", "status"),
        ("fulfil", RewardStatus.FAILED, "webhook", "status"),
        ("fulfil", RewardStatus.APPROVED, "generated_code", "fulfilment"),
        ("fulfil", RewardStatus.APPROVED, "stripe_customer_balance", "fulfilment"),
    ],
)
def test_invalid_transition_is_400_and_changes_nothing(
    client: Client,
    world: World,
    key: str,
    advocate: Advocate,
    conversion: Conversion,
    action: str,
    start: str,
    method: str,
    param: str,
) -> None:
    reward = make_reward(world.acme, advocate, conversion, status=start, method=method)
    before = snapshot(reward)

    response = call(client, "post", f"/api/v1/rewards/{reward.public_id}/{action}", key, {})

    assert response.status_code == 400, response.json()
    assert response.json()["error"]["param"] == param
    if param == "status":
        assert f"reward cannot be {action.rstrip('e')}" in response.json()["error"]["message"]
        assert start in response.json()["error"]["message"]
    assert snapshot(reward) == before


@pytest.mark.parametrize(
    ("action", "body", "param"),
    [
        ("approve", {"note": "x"}, "note"),
        ("reject", {"reason": 5}, "reason"),
        ("reject", {"reason": "x" * 201}, "reason"),
        ("fulfil", {"external_id": ["a"]}, "external_id"),
        ("fulfil", {"id": "a"}, "id"),
        ("approve", [1], None),
    ],
)
def test_invalid_body_is_400_naming_the_field_and_changes_nothing(
    client: Client,
    world: World,
    key: str,
    advocate: Advocate,
    conversion: Conversion,
    action: str,
    body: Any,
    param: str | None,
) -> None:
    start = RewardStatus.APPROVED if action == "fulfil" else RewardStatus.HELD
    reward = make_reward(world.acme, advocate, conversion, status=start)
    before = snapshot(reward)

    response = call(client, "post", f"/api/v1/rewards/{reward.public_id}/{action}", key, body)

    assert response.status_code == 400, response.json()
    assert response.json()["error"]["param"] == param
    assert snapshot(reward) == before


def test_concurrent_approvals_approve_once(
    live_server: Any, transactional_db: None, world: World, settings: Any
) -> None:
    settings.API_RATE_LIMIT_SECRET = 100_000
    advocate = enrol(world.acme, make_program(world.acme))
    reward = make_reward(world.acme, advocate, convert(world.acme), status=RewardStatus.HELD)
    key = make_key(world.acme).plaintext
    url = f"{live_server.url}/api/v1/rewards/{reward.public_id}/approve"

    def approve(_: int) -> int:
        return requests.post(
            url, json={}, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = list(pool.map(approve, range(2)))

    assert sorted(codes) == [200, 400]
    reward.refresh_from_db()
    assert reward.status == "approved"
    assert len(reward.reasons) == 1
    assert AuditEvent.unscoped_all_merchants.filter(action="reward.approved").count() == 1


# --- Keys and tenants ------------------------------------------------------------------------


def test_publishable_key_is_refused(
    client: Client, world: World, advocate: Advocate, conversion: Conversion
) -> None:
    pk = make_key(world.acme, "publishable", ["https://shop.example.com"]).plaintext
    reward = make_reward(world.acme, advocate, conversion)
    before = snapshot(reward)

    for method, path in [
        ("get", "/api/v1/rewards"),
        ("get", f"/api/v1/rewards/{reward.public_id}"),
        ("post", f"/api/v1/rewards/{reward.public_id}/approve"),
        ("post", f"/api/v1/rewards/{reward.public_id}/reject"),
        ("post", f"/api/v1/rewards/{reward.public_id}/fulfil"),
    ]:
        response = call(client, method, path, pk, {} if method == "post" else None)
        assert response.status_code == 403, (path, response.json())
    assert snapshot(reward) == before


def test_another_merchant_gets_404_and_changes_nothing(
    client: Client, world: World, advocate: Advocate, conversion: Conversion
) -> None:
    outsider = make_key(world.globex).plaintext
    reward = make_reward(world.acme, advocate, conversion, status=RewardStatus.HELD)
    before = snapshot(reward)

    for action in ("approve", "reject", "fulfil"):
        response = call(
            client, "post", f"/api/v1/rewards/{reward.public_id}/{action}", outsider, {}
        )
        assert response.status_code == 404
    assert call(client, "get", f"/api/v1/rewards/{reward.public_id}", outsider).status_code == 404
    assert call(client, "get", "/api/v1/rewards", outsider).json()["data"] == []
    assert snapshot(reward) == before
