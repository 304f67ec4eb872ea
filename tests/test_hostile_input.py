"""What an outside attacker found (issue 20), each reproduced here before it was fixed.

1. Invalid Unicode (a lone UTF-16 surrogate, NUL) in any text field of any API operation or
   public form: a 400 naming the field, never a 500 with a traceback, and nothing written.
2. Vanity codes are unique across merchants in the database: two merchants claiming one code at
   once, exactly one gets it; the other is told "This code is already taken."
4. A body over the upload limit on any API route is a 413 in the error envelope, not a 500.
5. A publishable key (public by nature) enrolling a known email reads back the code and links
   only, never that advocate's name, email, customer id or locale; a known friend's referral
   does not say who referred them.
6. The hosted join form's (and "send my link again"'s) 429 carries `Retry-After`.
7. Erasure also clears the fraud evidence on the subject's orders (IP hash and prefix, user
   agent, visitor id, country, payment fingerprint) and on their advocate row (IP hash, visitor
   id), and a merchant's notes that name them.
3. Merchant copy is stored as the text typed: `Coffee & Tea <3` comes back as itself, not as
   `Coffee &amp; Tea &lt;3`, and pages escape it exactly once.
8. The OpenAPI document says what the code enforces: `limit` bounds, amount maxima,
   `additionalProperties: false` on bodies that refuse unknown fields; `{"variants": null}` is
   refused as the schema's array type says; a webhook URL with port 0 is refused.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.services import IssuedKey
from programs.models import Program
from referral_saas import tenancy
from tests.conftest import World, make_key
from tests.factories import make_program
from tracking import links, services
from tracking.models import Advocate, Click, Conversion, Referral, Refund

ORIGIN = "https://shop.example.com"
SURROGATE = "\ud800"


def call(client: Client, method: str, path: str, key: str, body: Any = None, **headers: str) -> Any:
    # json.dumps escapes the surrogate as the six characters `\ud800`, as an attacker sends it.
    payload = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    return client.generic(
        method,
        path,
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **headers,
    )


def counts(world: World) -> tuple[int, ...]:
    with tenancy.merchant_context(world.acme):
        return (
            Advocate.objects.count(),
            Click.objects.count(),
            Referral.objects.count(),
            Conversion.objects.count(),
            Refund.objects.count(),
            Program.objects.count(),
        )


@pytest.fixture
def objects(world: World) -> dict[str, str]:
    program = make_program(world.acme)
    with tenancy.merchant_context(world.acme):
        advocate = services.advocate_enroll(
            program=program, email="maria@example.com", name="Maria"
        ).advocate
        conversion = services.conversion_record(
            order_id="ORD-1",
            amount=8900,
            currency="EUR",
            customer={"email": "luca@example.com"},
            code=advocate.code,
        ).conversion
    return {"program": program.public_id, "code": advocate.code, "conversion": conversion.public_id}


def _bodies(o: dict[str, str]) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, body, the field at fault): one hostile value in each text field."""
    s = SURROGATE
    program, code = o["program"], o["code"]
    enrol = {"program": program, "email": "new@example.com"}
    order = {"order_id": "ORD-9", "amount": 100, "currency": "EUR"}
    return [
        ("POST", "/api/v1/advocates", {**enrol, "name": s}, "name"),
        ("POST", "/api/v1/advocates", {**enrol, "customer_id": "c" + s}, "customer_id"),
        ("POST", "/api/v1/advocates", {**enrol, "locale": s}, "locale"),
        ("POST", "/api/v1/advocates", {**enrol, "email": s + "@example.com"}, "email"),
        ("POST", "/api/v1/advocates", {"program": s, "email": "x@example.com"}, "program"),
        ("POST", "/api/v1/clicks", {"code": code, "landing_url": f"{ORIGIN}/{s}"}, "landing_url"),
        ("POST", "/api/v1/clicks", {"code": code, "visitor_id": s}, "visitor_id"),
        ("POST", "/api/v1/clicks", {"code": s}, "code"),
        ("POST", "/api/v1/referrals", {"code": code, "email": "f@example.com", "name": s}, "name"),
        (
            "POST",
            "/api/v1/referrals",
            {"code": code, "email": "f@example.com", "customer_id": s},
            "customer_id",
        ),
        ("POST", "/api/v1/referrals", {"code": code, "email": f"f{s}@example.com"}, "email"),
        ("POST", "/api/v1/referrals", {"click_id": s, "email": "f@example.com"}, "click_id"),
        ("POST", "/api/v1/conversions", {**order, "order_id": s}, "order_id"),
        ("POST", "/api/v1/conversions", {**order, "currency": s}, "currency"),
        ("POST", "/api/v1/conversions", {**order, "metadata": {"note": s}}, "metadata.note"),
        ("POST", "/api/v1/conversions", {**order, "user_agent": s}, "user_agent"),
        (
            "POST",
            "/api/v1/conversions",
            {**order, "customer": {"email": "a@example.com", "name": s}},
            "customer.name",
        ),
        (
            "POST",
            f"/api/v1/conversions/{o['conversion']}/refunds",
            {"external_id": s},
            "external_id",
        ),
        ("POST", "/api/v1/programs", {"name": s, "type": "one_sided"}, "name"),
        ("PATCH", f"/api/v1/programs/{program}", {"name": s}, "name"),
        (
            "PATCH",
            f"/api/v1/programs/{program}",
            {"copy": {"en": {"headline": s}}},
            "copy.en.headline",
        ),
        ("POST", "/api/v1/webhook-endpoints", {"url": f"https://example.com/{s}"}, "url"),
        (
            "POST",
            "/api/v1/webhook-endpoints",
            {"url": "https://example.com/", "description": s},
            "description",
        ),
        ("POST", "/api/v1/privacy/export", {"email": s}, "email"),
        ("POST", "/api/v1/privacy/erase", {"email": s}, "email"),
        ("PATCH", "/api/v1/merchant", {"name": s}, "name"),
        (
            "POST",
            "/api/v1/conversions",
            {**order, "metadata": {"a": [1, {"b": s}]}},
            "metadata.a[1].b",
        ),
        ("POST", "/api/v1/conversions", {**order, "metadata": {"nul": "a\x00b"}}, "metadata.nul"),
    ]


