"""`/api/v1/` tracking endpoints through HTTP on PostgreSQL: advocates, clicks, referrals,
conversions (idempotent by order_id, also under 200 concurrent posts) and refunds (never over
the amount, also concurrently); validation naming the field; key kinds; CORS."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.test import Client

from accounts.models import Merchant
from programs.models import Program, ProgramStatus, ProgramVersion
from referral_saas import tenancy
from tests.conftest import World, make_key
from tests.factories import make_program
from tracking import services
from tracking.models import Advocate, Click, Conversion, ConversionStatus, Referral, Refund

ORIGIN = "https://shop.example.com"
ADVOCATE_FIELDS = {
    "id",
    "object",
    "livemode",
    "program",
    "email",
    "name",
    "customer_id",
    "code",
    "locale",
    "variant",
    "referral_url",
    "portal_url",
    "qr_url",
    "created_at",
}
CONVERSION_FIELDS = {
    "id",
    "object",
    "livemode",
    "order_id",
    "amount",
    "currency",
    "refunded_amount",
    "status",
    "program",
    "advocate",
    "referral",
    "customer",
    "program_version",
    "risk_score",
    "reasons",
    "rewards",
    "created_at",
    "evaluated_at",
    # additions to the contract
    "referral_code",
    "click_id",
    "new_customer",
    "subscription_id",
    "metadata",
    "occurred_at",
}


def call(client: Client, method: str, path: str, key: str, body: Any = None, **headers: str) -> Any:
    payload = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    return client.generic(
        method.upper(),
        path,
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **headers,
    )


def is_time(value: str) -> bool:
    return value.endswith("Z") and datetime.fromisoformat(value) is not None


@pytest.fixture
def key(world: World) -> str:
    return make_key(world.acme).plaintext


@pytest.fixture
def pk(world: World) -> str:
    return make_key(world.acme, "publishable", [ORIGIN]).plaintext


@pytest.fixture
def program(world: World) -> Program:
    return make_program(world.acme)


def enrol(merchant: Merchant, program: Program, email: str = "maria@example.com") -> Advocate:
    with tenancy.merchant_context(merchant):
        return services.advocate_enroll(program=program, email=email, name="Maria").advocate


def order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": "ORD-1",
        "amount": 8900,
        "currency": "EUR",
        "customer": {"email": "luca@example.com", "id": "cus_1", "name": "Luca"},
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not ...}


def snapshot(merchant: Merchant) -> dict[str, Any]:
    with tenancy.merchant_context(merchant):
        return {
            model.__name__: list(model.objects.order_by("pk").values())
            for model in (Advocate, Click, Referral, Conversion, Refund)
        }


def post_conversion(client: Client, key: str, **changes: Any) -> Conversion:
    response = call(client, "post", "/api/v1/conversions", key, order(**changes))
    assert response.status_code == 202, response.json()
    return Conversion.unscoped_all_merchants.get(public_id=response.json()["id"])


# --- Advocates -------------------------------------------------------------------------------


def test_enrol_answers_201_with_the_advocate_then_200_with_the_same_one(
    client: Client, world: World, key: str, program: Program
) -> None:
    body = {
        "program": program.public_id,
        "email": "Maria@Example.com",
        "name": "Maria",
        "customer_id": "cus_7",
        "locale": "it",
    }
    first = call(client, "post", "/api/v1/advocates", key, body)
    again = call(client, "post", "/api/v1/advocates", key, {**body, "email": "maria@example.com"})

    assert first.status_code == 201, first.json()
    data = first.json()
    assert set(data) == ADVOCATE_FIELDS
    advocate = Advocate.unscoped_all_merchants.get(public_id=data["id"])
    assert data == {
        "id": advocate.public_id,
        "object": "advocate",
        "livemode": True,
        "program": program.public_id,
        "email": "maria@example.com",
        "name": "Maria",
        "customer_id": "cus_7",
        "code": advocate.code,
        "locale": "it",
        "variant": None,
        "referral_url": f"{django_settings.PUBLIC_BASE_URL}/r/{advocate.code}",
        "portal_url": data["portal_url"],
        "qr_url": f"{django_settings.PUBLIC_BASE_URL}/r/{advocate.code}/qr.svg",
        "created_at": data["created_at"],
    }
    # A secret key gets the advocate's magic link, and it opens their portal.
    assert data["portal_url"].startswith(f"{django_settings.PUBLIC_BASE_URL}/portal/")
    portal = client.get(data["portal_url"].removeprefix(django_settings.PUBLIC_BASE_URL))
    assert portal.status_code == 200
    assert advocate.code.startswith("MARIA-")
    assert is_time(data["created_at"])
    assert advocate.merchant_id == world.acme.pk
    assert again.status_code == 200
    # The same advocate (a portal link is minted per answer, so it may differ by its timestamp).
    assert {**again.json(), "portal_url": None} == {**data, "portal_url": None}
    assert Advocate.unscoped_all_merchants.count() == 1


def test_enrol_in_another_merchants_program_is_404_like_a_missing_one(
    client: Client, world: World
) -> None:
    theirs = make_program(world.acme)
    outsider = make_key(world.globex).plaintext
    body = {"program": theirs.public_id, "email": "x@example.com"}

    crossed = call(client, "post", "/api/v1/advocates", outsider, body)
    missing = call(
        client, "post", "/api/v1/advocates", outsider, {**body, "program": "prg_" + "0" * 20}
    )

    assert crossed.status_code == 404
    assert crossed.json() == missing.json()
    assert crossed.json()["error"]["code"] == "resource_missing"
    assert Advocate.unscoped_all_merchants.count() == 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"program": ..., "email": "a@example.com"}, "program"),
        ({"program": 5, "email": "a@example.com"}, "program"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com", "locale": "de"}, "locale"),
        ({"email": "a@example.com", "name": 7}, "name"),
        ({"email": "a@example.com", "nickname": "A"}, "nickname"),
    ],
)
def test_invalid_enrolment_is_400_naming_the_field(
    client: Client, world: World, key: str, program: Program, body: dict[str, Any], param: str
) -> None:
    body = {k: v for k, v in {"program": program.public_id, **body}.items() if v is not ...}
    response = call(client, "post", "/api/v1/advocates", key, body)

    assert response.status_code == 400, response.json()
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["errors"][0]["param"] == param
    assert Advocate.unscoped_all_merchants.count() == 0


def test_enrolment_in_a_paused_program_is_400(client: Client, world: World, key: str) -> None:
    paused = make_program(world.acme, status=ProgramStatus.PAUSED)
    body = {"program": paused.public_id, "email": "a@example.com"}

    response = call(client, "post", "/api/v1/advocates", key, body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "program"


def test_advocate_retrieve_and_list_with_stats_and_filters(
    client: Client, world: World, key: str, program: Program
) -> None:
    other_program = make_program(world.acme, slug="other")
    maria = enrol(world.acme, program)
    enrol(world.acme, other_program, "paul@example.com")
    with tenancy.merchant_context(world.acme):
        for _ in range(3):
            services.click_record(code=maria.code)
        services.referral_record(code=maria.code, email="luca@example.com")
        services.referral_record(code=maria.code, email="anna@example.com")
        conversion = services.conversion_record(**order()).conversion
        Conversion.objects.filter(pk=conversion.pk).update(advocate=maria)

    one = call(client, "get", f"/api/v1/advocates/{maria.public_id}", key)
    everyone = call(client, "get", "/api/v1/advocates", key)
    by_program = call(client, "get", f"/api/v1/advocates?program={program.public_id}", key)
    by_email = call(client, "get", "/api/v1/advocates?email=PAUL@example.com", key)

    assert one.status_code == 200
    assert set(one.json()) == ADVOCATE_FIELDS | {"stats"}
    assert one.json()["stats"] == {"clicks": 3, "referrals": 2, "conversions": 1}
    assert [a["email"] for a in everyone.json()["data"]] == [
        "paul@example.com",
        "maria@example.com",
    ]
    assert everyone.json()["next_cursor"] is None
    assert everyone.json()["data"][0]["stats"] == {"clicks": 0, "referrals": 0, "conversions": 0}
    assert [a["id"] for a in by_program.json()["data"]] == [maria.public_id]
    assert [a["email"] for a in by_email.json()["data"]] == ["paul@example.com"]


def test_advocate_list_pages_with_a_cursor(
    client: Client, world: World, key: str, program: Program
) -> None:
    for index in range(3):
        enrol(world.acme, program, f"a{index}@example.com")

    first = call(client, "get", "/api/v1/advocates?limit=2", key).json()
    second = call(client, "get", f"/api/v1/advocates?limit=2&cursor={first['next_cursor']}", key)

    assert [a["email"] for a in first["data"]] == ["a2@example.com", "a1@example.com"]
    assert [a["email"] for a in second.json()["data"]] == ["a0@example.com"]
    assert second.json()["next_cursor"] is None


def test_advocate_list_query_count_is_pinned(
    client: Client, world: World, key: str, program: Program, django_assert_num_queries: Any
) -> None:
    for index in range(5):
        advocate = enrol(world.acme, program, f"a{index}@example.com")
        with tenancy.merchant_context(world.acme):
            services.click_record(code=advocate.code)
            services.referral_record(code=advocate.code, email=f"f{index}@example.com")
    call(client, "get", "/api/v1/advocates", key)  # warm the key's last-used stamp

    # the key lookup, then the page of advocates with their programs and stats (subqueries)
    with django_assert_num_queries(2):
        response = call(client, "get", "/api/v1/advocates", key)

    assert len(response.json()["data"]) == 5
    assert all(a["stats"]["clicks"] == 1 for a in response.json()["data"])


# --- Clicks and referrals --------------------------------------------------------------------


def test_click_answers_201_and_keeps_no_raw_ip(
    client: Client, world: World, key: str, program: Program
) -> None:
    maria = enrol(world.acme, program)
    body = {
        "code": maria.code.lower(),
        "landing_url": "https://shop.example.com/x",
        "visitor_id": "v1",
    }

    response = call(
        client,
        "post",
        "/api/v1/clicks",
        key,
        body,
        REMOTE_ADDR="203.0.113.77",
        HTTP_USER_AGENT="Firefox",
    )

    assert response.status_code == 201, response.json()
    click = Click.unscoped_all_merchants.get()
    assert response.json() == {
        "id": click.public_id,
        "object": "click",
        "livemode": True,
        "program": program.public_id,
        "advocate": maria.public_id,
        "created_at": response.json()["created_at"],
    }
    assert click.ip_prefix == "203.0.113.0/24"
    assert click.ip_hash
    assert "77" not in click.ip_prefix
    assert (click.user_agent, click.referer, click.visitor_id) == (
        "Firefox",
        "https://shop.example.com/x",
        "v1",
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "code"),
        ({"code": "NOPE-123456"}, "code"),
        ({"code": 12}, "code"),
        ({"code": "A-B", "x": 1}, "x"),
    ],
)
def test_invalid_click_is_400(
    client: Client, world: World, key: str, body: dict[str, Any], param: str
) -> None:
    response = call(client, "post", "/api/v1/clicks", key, body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert Click.unscoped_all_merchants.count() == 0


def test_referral_by_click_then_first_referrer_wins(
    client: Client, world: World, key: str, program: Program
) -> None:
    maria = enrol(world.acme, program)
    paul = enrol(world.acme, program, "paul@example.com")
    with tenancy.merchant_context(world.acme):
        click = services.click_record(code=maria.code)

    first = call(
        client,
        "post",
        "/api/v1/referrals",
        key,
        {"click_id": click.public_id, "email": "Luca@example.com", "name": "Luca"},
    )
    second = call(
        client, "post", "/api/v1/referrals", key, {"code": paul.code, "email": "luca@example.com"}
    )

    assert first.status_code == 201, first.json()
    referral = Referral.unscoped_all_merchants.get()
    assert first.json() == {
        "id": referral.public_id,
        "object": "referral",
        "livemode": True,
        "program": program.public_id,
        "advocate": maria.public_id,
        "email": "luca@example.com",
        "customer_id": "",
        "name": "Luca",
        "click": click.public_id,
        "created_at": first.json()["created_at"],
        # The two-sided program's friend offer (tests/test_friend_offer_api.py covers it).
        "friend_reward": first.json()["friend_reward"],
        "friend_reward_reason": None,
    }
    assert first.json()["friend_reward"]["fulfilment"]["code"]
    assert second.status_code == 200
    assert second.json() == first.json()  # Maria's, not Paul's


def test_referral_by_code_has_no_click_and_self_referral_is_400(
    client: Client, world: World, key: str, program: Program
) -> None:
    maria = enrol(world.acme, program)

    by_code = call(
        client, "post", "/api/v1/referrals", key, {"code": maria.code, "email": "l@example.com"}
    )
    self_referral = call(
        client, "post", "/api/v1/referrals", key, {"code": maria.code, "email": maria.email}
    )
    no_hint = call(client, "post", "/api/v1/referrals", key, {"email": "z@example.com"})

    assert by_code.status_code == 201
    assert by_code.json()["click"] is None
    assert self_referral.status_code == 400
    assert self_referral.json()["error"]["param"] == "email"
    assert no_hint.status_code == 400
    assert no_hint.json()["error"]["param"] == "code"
    assert Referral.unscoped_all_merchants.count() == 1


# --- Conversions -----------------------------------------------------------------------------


def test_conversion_answers_202_received_then_200_with_the_same_one(
    client: Client, world: World, key: str
) -> None:
    body = order(code="maria-7kq2xp", new_customer=True, metadata={"cart": [1, 2]})
    first = call(client, "post", "/api/v1/conversions", key, body)
    repeat = call(client, "post", "/api/v1/conversions", key, {**body, "amount": 1})

    assert first.status_code == 202, first.json()
    conversion = Conversion.unscoped_all_merchants.get()
    ack = first.json()
    assert ack == {
        "id": conversion.public_id,
        "object": "conversion",
        "livemode": True,
        "order_id": "ORD-1",
        "status": "received",
        "created_at": ack["created_at"],
    }
    data = call(client, "get", f"/api/v1/conversions/{conversion.public_id}", key).json()
    assert set(data) == CONVERSION_FIELDS
    assert data == {
        "id": conversion.public_id,
        "object": "conversion",
        "livemode": True,
        "order_id": "ORD-1",
        "amount": 8900,
        "currency": "EUR",
        "refunded_amount": 0,
        "status": "received",
        "program": None,
        "advocate": None,
        "referral": None,
        "customer": {"email": "luca@example.com", "id": "cus_1", "name": "Luca"},
        "program_version": None,
        "risk_score": None,
        "reasons": [],
        "rewards": [],
        "referral_code": "MARIA-7KQ2XP",
        "click_id": "",
        "new_customer": True,
        "subscription_id": "",
        "metadata": {"cart": [1, 2]},
        "occurred_at": data["occurred_at"],
        "created_at": data["created_at"],
        "evaluated_at": None,
    }
    assert conversion.merchant_id == world.acme.pk
    assert repeat.status_code == 200
    assert repeat.json() == data  # the first one, unchanged
    assert Conversion.unscoped_all_merchants.count() == 1


def test_the_same_order_id_at_another_merchant_is_another_conversion(
    client: Client, world: World, key: str
) -> None:
    globex = make_key(world.globex).plaintext
    ours = call(client, "post", "/api/v1/conversions", key, order())
    theirs = call(client, "post", "/api/v1/conversions", globex, order())

    assert (ours.status_code, theirs.status_code) == (202, 202)
    assert ours.json()["id"] != theirs.json()["id"]


def test_conversion_retrieve_and_list_with_filters(
    client: Client, world: World, key: str, program: Program
) -> None:
    maria = enrol(world.acme, program)
    first = post_conversion(client, key, order_id="A")
    second = post_conversion(client, key, order_id="B")
    with tenancy.merchant_context(world.acme):
        Conversion.objects.filter(pk=first.pk).update(
            status=ConversionStatus.QUALIFIED,
            program=program,
            advocate=maria,
            risk_score=5,
            reasons=[{"rule": "min_order_amount", "outcome": "pass", "detail": "ok"}],
        )

    one = call(client, "get", f"/api/v1/conversions/{first.public_id}", key)
    everyone = call(client, "get", "/api/v1/conversions", key)
    qualified = call(client, "get", "/api/v1/conversions?status=qualified", key)
    by_program = call(client, "get", f"/api/v1/conversions?program={program.public_id}", key)
    bad_status = call(client, "get", "/api/v1/conversions?status=won", key)

    assert one.status_code == 200
    assert one.json()["status"] == "qualified"
    assert one.json()["program"] == program.public_id
    assert one.json()["advocate"] == maria.public_id
    assert one.json()["risk_score"] == 5
    assert one.json()["reasons"] == [
        {"rule": "min_order_amount", "outcome": "pass", "detail": "ok"}
    ]
    assert [c["id"] for c in everyone.json()["data"]] == [second.public_id, first.public_id]
    assert [c["id"] for c in qualified.json()["data"]] == [first.public_id]
    assert [c["id"] for c in by_program.json()["data"]] == [first.public_id]
    assert bad_status.status_code == 400
    assert bad_status.json()["error"]["param"] == "status"


def test_conversion_program_version_is_its_number(
    client: Client, world: World, key: str, program: Program
) -> None:

    conversion = post_conversion(client, key)
    with tenancy.merchant_context(world.acme):
        version = ProgramVersion.objects.get(program=program)
        Conversion.objects.filter(pk=conversion.pk).update(program=program, program_version=version)

    response = call(client, "get", f"/api/v1/conversions/{conversion.public_id}", key)

    assert response.json()["program_version"] == version.number


def test_conversion_list_query_count_is_pinned(
    client: Client, world: World, key: str, program: Program, django_assert_num_queries: Any
) -> None:
    maria = enrol(world.acme, program)
    for index in range(5):
        conversion = post_conversion(client, key, order_id=f"O{index}")
        with tenancy.merchant_context(world.acme):
            Conversion.objects.filter(pk=conversion.pk).update(program=program, advocate=maria)
    call(client, "get", "/api/v1/conversions", key)

    # the key lookup, then the page with its programs, advocates, referrals and versions,
    # then the rewards of the whole page in one query (rewards.selectors.rewards_for_conversions)
    with django_assert_num_queries(3):
        response = call(client, "get", "/api/v1/conversions", key)

    assert [c["advocate"] for c in response.json()["data"]] == [maria.public_id] * 5


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (order(order_id=...), "order_id"),
        (order(amount="89.00"), "amount"),
        (order(amount=-1), "amount"),
        (order(amount=True), "amount"),
        (order(currency="EURO"), "currency"),
        (order(customer={"email": "luca@"}), "customer.email"),
        (order(customer={"email": "l@example.com", "phone": "1"}), "customer.phone"),
        (order(customer="luca@example.com"), "customer"),
        (order(occurred_at="2026-01-01T10:00:00"), "occurred_at"),
        (order(occurred_at="yesterday"), "occurred_at"),
        (order(new_customer="yes"), "new_customer"),
        (order(metadata=[1]), "metadata"),
        (order(coupon="X"), "coupon"),
        (order(code="no spaces please"), "code"),
    ],
)
def test_invalid_conversion_is_400_naming_the_field_and_writes_nothing(
    client: Client, world: World, key: str, body: dict[str, Any], param: str
) -> None:
    response = call(client, "post", "/api/v1/conversions", key, body)

    assert response.status_code == 400, response.json()
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["param"] == param
    assert Conversion.unscoped_all_merchants.count() == 0


@pytest.mark.parametrize("raw", ["{", '{"order_id": }', "[1, 2]", '"text"', "null", "12"])
def test_a_body_that_is_not_a_json_object_is_400(
    client: Client, world: World, key: str, raw: str
) -> None:
    for path in ("/api/v1/conversions", "/api/v1/advocates", "/api/v1/clicks", "/api/v1/referrals"):
        response = call(client, "post", path, key, raw)

        assert response.status_code == 400, (path, raw)
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert snapshot(world.acme)["Conversion"] == []


def test_a_body_over_64_kb_is_413_and_writes_nothing(
    client: Client, world: World, key: str
) -> None:
    huge = order(customer={"email": "l@example.com", "name": "x" * 70_000})
    for path in ("/api/v1/conversions", "/api/v1/advocates", "/api/v1/clicks", "/api/v1/referrals"):
        response = call(client, "post", path, key, huge)

        assert response.status_code == 413, path
        assert response.json()["error"]["code"] == "payload_too_large"
    assert Conversion.unscoped_all_merchants.count() == 0


def test_200_concurrent_posts_of_one_order_make_one_conversion(
    live_server: Any, transactional_db: None, world: World, settings: Any
) -> None:
    settings.API_RATE_LIMIT_SECRET = 100_000  # this test is about the race, not the limiter
    key = make_key(world.acme).plaintext
    url = f"{live_server.url}/api/v1/conversions"
    body = order(order_id="ORD-RACE")

    def post(_: int) -> tuple[int, str]:
        response = requests.post(
            url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )
        return response.status_code, response.json().get("id", response.text)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(200)))

    assert Conversion.unscoped_all_merchants.filter(order_id="ORD-RACE").count() == 1
    conversion = Conversion.unscoped_all_merchants.get(order_id="ORD-RACE")
    assert {code for code, _ in answers} <= {200, 202}, answers
    assert [code for code, _ in answers].count(202) == 1
    assert {conversion_id for _, conversion_id in answers} == {conversion.public_id}


# --- Refunds ---------------------------------------------------------------------------------


def test_partial_then_full_refund(client: Client, world: World, key: str) -> None:
    conversion = post_conversion(client, key, amount=10_000)
    path = f"/api/v1/conversions/{conversion.public_id}/refunds"

    partial = call(client, "post", path, key, {"amount": 2500, "external_id": "re_1"})
    after_partial = call(client, "get", f"/api/v1/conversions/{conversion.public_id}", key).json()
    full = call(client, "post", path, key, {})
    after_full = call(client, "get", f"/api/v1/conversions/{conversion.public_id}", key).json()

    assert partial.status_code == 201, partial.json()
    refund = Refund.unscoped_all_merchants.get(external_id="re_1")
    assert partial.json() == {
        "id": refund.public_id,
        "object": "refund",
        "livemode": True,
        "conversion": conversion.public_id,
        "amount": 2500,
        "external_id": "re_1",
        "created_at": partial.json()["created_at"],
    }
    assert (after_partial["refunded_amount"], after_partial["status"]) == (2500, "received")
    assert full.status_code == 201
    assert full.json()["amount"] == 7500
    assert (after_full["refunded_amount"], after_full["status"]) == (10_000, "refunded")


def test_over_refund_and_refund_of_a_refunded_order_are_400_and_change_nothing(
    client: Client, world: World, key: str
) -> None:
    conversion = post_conversion(client, key, amount=1000)
    path = f"/api/v1/conversions/{conversion.public_id}/refunds"
    call(client, "post", path, key, {"amount": 400})
    before = snapshot(world.acme)

    over = call(client, "post", path, key, {"amount": 601})
    bad = [call(client, "post", path, key, {"amount": value}) for value in (0, -5, "6", 1.5)]
    unknown = call(client, "post", path, key, {"amount": 1, "reason": "x"})

    assert over.status_code == 400
    assert over.json()["error"]["param"] == "amount"
    assert [r.json()["error"]["param"] for r in bad] == ["amount"] * 4
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "reason"
    assert snapshot(world.acme) == before

    assert call(client, "post", path, key, {}).status_code == 201
    done = snapshot(world.acme)
    again = call(client, "post", path, key, {})
    assert again.status_code == 400
    assert again.json()["error"]["param"] == "amount"
    assert snapshot(world.acme) == done


def test_concurrent_refunds_never_exceed_the_amount(
    live_server: Any, transactional_db: None, world: World, settings: Any
) -> None:
    settings.API_RATE_LIMIT_SECRET = 100_000
    key = make_key(world.acme).plaintext
    headers = {"Authorization": f"Bearer {key}"}
    created = requests.post(
        f"{live_server.url}/api/v1/conversions",
        json=order(amount=1000),
        headers=headers,
        timeout=30,
    )
    url = f"{live_server.url}/api/v1/conversions/{created.json()['id']}/refunds"

    def refund(_: int) -> int:
        return requests.post(url, json={"amount": 300}, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(refund, range(8)))

    conversion = Conversion.unscoped_all_merchants.get()
    assert sorted(codes) == [201] * 3 + [400] * 5
    assert conversion.refunded_amount == 900
    assert Refund.unscoped_all_merchants.count() == 3


# --- Keys, tenants, CORS ---------------------------------------------------------------------


def test_publishable_key_may_enrol_click_and_refer_from_an_allowed_origin(
    client: Client, world: World, pk: str, program: Program
) -> None:
    enrolled = call(
        client,
        "post",
        "/api/v1/advocates",
        pk,
        {"program": program.public_id, "email": "maria@example.com"},
        HTTP_ORIGIN=ORIGIN,
    )
    code = enrolled.json()["code"]
    clicked = call(client, "post", "/api/v1/clicks", pk, {"code": code}, HTTP_ORIGIN=ORIGIN)
    referred = call(
        client,
        "post",
        "/api/v1/referrals",
        pk,
        {"click_id": clicked.json()["id"], "email": "luca@example.com"},
        HTTP_ORIGIN=ORIGIN,
    )
    elsewhere = call(
        client, "post", "/api/v1/clicks", pk, {"code": code}, HTTP_ORIGIN="https://evil.example"
    )

    assert [enrolled.status_code, clicked.status_code, referred.status_code] == [201, 201, 201]
    # A publishable key is public: it never gets anyone's portal link.
    assert enrolled.json()["portal_url"] is None
    assert enrolled.json()["referral_url"].endswith(f"/r/{code}")
    for response in (enrolled, clicked, referred):
        assert response["Access-Control-Allow-Origin"] == ORIGIN
        assert "Origin" in response["Vary"]
    assert elsewhere.status_code == 403
    assert "Access-Control-Allow-Origin" not in elsewhere
    assert Click.unscoped_all_merchants.count() == 1


def test_publishable_key_is_403_on_conversions_refunds_and_reads_and_changes_nothing(
    client: Client, world: World, key: str, pk: str, program: Program
) -> None:
    maria = enrol(world.acme, program)
    conversion = post_conversion(client, key)
    before = snapshot(world.acme)

    answers = [
        call(client, method, path, pk, body, HTTP_ORIGIN=ORIGIN)
        for method, path, body in [
            ("post", "/api/v1/conversions", order(order_id="NEW")),
            ("get", "/api/v1/conversions", None),
            ("get", f"/api/v1/conversions/{conversion.public_id}", None),
            ("post", f"/api/v1/conversions/{conversion.public_id}/refunds", {}),
            ("get", "/api/v1/advocates", None),
            ("get", f"/api/v1/advocates/{maria.public_id}", None),
        ]
    ]

    assert [a.status_code for a in answers] == [403] * 6
    assert {a.json()["error"]["type"] for a in answers} == {"permission_error"}
    # Conversions are not for browsers: no CORS header even for an allowed origin.
    assert all("Access-Control-Allow-Origin" not in a for a in answers[:4])
    assert snapshot(world.acme) == before


def test_secret_key_responses_carry_no_cors_allow_origin(
    client: Client, world: World, key: str, program: Program
) -> None:
    maria = enrol(world.acme, program)

    response = call(client, "post", "/api/v1/clicks", key, {"code": maria.code}, HTTP_ORIGIN=ORIGIN)

    assert response.status_code == 201
    assert "Access-Control-Allow-Origin" not in response


def test_outsider_key_gets_404_on_conversion_routes_and_changes_nothing(
    client: Client, world: World, key: str, program: Program
) -> None:
    maria = enrol(world.acme, program)
    conversion = post_conversion(client, key)
    outsider = make_key(world.globex).plaintext
    before = snapshot(world.acme)

    answers = [
        call(client, "get", f"/api/v1/advocates/{maria.public_id}", outsider),
        call(client, "get", f"/api/v1/conversions/{conversion.public_id}", outsider),
        call(client, "post", f"/api/v1/conversions/{conversion.public_id}/refunds", outsider, {}),
        call(client, "post", "/api/v1/clicks", outsider, {"code": maria.code}),
    ]
    listed = call(client, "get", "/api/v1/conversions", outsider)

    assert [a.status_code for a in answers[:3]] == [404] * 3
    assert answers[3].status_code == 400  # another merchant's code is no code at all
    assert listed.json() == {"data": [], "next_cursor": None}
    assert snapshot(world.acme) == before


@pytest.mark.parametrize("path", ["/api/v1/advocates", "/api/v1/clicks", "/api/v1/referrals"])
def test_cors_preflight_is_answered_without_a_key(client: Client, world: World, path: str) -> None:
    response = client.options(
        path,
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Access-Control-Allow-Methods"] == "POST"
    assert (
        response["Access-Control-Allow-Headers"] == "Authorization, Content-Type, Idempotency-Key"
    )
    assert response["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize("path", ["/api/v1/conversions", "/api/v1/programs"])
def test_no_preflight_for_secret_key_endpoints(client: Client, world: World, path: str) -> None:
    response = client.options(path, HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")

    assert "Access-Control-Allow-Origin" not in response
    assert response.status_code == 401


def test_an_idempotency_key_replays_a_click_with_its_cors_header(
    client: Client, world: World, pk: str, program: Program
) -> None:
    maria = enrol(world.acme, program)
    answers = [
        call(
            client,
            "post",
            "/api/v1/clicks",
            pk,
            {"code": maria.code},
            HTTP_ORIGIN=ORIGIN,
            HTTP_IDEMPOTENCY_KEY="click-1",
        )
        for _ in range(2)
    ]

    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert answers[1]["Access-Control-Allow-Origin"] == ORIGIN
    assert Click.unscoped_all_merchants.count() == 1


@pytest.mark.parametrize(
    "query", ["advocates?email=a%00b", "advocates?program=p%00", "conversions?program=p%00"]
)
def test_a_nul_character_in_a_filter_is_400_not_500(
    client: Client, world: World, key: str, query: str
) -> None:
    response = call(client, "get", f"/api/v1/{query}", key)

    assert response.status_code == 400
    assert response.json()["error"]["param"] in {"email", "program"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "advocates/adv%00x"),
        ("get", "conversions/conv%00x"),
        ("post", "conversions/conv%00x/refunds"),
    ],
)
def test_a_nul_character_in_an_id_is_404_not_500(
    client: Client, world: World, key: str, method: str, path: str
) -> None:
    response = call(client, method, f"/api/v1/{path}", key, {})

    assert response.status_code == 404


def test_nul_in_any_object_id_is_404_not_500(client: Client, world: World) -> None:
    key = make_key(world.acme).plaintext
    for path in ("/api/v1/programs/p%00", "/api/v1/conversions/c%00", "/api/v1/advocates/a%00"):
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "resource_missing"
