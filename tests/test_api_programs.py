"""`/api/v1/programs`: create, read, update (with versions), lifecycle actions, validation
through HTTP with the field path named, denial cases that change nothing, and a fuzzed body
that never gets a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import AuditEvent, Merchant
from accounts.services import IssuedKey
from programs.models import Program, ProgramCopy, ProgramStatus, ProgramVersion
from programs.services import program_config
from programs.summary import program_summary
from referral_saas import tenancy
from tests.conftest import World, make_key
from tests.factories import make_program

PROGRAMS = "/api/v1/programs"
RESOURCE_FIELDS = {
    "id",
    "object",
    "livemode",
    "name",
    "slug",
    "type",
    "status",
    "currency",
    "currencies",  # added by the multi-currency programs (tests/test_multicurrency.py)
    "accepted_currencies",
    "default_locale",
    "locales",
    "destination_url",
    "allowed_domains",
    "advocate_reward",
    "friend_reward",
    "tiers",
    "rules",
    "fraud",
    "starts_at",
    "ends_at",
    "version",
    "landing_url",
    "created_at",
    # additions to the contract
    "variants",
    "branding",
    "copy",
    "summary",
    "headline",
    "updated_at",
    "warnings",
}


def call(client: Client, method: str, path: str, key: str, body: Any = None) -> Any:
    payload = json.dumps(body) if body is not None else None
    return getattr(client, method)(
        path, data=payload, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def two_sided(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Give 10, get 10",
        "type": "two_sided",
        "currency": "EUR",
        "destination_url": "https://shop.example.com/",
        "allowed_domains": ["shop.example.com"],
        "advocate_reward": {"kind": "account_credit", "amount": 1000},
        "friend_reward": {"kind": "account_credit", "amount": 1000},
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


def tiered(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Ambassador ladder",
        "type": "tiered",
        "advocate_reward": ...,
        "friend_reward": ...,
        "tiers": [
            {"threshold": 1, "reward": {"kind": "account_credit", "amount": 1000}},
            {"threshold": 5, "reward": {"kind": "cash", "amount": 7500, "fulfilment": "manual"}},
        ],
    }
    return two_sided(**{**body, **changes})


def snapshot(merchant: Merchant) -> dict[str, Any]:
    """Everything a programs request could write, to assert a refused one wrote nothing."""
    with tenancy.merchant_context(merchant):
        return {
            "programs": list(Program.objects.order_by("pk").values()),
            "versions": list(ProgramVersion.objects.order_by("pk").values()),
            "copy": list(ProgramCopy.objects.order_by("pk").values()),
            "audit": AuditEvent.objects.count(),
        }


def version_rows(program: Program) -> list[tuple[int, dict[str, Any]]]:
    with tenancy.merchant_context(program.merchant):
        rows = ProgramVersion.objects.filter(program=program).order_by("number")
        return [(row.number, row.config) for row in rows]


def reload(program: Program) -> Program:
    return Program.unscoped_all_merchants.get(pk=program.pk)


@pytest.fixture
def key(world: World) -> str:
    return make_key(world.acme).plaintext


# --- Create -------------------------------------------------------------------------------------


def test_create_answers_201_with_the_program_resource(
    client: Client, world: World, key: str
) -> None:
    body = two_sided(
        slug="give-10",
        default_locale="it",
        copy={"it": {"headline": "Regala 10 €, ricevi 10 €"}},
        rules={"hold_days": 14, "min_order_amount": 5000},
    )

    response = call(client, "post", PROGRAMS, key, body)

    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) == RESOURCE_FIELDS
    program = Program.unscoped_all_merchants.get(public_id=data["id"])
    assert program.merchant == world.acme
    assert data["id"].startswith("prg_")
    assert {k: data[k] for k in ("object", "name", "slug", "type", "status", "version")} == {
        "object": "program",
        "name": "Give 10, get 10",
        "slug": "give-10",
        "type": "two_sided",
        "status": "draft",
        "version": 1,
    }
    assert data["currency"] == "EUR"
    assert data["locales"] == ["en", "it", "ro", "pl"]
    assert data["default_locale"] == "it"
    assert data["destination_url"] == "https://shop.example.com/"
    assert data["allowed_domains"] == ["shop.example.com"]
    assert data["advocate_reward"] == {
        "kind": "account_credit",
        "amount": 1000,
        "currency": "EUR",
        "fulfilment": "generated_code",
        "code_prefix": "",
        "code_length": 10,
        "expires_after_days": None,
    }
    assert data["tiers"] == []
    assert data["variants"] == []
    assert data["rules"]["hold_days"] == 14
    assert data["rules"]["min_order_amount"] == 5000
    assert data["rules"]["attribution_window_days"] == 30
    assert data["fraud"]["self_referral"] == "reject"
    assert data["fraud"]["same_ip_user_agent"] == "score_only"
    assert data["starts_at"] is None
    assert data["ends_at"] is None
    assert data["landing_url"] == f"{django_settings.PUBLIC_BASE_URL}/p/acme/give-10/"
    assert data["branding"] == {
        "brand_color": "#3b2fc9",
        "accent_color": "#0f7b5f",
        "logo_url": None,
    }
    assert data["copy"] == {
        "it": {"headline": "Regala 10 €, ricevi 10 €", "description": "", "terms": ""}
    }
    assert data["created_at"].endswith("Z")
    # what is stored is what was answered
    assert version_rows(program) == [
        (
            1,
            {
                key: data[key]
                for key in (
                    "advocate_reward",
                    "friend_reward",
                    "tiers",
                    "rules",
                    "fraud",
                    "variants",
                )
            },
        )
    ]
    with tenancy.merchant_context(world.acme):
        events = list(AuditEvent.objects.values_list("action", "target_id"))
    assert ("program.created", data["id"]) in events


def test_the_headline_and_summary_are_in_the_default_locale(
    client: Client, world: World, key: str
) -> None:
    response = call(client, "post", PROGRAMS, key, two_sided())

    data = response.json()
    assert data["headline"] == "Give €10, get €10"
    program = Program.unscoped_all_merchants.get(public_id=data["id"])
    with tenancy.merchant_context(world.acme):
        expected = program_summary(program_config(program), "en", currency="EUR")
    assert data["summary"] == expected != ""


@pytest.mark.parametrize(
    ("body", "program_type"),
    [
        (two_sided(type="one_sided", friend_reward=...), "one_sided"),
        (two_sided(), "two_sided"),
        (tiered(), "tiered"),
    ],
)
def test_create_each_program_type(
    client: Client, world: World, key: str, body: dict[str, Any], program_type: str
) -> None:
    response = call(client, "post", PROGRAMS, key, body)

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["type"] == program_type
    assert (data["friend_reward"] is None) == (program_type != "two_sided")
    assert (data["advocate_reward"] is None) == (program_type == "tiered")
    assert len(data["tiers"]) == (2 if program_type == "tiered" else 0)


@pytest.mark.parametrize(
    ("reward", "expected"),
    [
        (
            {"kind": "percent_discount", "percent": 15},
            {"percent": 15, "fulfilment": "generated_code"},
        ),
        (
            {"kind": "fixed_discount", "amount": 500},
            {"amount": 500, "currency": "EUR", "fulfilment": "generated_code"},
        ),
        (
            {"kind": "account_credit", "amount": 1000, "expires_after_days": 90},
            {"amount": 1000, "currency": "EUR", "expires_after_days": 90},
        ),
        ({"kind": "cash", "amount": 2000}, {"amount": 2000, "fulfilment": "manual"}),
        ({"kind": "points", "points": 500}, {"points": 500, "fulfilment": "manual"}),
        (
            {"kind": "free_product", "label": "Coffee grinder"},
            {"label": "Coffee grinder", "fulfilment": "generated_code"},
        ),
        (
            {"kind": "charity_donation", "amount": 500, "label": "Red Cross"},
            {"amount": 500, "label": "Red Cross", "fulfilment": "manual"},
        ),
    ],
)
def test_create_with_each_reward_kind(
    client: Client, world: World, key: str, reward: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = call(client, "post", PROGRAMS, key, two_sided(advocate_reward=reward))

    assert response.status_code == 201, response.json()
    advocate_reward = response.json()["advocate_reward"]
    assert advocate_reward["kind"] == reward["kind"]
    assert {k: advocate_reward[k] for k in expected} == expected
    assert ("percent" in advocate_reward) == (reward["kind"] == "percent_discount")


# --- Validation through HTTP ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (
            two_sided(friend_reward={"kind": "percent_discount", "percent": 101}),
            "friend_reward.percent",
            "Must be between 1 and 100.",
        ),
        (
            two_sided(friend_reward={"kind": "percent_discount", "percent": 10, "amount": 100}),
            "friend_reward.percent",
            "Give a percent or an amount, never both.",
        ),
        (
            tiered(
                tiers=[
                    {"threshold": 5, "reward": {"kind": "account_credit", "amount": 1000}},
                    {"threshold": 5, "reward": {"kind": "account_credit", "amount": 2000}},
                ]
            ),
            "tiers[1].threshold",
            "Tiers must strictly increase: 5 is not above 5.",
        ),
        (
            two_sided(friend_reward=...),
            "friend_reward",
            "A two-sided program needs a friend reward.",
        ),
        (
            two_sided(destination_url="https://evil.example.net/"),
            "destination_url",
            "evil.example.net is not among the allowed domains (shop.example.com).",
        ),
        (
            two_sided(rules={"hold_days": 91}),
            "rules.hold_days",
            "Must be between 0 and 90.",
        ),
        (
            two_sided(currency="XYZ"),
            "currency",
            "Must be an ISO-4217 currency code such as EUR.",
        ),
        (
            two_sided(locales=["en", "it"], default_locale="pl"),
            "default_locale",
            "The default language must be one of the program's languages (English, Italian).",
        ),
        (two_sided(colour="red"), "colour", "Unknown field."),
        (
            two_sided(advocate_reward={"kind": "account_credit", "amount": "1000"}),
            "advocate_reward.amount",
            "Must be a whole number (money is in minor units, e.g. 1000 = €10).",
        ),
    ],
    ids=[
        "percent-over-100",
        "percent-and-amount",
        "tiers-not-increasing",
        "two-sided-without-friend-reward",
        "destination-outside-allowed-domains",
        "hold-days-91",
        "unknown-currency",
        "default-locale-not-in-locales",
        "unknown-top-level-field",
        "amount-as-a-string",
    ],
)
def test_invalid_create_is_400_naming_the_field_and_writes_nothing(
    client: Client, world: World, key: str, body: dict[str, Any], param: str, message: str
) -> None:
    before = snapshot(world.acme)

    response = call(client, "post", PROGRAMS, key, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert {k: error[k] for k in ("type", "code", "param", "message")} == {
        "type": "invalid_request_error",
        "code": "invalid",
        "param": param,
        "message": message,
    }
    assert error["errors"][0] == {"param": param, "message": message, "code": "invalid"}
    assert snapshot(world.acme) == before


def test_every_problem_is_listed_in_errors(client: Client, world: World, key: str) -> None:
    body = two_sided(
        name="",
        friend_reward={"kind": "percent_discount", "percent": 0},
        rules={"hold_days": -1},
    )

    response = call(client, "post", PROGRAMS, key, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "name"
    assert {problem["param"] for problem in error["errors"]} == {
        "name",
        "friend_reward.percent",
        "rules.hold_days",
    }


def test_stripe_fulfilment_needs_a_connected_stripe_account(
    client: Client, world: World, key: str
) -> None:
    body = two_sided(
        advocate_reward={
            "kind": "account_credit",
            "amount": 1000,
            "fulfilment": "stripe_customer_balance",
        }
    )
    before = snapshot(world.acme)

    refused = call(client, "post", PROGRAMS, key, body)

    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "advocate_reward.fulfilment"
    assert refused.json()["error"]["message"] == (
        "Connect your Stripe account before using a Stripe fulfilment method."
    )
    assert snapshot(world.acme) == before

    # given the merchant connects Stripe
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_account_id="acct_1Test")

    accepted = call(client, "post", PROGRAMS, key, body)

    assert accepted.status_code == 201, accepted.json()
    assert accepted.json()["advocate_reward"]["fulfilment"] == "stripe_customer_balance"


@pytest.mark.parametrize("body", [[], ["name"], "a program", 42, None, True])
def test_a_body_that_is_not_a_json_object_is_400(
    client: Client, world: World, key: str, body: Any
) -> None:
    before = snapshot(world.acme)
    response = client.post(
        PROGRAMS,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "invalid",
            "message": "The request body must be a JSON object.",
            "param": None,
        }
    }
    assert snapshot(world.acme) == before


@pytest.mark.parametrize(
    "raw", ["{", "[" * 50_000, "{" + '"a":' * 50_000 + "1", "1" * 5000, "NaN", "\xff"]
)
def test_malformed_json_is_400(client: Client, world: World, key: str, raw: str) -> None:
    response = client.post(
        PROGRAMS, data=raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_a_nul_character_anywhere_is_400_with_its_path(
    client: Client, world: World, key: str
) -> None:
    before = snapshot(world.acme)
    body = two_sided(advocate_reward={"kind": "free_product", "label": "Grinder\x00"})

    response = call(client, "post", PROGRAMS, key, body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "advocate_reward.label"
    assert snapshot(world.acme) == before


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"starts_at": "2026-02-30T00:00:00Z"}, "starts_at"),
        ({"ends_at": "2026-13-01T00:00:00Z"}, "ends_at"),
        ({"ends_at": "9999-12-31T23:59:59-01:00"}, "ends_at"),
        ({"starts_at": "0001-01-01T00:00:00+01:00"}, "starts_at"),
        ({"destination_url": "https://[shop.example.com/"}, "destination_url"),
    ],
)
def test_impossible_dates_and_urls_are_400_not_500(
    client: Client, world: World, key: str, changes: dict[str, Any], param: str
) -> None:
    before = snapshot(world.acme)

    response = call(client, "post", PROGRAMS, key, two_sided(**changes))

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert snapshot(world.acme) == before


GARBAGE: list[Any] = [
    None,
    "",
    "x" * 5000,
    0,
    -1,
    10**40,
    1.5,
    True,
    [],
    [None],
    [[]],
    {},
    {"": None},
    {"kind": None},
]
FIELDS = [
    "name",
    "slug",
    "type",
    "currency",
    "default_locale",
    "locales",
    "destination_url",
    "allowed_domains",
    "starts_at",
    "ends_at",
    "branding",
    "copy",
    "advocate_reward",
    "friend_reward",
    "tiers",
    "rules",
    "fraud",
    "variants",
]


@pytest.mark.parametrize("field", FIELDS)
def test_garbage_in_any_field_is_never_a_500(
    client: Client, world: World, key: str, field: str
) -> None:
    program = make_program(world.acme, status=ProgramStatus.ACTIVE)
    for value in GARBAGE:
        before = snapshot(world.acme)
        created = call(client, "post", PROGRAMS, key, {**two_sided(slug="other"), field: value})
        assert created.status_code in {201, 400}, (field, value, created.content)
        if created.status_code == 400:
            assert snapshot(world.acme) == before, (field, value)
        else:
            Program.unscoped_all_merchants.filter(public_id=created.json()["id"]).delete()
        updated = call(client, "patch", f"{PROGRAMS}/{program.public_id}", key, {field: value})
        assert updated.status_code in {200, 400}, (field, value, updated.content)


NESTED = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
REWARD = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(
            ["percent_discount", "fixed_discount", "cash", "points", "free_product", "x"]
        )
        | NESTED,
        "percent": st.integers(min_value=-5, max_value=120) | NESTED,
        "amount": st.integers(min_value=-5, max_value=10**12) | NESTED,
        "points": NESTED,
        "label": st.text(max_size=200) | NESTED,
        "currency": st.sampled_from(["EUR", "USD", "eur"]) | NESTED,
        "fulfilment": st.sampled_from(["generated_code", "manual", "stripe_transfer"]) | NESTED,
        "expires_after_days": NESTED,
        "code_prefix": NESTED,
        "code_length": NESTED,
        "code_pool": NESTED,
    },
)
BODY = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=150) | NESTED,
        "slug": st.from_regex(r"[a-z0-9-]{0,70}", fullmatch=True) | NESTED,
        "type": st.sampled_from(["one_sided", "two_sided", "tiered"]) | NESTED,
        "currency": st.sampled_from(["EUR", "JPY", "XXX"]) | NESTED,
        "default_locale": st.sampled_from(["en", "it", "de"]) | NESTED,
        "locales": st.lists(st.sampled_from(["en", "it", "ro", "pl", "de"]), max_size=5) | NESTED,
        "destination_url": st.sampled_from(
            ["https://shop.example.com/", "http://[::1", "ftp://x", "https://shop.example.com/\x00"]
        )
        | NESTED,
        "allowed_domains": st.lists(st.sampled_from(["shop.example.com", "-bad-", ""])) | NESTED,
        "starts_at": st.sampled_from(["2026-01-01T00:00:00Z", "2026-02-31T00:00:00Z", "now"])
        | NESTED,
        "ends_at": NESTED,
        "branding": st.fixed_dictionaries({}, optional={"brand_color": NESTED}) | NESTED,
        "copy": st.dictionaries(st.sampled_from(["en", "it", "xx"]), NESTED, max_size=2) | NESTED,
        "advocate_reward": REWARD | NESTED,
        "friend_reward": REWARD | NESTED,
        "tiers": st.lists(
            st.fixed_dictionaries(
                {}, optional={"threshold": NESTED, "reward": REWARD, "repeat": NESTED}
            ),
            max_size=3,
        )
        | NESTED,
        "rules": st.dictionaries(
            st.sampled_from(["hold_days", "budget_amount", "max_rewards_period", "bogus"]),
            NESTED,
        )
        | NESTED,
        "fraud": st.dictionaries(
            st.sampled_from(["self_referral", "same_ip_user_agent", "thresholds"]), NESTED
        )
        | NESTED,
        "variants": st.lists(NESTED, max_size=6) | NESTED,
        "status": NESTED,
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(extra=BODY)
def test_fuzzed_bodies_get_201_or_a_400_that_wrote_nothing(
    client: Client, world: World, key: str, extra: dict[str, Any]
) -> None:
    before = snapshot(world.acme)

    response = call(client, "post", PROGRAMS, key, {**two_sided(), **extra})

    assert response.status_code in {201, 400}, response.content
    if response.status_code == 400:
        assert snapshot(world.acme) == before
        assert response.json()["error"]["param"] is None or isinstance(
            response.json()["error"]["param"], str
        )
    else:
        # leave the slug free for the next example
        Program.unscoped_all_merchants.filter(public_id=response.json()["id"]).delete()


# --- Read --------------------------------------------------------------------------------------


def test_retrieve_shows_the_current_configuration_and_copy(
    client: Client, world: World, key: str
) -> None:
    program = make_program(world.acme)
    with tenancy.merchant_context(world.acme):
        ProgramCopy.objects.create(program=program, locale="en", headline="Hello")

    response = call(client, "get", f"{PROGRAMS}/{program.public_id}", key)

    assert response.status_code == 200
    data = response.json()
    assert data["id"] == program.public_id
    assert data["copy"] == {"en": {"headline": "Hello", "description": "", "terms": ""}}
    assert data["friend_reward"]["kind"] == "fixed_discount"
    assert data["version"] == 1


def test_list_filters_by_status_and_type(client: Client, world: World, key: str) -> None:
    draft = make_program(world.acme, slug="a", status=ProgramStatus.DRAFT, type="one_sided")
    active = make_program(world.acme, slug="b", status=ProgramStatus.ACTIVE, type="one_sided")
    tiered_active = make_program(world.acme, slug="c", status=ProgramStatus.ACTIVE, type="tiered")
    make_program(world.globex, slug="a", status=ProgramStatus.ACTIVE, type="one_sided")

    def ids(query: str) -> list[str]:
        response = call(client, "get", f"{PROGRAMS}{query}", key)
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["data"]]

    assert ids("") == [tiered_active.public_id, active.public_id, draft.public_id]
    assert ids("?status=active") == [tiered_active.public_id, active.public_id]
    assert ids("?status=draft") == [draft.public_id]
    assert ids("?type=one_sided") == [active.public_id, draft.public_id]
    assert ids("?status=active&type=tiered") == [tiered_active.public_id]
    assert ids("?status=archived") == []


@pytest.mark.parametrize(("query", "param"), [("status=live", "status"), ("type=both", "type")])
def test_list_filters_are_validated(
    client: Client, world: World, key: str, query: str, param: str
) -> None:
    response = call(client, "get", f"{PROGRAMS}?{query}", key)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["code"] == "invalid"


def test_list_query_count_is_pinned(
    client: Client, world: World, key: str, django_assert_num_queries: Any
) -> None:
    for index in range(5):
        program = make_program(
            world.acme, slug=f"p{index}", type=["one_sided", "tiered"][index % 2]
        )
        with tenancy.merchant_context(world.acme):
            ProgramCopy.objects.create(program=program, locale="en", headline=f"H{index}")
            ProgramCopy.objects.create(program=program, locale="it", headline=f"T{index}")
    call(client, "get", PROGRAMS, key)  # warm the key's last-used stamp (written once a minute)

    # key lookup, the page of programs, their current versions, their copy
    with django_assert_num_queries(4):
        response = call(client, "get", PROGRAMS, key)

    assert response.status_code == 200
    assert len(response.json()["data"]) == 5
    assert all(len(item["copy"]) == 2 for item in response.json()["data"])


# --- Update and versions --------------------------------------------------------------------


def test_patch_on_a_draft_edits_version_1_in_place(client: Client, world: World, key: str) -> None:
    program = make_program(world.acme, status=ProgramStatus.DRAFT)

    response = call(
        client, "patch", f"{PROGRAMS}/{program.public_id}", key, {"rules": {"hold_days": 14}}
    )

    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 1
    assert response.json()["rules"]["hold_days"] == 14
    rows = version_rows(program)
    assert [number for number, _ in rows] == [1]
    assert rows[0][1]["rules"]["hold_days"] == 14


def test_patch_of_an_active_programs_rules_adds_version_2(
    client: Client, world: World, key: str
) -> None:
    program = make_program(world.acme, status=ProgramStatus.ACTIVE)
    [(_, original)] = version_rows(program)

    response = call(
        client,
        "patch",
        f"{PROGRAMS}/{program.public_id}",
        key,
        {"rules": {"hold_days": 14}, "fraud": {"velocity": "reject"}},
    )

    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2
    fetched = call(client, "get", f"{PROGRAMS}/{program.public_id}", key).json()
    assert fetched["version"] == 2
    assert fetched["rules"]["hold_days"] == 14
    assert fetched["rules"]["attribution_window_days"] == 30  # rules merge key by key
    assert fetched["fraud"]["velocity"] == "reject"
    rows = version_rows(program)
    assert rows[0] == (1, original)  # the old version is untouched
    assert rows[1][0] == 2
    assert rows[1][1]["rules"]["hold_days"] == 14


def test_patch_of_the_name_only_does_not_add_a_version(
    client: Client, world: World, key: str
) -> None:
    program = make_program(world.acme, status=ProgramStatus.ACTIVE)
    before = version_rows(program)

    response = call(
        client, "patch", f"{PROGRAMS}/{program.public_id}", key, {"name": "Give 15, get 15"}
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Give 15, get 15"
    assert response.json()["version"] == 1
    assert version_rows(program) == before
    assert reload(program).name == "Give 15, get 15"


def test_a_fetched_program_can_be_sent_back_unchanged(
    client: Client, world: World, key: str
) -> None:
    program = make_program(world.acme, status=ProgramStatus.ACTIVE)
    fetched = call(client, "get", f"{PROGRAMS}/{program.public_id}", key).json()

    response = call(client, "patch", f"{PROGRAMS}/{program.public_id}", key, fetched)

    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 1
    assert len(version_rows(program)) == 1


@pytest.mark.parametrize(
    ("change", "param"), [({"type": "one_sided"}, "type"), ({"currency": "USD"}, "currency")]
)
def test_type_and_currency_are_fixed_after_activation(
    client: Client, world: World, key: str, change: dict[str, Any], param: str
) -> None:
    program = make_program(world.acme, status=ProgramStatus.ACTIVE)
    before = snapshot(world.acme)

    response = call(client, "patch", f"{PROGRAMS}/{program.public_id}", key, change)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["message"] == (
        f"The {param} of a program that has been live cannot change; duplicate the program instead."
    )
    assert snapshot(world.acme) == before


def test_invalid_patch_writes_nothing(client: Client, world: World, key: str) -> None:
    program = make_program(world.acme, status=ProgramStatus.ACTIVE)
    before = snapshot(world.acme)

    response = call(
        client,
        "patch",
        f"{PROGRAMS}/{program.public_id}",
        key,
        {"name": "Renamed", "rules": {"hold_days": 91}},
    )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "rules.hold_days"
    assert snapshot(world.acme) == before


# --- Lifecycle -------------------------------------------------------------------------------


def test_lifecycle_transitions(client: Client, world: World, key: str) -> None:
    program = make_program(world.acme, status=ProgramStatus.DRAFT)
    path = f"{PROGRAMS}/{program.public_id}"

    for action, status in [
        ("activate", "active"),
        ("pause", "paused"),
        ("activate", "active"),
        ("archive", "archived"),
    ]:
        response = call(client, "post", f"{path}/{action}", key)
        assert response.status_code == 200, (action, response.json())
        assert response.json()["status"] == status
        assert reload(program).status == status

    with tenancy.merchant_context(world.acme):
        actions = list(
            AuditEvent.objects.filter(target_id=program.public_id)
            .order_by("pk")
            .values_list("action", flat=True)
        )
    assert actions == [
        "program.activated",
        "program.paused",
        "program.activated",
        "program.archived",
    ]


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (ProgramStatus.ARCHIVED, "activate"),
        (ProgramStatus.DRAFT, "pause"),
        (ProgramStatus.ARCHIVED, "archive"),
        (ProgramStatus.PAUSED, "pause"),
    ],
)
def test_an_invalid_transition_is_400_on_status(
    client: Client, world: World, key: str, status: str, action: str
) -> None:
    program = make_program(world.acme, status=status)
    before = snapshot(world.acme)

    response = call(client, "post", f"{PROGRAMS}/{program.public_id}/{action}", key)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "status"
    assert error["message"] == f"A {status} program cannot {action}."
    assert snapshot(world.acme) == before


def test_archive_then_activate_is_refused(client: Client, world: World, key: str) -> None:
    program = make_program(world.acme, status=ProgramStatus.ACTIVE)
    path = f"{PROGRAMS}/{program.public_id}"
    assert call(client, "post", f"{path}/archive", key).status_code == 200

    response = call(client, "post", f"{path}/activate", key)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "status"
    assert reload(program).status == ProgramStatus.ARCHIVED


def test_an_archived_program_cannot_be_edited(client: Client, world: World, key: str) -> None:
    program = make_program(world.acme, status=ProgramStatus.ARCHIVED)
    before = snapshot(world.acme)

    response = call(client, "patch", f"{PROGRAMS}/{program.public_id}", key, {"name": "Again"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "status"
    assert snapshot(world.acme) == before


def test_duplicate_answers_201_with_a_new_draft(client: Client, world: World, key: str) -> None:
    program = make_program(world.acme, status=ProgramStatus.ACTIVE)
    with tenancy.merchant_context(world.acme):
        ProgramCopy.objects.create(program=program, locale="en", headline="Hello")
    call(client, "patch", f"{PROGRAMS}/{program.public_id}", key, {"rules": {"hold_days": 7}})

    response = call(client, "post", f"{PROGRAMS}/{program.public_id}/duplicate", key)

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"] != program.public_id
    assert (data["name"], data["slug"], data["status"], data["version"]) == (
        "Give 10, get 10 (copy)",
        "give-10-copy",
        "draft",
        1,
    )
    assert data["rules"]["hold_days"] == 7
    assert data["copy"] == {"en": {"headline": "Hello", "description": "", "terms": ""}}
    original = reload(program)
    assert (original.status, original.version) == (ProgramStatus.ACTIVE, 2)


# --- Who may call ------------------------------------------------------------------------------


def test_publishable_key_is_403_and_changes_nothing(client: Client, world: World) -> None:
    program = make_program(world.acme, status=ProgramStatus.DRAFT)
    publishable = make_key(world.acme, "publishable", ["https://shop.example.com"]).plaintext
    before = snapshot(world.acme)
    path = f"{PROGRAMS}/{program.public_id}"

    answers = [
        client.generic(
            method,
            url,
            json.dumps(body) if body is not None else "",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {publishable}",
            HTTP_ORIGIN="https://shop.example.com",
        )
        for method, url, body in [
            ("GET", PROGRAMS, None),
            ("POST", PROGRAMS, two_sided(slug="other")),
            ("GET", path, None),
            ("PATCH", path, {"name": "Mine now"}),
            ("POST", f"{path}/activate", None),
            ("POST", f"{path}/duplicate", None),
        ]
    ]

    assert [answer.status_code for answer in answers] == [403] * 6
    assert {answer.json()["error"]["type"] for answer in answers} == {"permission_error"}
    assert snapshot(world.acme) == before


def test_another_merchants_program_is_404_like_a_missing_one_and_unchanged(
    client: Client, world: World
) -> None:
    program = make_program(world.acme, status=ProgramStatus.DRAFT)
    outsider = make_key(world.globex).plaintext
    before = snapshot(world.acme)
    missing = "prg_" + "0" * 20

    for method, suffix, body in [
        ("get", "", None),
        ("patch", "", {"name": "Stolen"}),
        ("post", "/activate", None),
        ("post", "/pause", None),
        ("post", "/archive", None),
        ("post", "/duplicate", None),
    ]:
        theirs = call(client, method, f"{PROGRAMS}/{program.public_id}{suffix}", outsider, body)
        nowhere = call(client, method, f"{PROGRAMS}/{missing}{suffix}", outsider, body)
        assert theirs.status_code == 404, (method, suffix)
        assert (
            theirs.json()
            == nowhere.json()
            == {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": "No such program.",
                    "param": None,
                }
            }
        )

    assert snapshot(world.acme) == before
    listed = call(client, "get", PROGRAMS, outsider).json()
    assert listed == {"data": [], "next_cursor": None}


def test_api_changes_are_audited_as_the_key_that_made_them(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    response = client.post(
        "/api/v1/programs",
        data=_TWO_SIDED_FOR_AUDIT,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {acme_secret.plaintext}",
    )
    assert response.status_code == 201
    with tenancy.merchant_context(world.acme):
        event = AuditEvent.objects.get(action="program.created")
    assert event.actor_label == f"API key {acme_secret.key.masked}"
    assert event.actor_user_id is None


_TWO_SIDED_FOR_AUDIT = {
    "name": "Audited",
    "type": "one_sided",
    "currency": "EUR",
    "destination_url": "https://shop.example.com/",
    "allowed_domains": ["shop.example.com"],
    "advocate_reward": {"kind": "account_credit", "amount": 1000},
}