def _expect_400_naming(response: Any, field: str | None) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == field
    assert "Unicode" in error["message"] or "NUL" in error["message"]


def test_invalid_unicode_in_any_text_field_of_any_api_operation_is_a_400_naming_it(
    client: Client, world: World, objects: dict[str, str], acme_secret: IssuedKey
) -> None:
    before = counts(world)
    for method, path, body, field in _bodies(objects):
        response = call(client, method, path, acme_secret.plaintext, body)
        assert response.status_code == 400, (method, path, field, response.content)
        _expect_400_naming(response, field)
    assert counts(world) == before


@pytest.mark.parametrize("route", ["/api/v1/advocates", "/api/v1/clicks", "/api/v1/referrals"])
def test_publishable_key_routes_refuse_invalid_unicode_too(
    client: Client, world: World, objects: dict[str, str], route: str
) -> None:
    key = make_key(world.acme, kind="publishable", origins=[ORIGIN])
    before = counts(world)
    for method, path, body, field in _bodies(objects):
        if path != route:
            continue
        response = call(client, method, path, key.plaintext, body, HTTP_ORIGIN=ORIGIN)
        _expect_400_naming(response, field)
    assert counts(world) == before


def test_an_invalid_field_name_is_refused_without_echoing_it(
    client: Client, world: World, objects: dict[str, str], acme_secret: IssuedKey
) -> None:
    body = '{"order_id": "ORD-9", "amount": 100, "currency": "EUR", "metadata": {"\\ud800": 1}}'
    response = call(client, "POST", "/api/v1/conversions", acme_secret.plaintext, body)
    _expect_400_naming(response, "metadata")
    assert response.json()["error"]["message"].startswith("A field name: ")
    response.content.decode("utf-8")  # the answer itself is valid UTF-8


@pytest.mark.parametrize(
    ("path", "query", "param"),
    [
        ("/api/v1/advocates", "email=a%00b", "email"),
        ("/api/v1/rewards", "program=%00", "program"),
        ("/api/v1/programs", "program=%00", "program"),
        ("/api/v1/conversions", "anything=%00", "anything"),
    ],
)
def test_nul_in_any_query_parameter_is_a_400_naming_it(
    client: Client, acme_secret: IssuedKey, path: str, query: str, param: str
) -> None:
    response = client.get(f"{path}?{query}", HTTP_AUTHORIZATION=f"Bearer {acme_secret.plaintext}")
    _expect_400_naming(response, param)


