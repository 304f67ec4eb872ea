"""`GET /r/<code>` at its cheapest (issue 19): the advocate lookup compiled once per process
(`referral_saas.prepared`) returns what the ORM returns, the link costs one SELECT and one
INSERT, and every header the middleware promises is still on the answer."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from programs.models import Program
from referral_saas import tenancy
from referral_saas.prepared import PreparedQuery
from referral_saas.tenancy import NoCurrentMerchant
from tests.conftest import World
from tests.factories import make_program
from tracking.models import Advocate, Click
from tracking.services import advocate_enroll

pytestmark = pytest.mark.journey

PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture
def one_sided(world: World) -> Program:
    return make_program(world.acme, type="one_sided", slug="one")


def enrol(program: Program, email: str) -> Advocate:
    with tenancy.merchant_context(program.merchant):
        return advocate_enroll(program=program, email=email, name="Ada").advocate


def test_a_prepared_query_returns_what_the_orm_returns(world: World, one_sided: Program) -> None:
    ada = enrol(one_sided, "ada@example.com")
    enrol(one_sided, "bo@example.com")
    query: PreparedQuery[Advocate] = PreparedQuery(
        lambda code: Advocate.unscoped_all_merchants.select_related("program", "merchant").filter(
            code=code
        ),
        arguments=1,
    )

    first, again, none = query(ada.code), query(ada.code), query("NO-SUCH")

    expected = Advocate.unscoped_all_merchants.select_related("program", "merchant").get(pk=ada.pk)
    assert none == []
    assert [row.pk for row in first] == [row.pk for row in again] == [ada.pk]
    [found] = first
    fields = [field.attname for field in Advocate._meta.concrete_fields]
    assert [getattr(found, name) for name in fields] == [getattr(expected, name) for name in fields]
    program_fields = [field.attname for field in Program._meta.concrete_fields]
    assert [getattr(found.program, name) for name in program_fields] == [
        getattr(expected.program, name) for name in program_fields
    ]
    assert found.merchant.slug == "acme"
    assert found._state.adding is False
    assert found._state.db == "default"


def test_a_prepared_query_refuses_a_tenant_scoped_manager(world: World) -> None:
    # Compiled inside a merchant, the scoped manager would bake that merchant's id into the SQL.
    query: PreparedQuery[Advocate] = PreparedQuery(
        lambda code: Advocate.objects.filter(code=code), arguments=1
    )

    with tenancy.merchant_context(world.acme), pytest.raises(NoCurrentMerchant):
        query("ADA-1")


def test_a_prepared_query_refuses_a_lookup_that_rewrites_its_value(world: World) -> None:
    query: PreparedQuery[Advocate] = PreparedQuery(
        lambda code: Advocate.unscoped_all_merchants.filter(code__contains=code), arguments=1
    )

    with pytest.raises(ValueError, match="do not reach the SQL unchanged"):
        query("ADA")


def test_the_referral_link_costs_one_select_and_one_insert_with_every_header(
    client: Client, world: World, one_sided: Program, django_assert_num_queries: Any
) -> None:
    ada = enrol(one_sided, "ada@example.com")
    client.get(f"/r/{ada.code}", HTTP_USER_AGENT=PHONE_UA)

    with django_assert_num_queries(2) as captured:
        response = client.get(f"/r/{ada.code.lower()}", HTTP_USER_AGENT=PHONE_UA)

    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["SELECT", "INSERT"]
    assert response.status_code == 302
    assert response["Location"].startswith(f"https://shop.example.com/?ref={ada.code}")
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert len(response["X-Request-Id"]) == 32
    assert response.cookies == {}  # nothing stored in the browser before consent
    with tenancy.merchant_context(world.acme):
        assert Click.objects.filter(advocate=ada).count() == 2


def test_an_unknown_code_is_404_and_records_nothing(
    client: Client, world: World, one_sided: Program
) -> None:
    response = client.get("/r/NOPE-123456", HTTP_USER_AGENT=PHONE_UA)

    assert response.status_code == 404
    with tenancy.merchant_context(world.acme):
        assert Click.objects.count() == 0


# --- The CSP header built once ------------------------------------------------------------------


def django_csp_header(**parts: Any) -> str:
    from csp.utils import build_policy

    return str(build_policy(**parts))


def test_the_cached_csp_header_is_django_csps(client: Client, world: World) -> None:
    first = client.get("/r/NOPE-123456")
    second = client.get("/healthz/nothing-here")

    assert first["Content-Security-Policy"] == django_csp_header()
    assert second["Content-Security-Policy"] == django_csp_header()


def test_a_view_with_its_own_policy_still_gets_it(client: Client, world: World) -> None:
    # The API docs page widens style-src with csp_update: django-csp's own path builds it.
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    expected = django_csp_header(update={"style-src": ["'unsafe-inline'"]})
    assert response["Content-Security-Policy"] == expected
    assert "'unsafe-inline'" in response["Content-Security-Policy"]


def test_changed_settings_change_the_cached_header(
    client: Client, world: World, settings: Any
) -> None:
    client.get("/r/NOPE-123456")  # cached with the project's policy
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}

    response = client.get("/r/NOPE-123456")

    assert response["Content-Security-Policy"] == "default-src 'none'"