def test_a_query_parameter_over_1000_characters_is_a_400_naming_it(
    client: Client, acme_secret: IssuedKey
) -> None:
    # Found by the fuzz on the embedded default: SQLite refused the 100 kB LIKE pattern (500).
    response = client.get(
        f"/api/v1/advocates?email={'A' * 100_000}",
        HTTP_AUTHORIZATION=f"Bearer {acme_secret.plaintext}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "email"


# --- Public forms -------------------------------------------------------------------------------


@pytest.fixture
def hosted_program(world: World) -> Program:
    world.acme.privacy_policy_url = "https://acme.example.com/privacy"
    world.acme.save()
    return make_program(world.acme, slug="give-10")


@pytest.mark.parametrize("field", ["name", "email", "lang"])
@pytest.mark.parametrize("hostile", ["a\x00b", "%ED%A0%80"])
def test_the_join_form_refuses_invalid_text_as_a_form_error(
    client: Client, world: World, hosted_program: Program, field: str, hostile: str
) -> None:
    data = {
        "email": "maria@example.com",
        "name": "Maria",
        "consent": "yes",
        "lang": "en",
        "token": links.form_token(hosted_program),
    }
    body = "&".join(f"{name}={value}" for name, value in data.items() if name != field)
    body += f"&{field}={hostile}"  # raw bytes: %ED%A0%80 is the UTF-8 shape of a surrogate
    response = client.post(
        "/p/acme/give-10/join", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in {302, 400}, response.content[:300]
    with tenancy.merchant_context(world.acme):
        stored = list(Advocate.objects.values_list("email", "name"))
    for email, name in stored:
        assert "\x00" not in email + name
    if hostile == "a\x00b" and field in {"name", "email"}:
        assert response.status_code == 400
        assert stored == []


def _public_forms(world: World, program: Program) -> list[tuple[str, dict[str, str]]]:
    """Every public form (no login): its path and a valid submission."""
    from hosted.models import HostedSettings

    with tenancy.merchant_context(world.acme):
        HostedSettings.objects.update_or_create(
            program=program, defaults={"friend_email_capture": True, "friend_emails_enabled": True}
        )
        advocate = services.advocate_enroll(
            program=program, email="maria@example.com", name="Maria"
        ).advocate
    token = links.form_token(program)
    portal = links.portal_url(advocate).replace("http://127.0.0.1:8000", "")
    return [
        (
            "/p/acme/give-10/join",
            {
                "email": "new@example.com",
                "name": "N",
                "consent": "yes",
                "lang": "en",
                "token": token,
            },
        ),
        ("/p/acme/give-10/link", {"email": "maria@example.com", "lang": "en", "token": token}),
        (f"/r/{advocate.code}/claim", {"email": "luca@example.com", "token": token, "click": ""}),
        (portal + "invite", {"emails": "luca@example.com", "token": token}),
        (portal + "new-link", {"email": "maria@example.com", "token": token}),
        (
            "/consent",
            {"program": program.public_id, "choice": "granted", "lang": "en", "next": "/"},
        ),
    ]


@pytest.mark.parametrize("hostile", ["a\x00b", "%ED%A0%80", "\u202egnp.exe", "x" * 100_000])
def test_every_public_form_answers_hostile_text_without_a_server_error(
    client: Client, world: World, hosted_program: Program, hostile: str
) -> None:
    for path, data in _public_forms(world, hosted_program):
        for field in data:
            body = "&".join(
                f"{name}={hostile if name == field else value}" for name, value in data.items()
            )
            response = client.post(path, body, content_type="application/x-www-form-urlencoded")
            assert response.status_code < 500, (path, field, response.status_code)
            with tenancy.merchant_context(world.acme):
                texts = list(Advocate.objects.values_list("email", "name"))
                texts += list(Referral.objects.values_list("email", "name"))
            assert not any("\x00" in text for row in texts for text in row), (path, field)


# --- 2. Codes unique across merchants ----------------------------------------------------------


def _one_advocate_each(world: World) -> tuple[Advocate, Advocate]:
    ours = make_program(world.acme, type="one_sided", slug="one")
    theirs = make_program(world.globex, type="one_sided", slug="one")
    with tenancy.merchant_context(world.acme):
        a = services.advocate_enroll(program=ours, email="maria@example.com").advocate
    with tenancy.merchant_context(world.globex):
        b = services.advocate_enroll(program=theirs, email="luca@example.com").advocate
    return a, b


def test_a_code_taken_after_the_check_is_refused_by_the_database(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hosted import services as hosted_services
    from hosted.models import CodeAlias
    from programs.specs import SpecError

    ours, theirs = _one_advocate_each(world)
    before = theirs.code
    with tenancy.merchant_context(world.acme):
        hosted_services.advocate_set_vanity_code(advocate=ours, code="SPRING")
    # The check before the write lost the race: it saw the code free.
    monkeypatch.setattr(hosted_services, "code_in_use", lambda code: False)

    with tenancy.merchant_context(world.globex), pytest.raises(SpecError) as error:
        hosted_services.advocate_set_vanity_code(advocate=theirs, code="spring")

    assert error.value.errors == {"code": "This code is already taken."}
    with tenancy.merchant_context(world.globex):
        theirs.refresh_from_db()
        assert CodeAlias.objects.count() == 0  # the whole change was undone
    assert theirs.code == before


def test_the_dashboard_form_says_the_code_is_taken(
    world: World, alice_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hosted import services as hosted_services

    ours, theirs = _one_advocate_each(world)
    with tenancy.merchant_context(world.globex):
        hosted_services.advocate_set_vanity_code(advocate=theirs, code="SPRING")
    monkeypatch.setattr(hosted_services, "code_in_use", lambda code: False)

    response = alice_client.post(
        f"/m/acme/programs/{ours.program.public_id}/hosted/",
        {"action": "vanity", "current_code": ours.code, "new_code": "spring"},
    )

    assert response.status_code == 400
    assert "This code is already taken." in response.content.decode()
    with tenancy.merchant_context(world.acme):
        assert Advocate.objects.get(pk=ours.pk).code == ours.code


@pytest.mark.django_db(transaction=True)
def test_two_merchants_claiming_one_code_at_once_exactly_one_gets_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from hosted import services as hosted_services
    from programs.specs import SpecError
    from tests.conftest import on_sqlite

    if on_sqlite():
        pytest.skip("SQLite serialises writers; the race needs concurrent transactions")
    ours, theirs = _one_advocate_each(world)
    checked = threading.Barrier(2, timeout=10)
    original = hosted_services.code_in_use

    def check_then_wait(code: str) -> bool:
        in_use = original(code)
        checked.wait()  # both have seen the code free before either writes
        return in_use

    monkeypatch.setattr(hosted_services, "code_in_use", check_then_wait)

    def claim(advocate: Advocate) -> str:
        try:
            with tenancy.merchant_context(advocate.merchant):
                hosted_services.advocate_set_vanity_code(advocate=advocate, code="SPRING")
            return "ok"
        except SpecError as error:
            return str(error.errors["code"])
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sorted(pool.map(claim, [ours, theirs]))

    assert results == ["This code is already taken.", "ok"]
    holders = list(Advocate.unscoped_all_merchants.filter(code="SPRING"))
    assert len(holders) == 1


def test_the_migration_gives_every_holder_of_a_shared_code_a_fresh_one(world: World) -> None:
    import importlib
    import types

    from django.db import connection

    from tests.conftest import on_sqlite

    if on_sqlite():
        pytest.skip("dropping the constraint inside the test's transaction needs PostgreSQL")
    migration = importlib.import_module(
        "tracking.migrations.0008_advocate_code_unique_across_merchants"
    )
    ours, theirs = _one_advocate_each(world)
    with tenancy.merchant_context(world.acme):
        alone = services.advocate_enroll(program=ours.program, email="solo@example.com").advocate
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the inserts' deferred checks
        cursor.execute("ALTER TABLE tracking_advocate DROP CONSTRAINT advocate_code_unique")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # as in a migration's transaction
    Advocate.unscoped_all_merchants.filter(pk=theirs.pk).update(code="MARIA-AAAAAA")
    Advocate.unscoped_all_merchants.filter(pk=ours.pk).update(code="MARIA-AAAAAA")
    historical = types.SimpleNamespace(objects=Advocate.unscoped_all_merchants)
    apps = types.SimpleNamespace(get_model=lambda app, name: historical)

    migration.resolve_shared_codes(apps, types.SimpleNamespace(connection=connection))

    codes = {
        advocate.pk: advocate.code
        for advocate in Advocate.unscoped_all_merchants.filter(
            pk__in=[ours.pk, theirs.pk, alone.pk]
        )
    }
    assert codes[alone.pk] == alone.code  # not shared: untouched
    assert codes[ours.pk] == migration._fresh_code("MARIA-AAAAAA", ours.public_id, 0)
    assert codes[theirs.pk] == migration._fresh_code("MARIA-AAAAAA", theirs.public_id, 0)
    assert len(set(codes.values())) == 3
    assert all(
        codes[pk].startswith("MARIA-") and len(codes[pk]) == 12 for pk in (ours.pk, theirs.pk)
    )
    with connection.cursor() as cursor:  # the migration's next step now succeeds
        cursor.execute(
            "ALTER TABLE tracking_advocate ADD CONSTRAINT advocate_code_unique UNIQUE (code)"
        )


# --- 4. Bodies over the upload limit -----------------------------------------------------------


def api_routes() -> list[str]:
    """Every `/api/v1/` operation path from the URLconf, parameters filled with a dummy id."""
    import re

    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns: list[Any], prefix: str = "") -> list[str]:
        found: list[str] = []
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                found += walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                found.append(route)
        return found

    routes = [
        "/" + re.sub(r"<[^>]+>", "x_1", route)
        for route in walk(get_resolver().url_patterns)
        if route.startswith("api/v1/") and route not in {"api/v1/schema/", "api/v1/docs/"}
    ]
    assert len(routes) > 20, routes
    return routes


def test_a_body_over_the_upload_limit_is_413_on_every_api_route(
    client: Client, world: World, acme_secret: IssuedKey, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    body = json.dumps({"name": "x" * 100_001})
    before = counts(world)
    for path in api_routes():
        for method in ("POST", "PATCH"):
            response = call(client, method, path, acme_secret.plaintext, body)
            assert response.status_code == 413, (method, path, response.content[:200])
            assert response.json()["error"]["code"] == "payload_too_large"
    assert counts(world) == before


def test_a_program_body_over_the_default_limit_is_413(
    client: Client, world: World, objects: dict[str, str], acme_secret: IssuedKey
) -> None:
    # The attacker's case: 2.5 MB (Django's default) on POST|PATCH /api/v1/programs.
    body = json.dumps({"name": "Big", "type": "one_sided", "description": "x" * 2_700_000})
    for method, path in (
        ("POST", "/api/v1/programs"),
        ("PATCH", f"/api/v1/programs/{objects['program']}"),
    ):
        response = call(client, method, path, acme_secret.plaintext, body)
        assert response.status_code == 413, (method, response.content[:200])
        assert response.json()["error"]["type"] == "invalid_request_error"


# --- 5. What a publishable key reads -----------------------------------------------------------

PUBLIC_ADVOCATE = {"object", "livemode", "program", "code", "referral_url", "qr_url", "portal_url"}


def test_a_publishable_key_enrolling_a_known_email_reads_only_the_code_and_links(
    client: Client, world: World
) -> None:
    program = make_program(world.acme)
    with tenancy.merchant_context(world.acme):
        maria = services.advocate_enroll(
            program=program,
            email="maria.rossi@example.com",
            name="Maria Rossi",
            customer_id="cus_secret_42",
            locale="it",
        ).advocate
    pk = make_key(world.acme, kind="publishable", origins=[ORIGIN]).plaintext
    body = {"program": program.public_id, "email": "MARIA.ROSSI@example.com"}

    response = call(client, "POST", "/api/v1/advocates", pk, body, HTTP_ORIGIN=ORIGIN)

    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == PUBLIC_ADVOCATE
    assert answer["code"] == maria.code
    assert answer["referral_url"].endswith(f"/r/{maria.code}")
    assert answer["portal_url"] is None
    text = response.content.decode()
    for personal in ("Maria Rossi", "maria.rossi", "cus_secret_42", maria.public_id, '"it"'):
        assert personal not in text


def test_a_publishable_key_gets_the_same_shape_for_a_new_advocate_and_a_secret_key_all(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    program = make_program(world.acme)
    pk = make_key(world.acme, kind="publishable", origins=[ORIGIN]).plaintext
    body = {"program": program.public_id, "email": "new@example.com", "name": "Nora"}

    created = call(client, "POST", "/api/v1/advocates", pk, body, HTTP_ORIGIN=ORIGIN)
    full = call(client, "POST", "/api/v1/advocates", acme_secret.plaintext, body)

    assert created.status_code == 201
    assert set(created.json()) == PUBLIC_ADVOCATE
    assert full.status_code == 200
    assert full.json()["name"] == "Nora"
    assert full.json()["email"] == "new@example.com"


def test_a_publishable_key_reporting_a_known_friend_does_not_learn_who_referred_them(
    client: Client, world: World
) -> None:
    program = make_program(world.acme)
    with tenancy.merchant_context(world.acme):
        maria = services.advocate_enroll(program=program, email="maria@example.com").advocate
        first = services.referral_record(
            code=maria.code, email="luca@example.com", name="Luca Bianchi", customer_id="cus_9"
        ).referral
    pk = make_key(world.acme, kind="publishable", origins=[ORIGIN]).plaintext

    response = call(
        client,
        "POST",
        "/api/v1/referrals",
        pk,
        {"code": maria.code, "email": "luca@example.com"},
        HTTP_ORIGIN=ORIGIN,
    )

    assert response.status_code == 200
    body = response.json()
    # The friend's own offer (their code) is theirs to read: it names no advocate.
    offer = body.pop("friend_reward")
    assert body.pop("friend_reward_reason") is None
    assert "advocate" not in offer
    assert body == {
        "id": first.public_id,
        "object": "referral",
        "program": program.public_id,
        "livemode": True,
    }
    for personal in (maria.public_id, "Luca Bianchi", "cus_9", "luca@"):
        assert personal not in response.content.decode()


def test_the_schema_tells_the_public_shapes_apart(client: Client) -> None:
    schema = client.get("/api/v1/schema/?format=json").json()
    components = schema["components"]["schemas"]
    for name in ("PublicAdvocate", "PublicReferral"):
        assert components[name]["additionalProperties"] is False
    created = schema["paths"]["/api/v1/advocates"]["post"]["responses"]["200"]
    assert created["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AdvocateEnrolment"
    }
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in components["AdvocateEnrolment"]["oneOf"]} == {
        "Advocate",
        "PublicAdvocate",
    }


# --- 6. Retry-After on the public forms' 429 ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "limit"), [("/p/acme/give-10/join", 10), ("/p/acme/give-10/link", 5)]
)
def test_the_join_forms_429_says_when_to_try_again(
    client: Client, world: World, hosted_program: Program, path: str, limit: int
) -> None:
    data = {
        "email": "maria@example.com",
        "name": "Maria",
        "consent": "yes",
        "lang": "en",
        "token": links.form_token(hosted_program),
    }
    answers = [client.post(path, data) for _ in range(limit + 1)]

    assert [a.status_code for a in answers[:limit]] == [answers[0].status_code] * limit
    refused = answers[limit]
    assert refused.status_code == 429
    assert 590 <= int(refused["Retry-After"]) <= 600  # the 10-minute window just opened
    assert all("Retry-After" not in a for a in answers[:limit])


# --- 7. Erasure leaves no evidence behind ------------------------------------------------------


def test_erasure_clears_the_subjects_order_evidence_and_enrolment_evidence(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    program = make_program(world.acme)
    subject = "luca@example.com"
    with tenancy.merchant_context(world.acme):
        maria = services.advocate_enroll(program=program, email="maria@example.com").advocate
        luca = services.advocate_enroll(program=program, email=subject).advocate
        Advocate.objects.filter(pk=luca.pk).update(
            ip_hash="f" * 64, visitor_id="vis-luca", blocked_reason=f"{subject} abused it"
        )
        order = services.conversion_record(
            order_id="ORD-7",
            amount=5000,
            currency="EUR",
            customer={"email": subject, "name": "Luca"},
            code=maria.code,
            visitor_id="vis-luca",
            ip="203.0.113.7",
            user_agent="Mozilla/5.0 (Luca's phone)",
            country="IT",
            payment_fingerprint="fp_luca_card",
        ).conversion
        Conversion.objects.filter(pk=order.pk).update(review_note=f"Called {subject}: fine")
        # Someone else's order: untouched.
        other = services.conversion_record(
            order_id="ORD-8",
            amount=5000,
            currency="EUR",
            customer={"email": "ana@example.com"},
            ip="198.51.100.9",
            user_agent="UA-of-Ana",
            country="RO",
            payment_fingerprint="fp_ana",
        ).conversion
        before = Conversion.objects.get(pk=order.pk)
    assert (before.ip_hash, before.ip_prefix, before.user_agent) != ("", "", "")

    response = call(
        client, "POST", "/api/v1/privacy/erase", acme_secret.plaintext, {"email": subject}
    )

    assert response.status_code == 200, response.content
    with tenancy.merchant_context(world.acme):
        erased = Conversion.objects.get(pk=order.pk)
        kept = Conversion.objects.get(pk=other.pk)
        advocate = Advocate.objects.get(pk=luca.pk)
    evidence = (
        "visitor_id",
        "ip_hash",
        "ip_prefix",
        "user_agent",
        "country",
        "payment_fingerprint",
    )
    assert {name: getattr(erased, name) for name in evidence} == dict.fromkeys(evidence, "")
    assert erased.review_note == "[erased]"
    assert (erased.amount, erased.currency, erased.order_id) == (5000, "EUR", "ORD-7")
    assert (advocate.ip_hash, advocate.visitor_id, advocate.blocked_reason) == ("", "", "[erased]")
    assert (kept.user_agent, kept.country, kept.payment_fingerprint) == (
        "UA-of-Ana",
        "RO",
        "fp_ana",
    )
    assert kept.ip_hash != ""


# --- 8. The schema and the code agree ----------------------------------------------------------


@pytest.fixture
def openapi(client: Client) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/api/v1/schema/?format=json").json()
    return document


def test_list_limits_are_declared_with_their_bounds(openapi: dict[str, Any]) -> None:
    lists = 0
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "limit":
                    lists += 1
                    assert parameter["schema"]["minimum"] == 1, (method, path)
                    assert parameter["schema"]["maximum"] == 100, (method, path)
    assert lists >= 5


def test_amounts_declare_their_maxima(openapi: dict[str, Any]) -> None:
    from programs.specs import MAX_MONEY
    from tracking.services import MAX_AMOUNT

    schemas = openapi["components"]["schemas"]
    assert schemas["ConversionInputRequest"]["properties"]["amount"]["maximum"] == MAX_AMOUNT
    assert schemas["RefundInputRequest"]["properties"]["amount"]["maximum"] == MAX_AMOUNT
    assert schemas["RewardSpecRequest"]["properties"]["amount"]["maximum"] == MAX_MONEY
    assert schemas["RulesRequest"]["properties"]["budget_amount"]["maximum"] == MAX_MONEY
    assert schemas["RulesRequest"]["properties"]["min_order_amount"]["maximum"] == MAX_MONEY


@pytest.mark.parametrize(
    "component",
    [
        "AdvocateInputRequest",
        "ClickInputRequest",
        "ReferralInputRequest",
        "ConversionInputRequest",
        "CustomerRequest",
        "RefundInputRequest",
        "PrivacyRequestRequest",
    ],
)
def test_bodies_that_refuse_unknown_fields_say_so(openapi: dict[str, Any], component: str) -> None:
    assert openapi["components"]["schemas"][component]["additionalProperties"] is False


def test_an_unknown_field_is_refused_where_the_schema_says_so(
    client: Client, world: World, objects: dict[str, str], acme_secret: IssuedKey
) -> None:
    body = {
        "order_id": "ORD-9",
        "amount": 1,
        "currency": "EUR",
        "customer": {"email": "a@example.com", "vip": True},
    }
    response = call(client, "POST", "/api/v1/conversions", acme_secret.plaintext, body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "customer.vip"


@pytest.mark.parametrize("field", ["variants", "tiers", "rules", "fraud"])
def test_null_where_the_schema_says_array_or_object_is_refused(
    client: Client, world: World, objects: dict[str, str], acme_secret: IssuedKey, field: str
) -> None:
    from programs.models import ProgramVersion

    with tenancy.merchant_context(world.acme):
        versions = ProgramVersion.objects.count()
    path = f"/api/v1/programs/{objects['program']}"

    response = call(client, "PATCH", path, acme_secret.plaintext, {field: None})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == field
    with tenancy.merchant_context(world.acme):
        assert ProgramVersion.objects.count() == versions
    assert call(client, "PATCH", path, acme_secret.plaintext, {"variants": []}).status_code == 200


@pytest.mark.parametrize("url", ["https://example.com:0/hook", "https://93.184.215.14:0/"])
def test_a_webhook_url_with_port_0_is_refused(
    client: Client, world: World, acme_secret: IssuedKey, settings: Any, url: str
) -> None:
    from webhooks.models import WebhookEndpoint
    from webhooks.services import UnsafeTarget, validate_target_url

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(UnsafeTarget, match="port"):
        validate_target_url(url)
    response = call(
        client, "POST", "/api/v1/webhook-endpoints", acme_secret.plaintext, {"url": url}
    )
    assert response.status_code in {400, 403}, response.content
    with tenancy.merchant_context(world.acme):
        assert WebhookEndpoint.objects.count() == 0


# --- 3. Text stays text: escaped once, on output -----------------------------------------------

TYPED = {
    "name": "Coffee & Tea <3",
    "headline": 'Give "10" & get 10 <3',
    "description": "Tom & Jerry's blend: 5 > 3 < 4, AT&T and &c.",
    "terms": "One per customer & household. <b>Bold</b> is removed.",
}


def test_program_copy_is_stored_as_typed_and_escaped_once_on_the_page(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    en = {name: TYPED[name] for name in ("headline", "description", "terms")}
    body = {
        "name": TYPED["name"],
        "slug": "coffee",
        "type": "two_sided",
        "currency": "EUR",
        "destination_url": "https://shop.example.com/",
        "allowed_domains": ["shop.example.com"],
        "advocate_reward": {"kind": "account_credit", "amount": 1000},
        "friend_reward": {"kind": "account_credit", "amount": 1000},
        "copy": {"en": en},
        "status": "active",
    }

    created = call(client, "POST", "/api/v1/programs", acme_secret.plaintext, body)

    assert created.status_code == 201, created.content
    data = call(
        client, "GET", f"/api/v1/programs/{created.json()['id']}", acme_secret.plaintext
    ).json()
    assert data["name"] == "Coffee & Tea <3"
    assert data["copy"]["en"]["headline"] == TYPED["headline"]
    assert data["copy"]["en"]["description"] == TYPED["description"]
    assert data["copy"]["en"]["terms"] == "One per customer & household. Bold is removed."
    with tenancy.merchant_context(world.acme):
        stored = Program.objects.get(slug="coffee")
    assert stored.name == "Coffee & Tea <3"
    world.acme.privacy_policy_url = "https://acme.example.com/privacy"
    world.acme.save()
    html = client.get("/p/acme/coffee/?lang=en").content.decode()
    assert "Coffee &amp; Tea &lt;3" in html
    assert "Tom &amp; Jerry&#x27;s blend: 5 &gt; 3 &lt; 4, AT&amp;T and &amp;c." in html
    for twice in ("&amp;amp;", "&amp;lt;", "&amp;gt;", "&amp;#x27;", "&amp;quot;"):
        assert twice not in html


def test_every_public_forms_429_says_when_to_try_again(
    client: Client, world: World, hosted_program: Program
) -> None:
    from hosted.views.portal import INVITE_LIMIT, NEW_LINK_LIMIT

    forms = {path: data for path, data in _public_forms(world, hosted_program)}
    limits = {"/claim": 10, "invite": INVITE_LIMIT, "new-link": NEW_LINK_LIMIT}
    for suffix, limit in limits.items():
        [path] = [path for path in forms if path.endswith(suffix)]
        # An invalid address: refused after the limit is counted, so nothing is sent or stored.
        data = {**forms[path], "email": "not-an-email", "emails": "not-an-email"}
        answers = [client.post(path, data) for _ in range(limit + 1)]
        assert answers[-1].status_code == 429, (path, [a.status_code for a in answers])
        assert 1 <= int(answers[-1]["Retry-After"]) <= 3600, path
        assert all("Retry-After" not in a for a in answers[:-1]), path
