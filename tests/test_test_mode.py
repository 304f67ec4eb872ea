"""Test mode (DESIGN §3): test keys, a separate data space, nothing real touched.

A merchant's test data lives in its test twin (`accounts.testmode`): these tests check that the
two modes never see each other's objects (the outsider route enumeration, run live ↔ test), that
every object says which mode it belongs to, and that test mode emails nobody outside the team,
counts toward no plan, calls no Stripe, and can be erased without touching live data.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, Merchant, TestDataErasure
from accounts.services import IssuedKey
from accounts.testmode import twin_of, twin_slug
from billing.limits import conversion_over_limit, monthly_usage
from hosted.models import HeldEmail
from hosted.tasks import email_advocate_welcome_task
from programs.models import Program
from referral_saas import tenancy
from referral_saas.tenancy import TenantModel
from rewards.fulfilment import reward_fulfil_attempt
from rewards.models import Reward
from tests.conftest import World, login, make_key
from tests.factories import make_program
from tests.test_api_tracking import call
from tests.test_billing_support import billing_configured  # noqa: F401  (fixture)
from tests.test_outsider import (
    API_PREFIX,
    DASHBOARD_PREFIX,
    Victim,
    _render,
    tenant_routes,
    victim,  # noqa: F401  (fixture)
)
from tests.test_pipeline_workers import Redis, Worker, broker, wait_until
from tests.test_tracking_events import redis_server, worker  # noqa: F401  (fixtures)
from tests.webhook_receiver import Receiver, receiver, verifies
from tracking.models import Advocate, Conversion
from tracking.services import advocate_enroll, conversion_record
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.services import endpoint_create

__all__ = ["receiver"]  # the fixture, imported for pytest


@pytest.fixture
def twin(world: World) -> Merchant:
    return twin_of(world.acme)


@pytest.fixture
def test_key(twin: Merchant) -> IssuedKey:
    return make_key(twin)


@pytest.fixture
def live_key(world: World) -> IssuedKey:
    return make_key(world.acme)


def test_the_twin_is_made_once_and_keys_minted_in_it_are_test_keys(
    world: World, twin: Merchant, test_key: IssuedKey, live_key: IssuedKey
) -> None:
    assert (twin.livemode, twin.live_merchant_id, twin.slug) == (False, world.acme.pk, "acme--test")
    assert twin_of(world.acme) == twin_of(twin) == twin  # asking again, from either side
    assert Merchant.objects.filter(live_merchant=world.acme).count() == 1
    assert test_key.plaintext.startswith("sk_test_")
    assert live_key.plaintext.startswith("sk_live_")
    publishable = make_key(twin, kind="publishable", origins=["https://shop.example.com"])
    assert publishable.plaintext.startswith("pk_test_")
    assert twin_slug("x" * 60) == "x" * 54 + "--test"


def test_every_tenant_model_is_scoped_by_the_merchant_that_is_its_mode() -> None:
    """Each tenant-owned row's merchant is a data space, live or test: there is no tenant model
    whose rows could be read without choosing a mode."""
    from django.apps import apps

    tenant_models = [m for m in apps.get_models() if issubclass(m, TenantModel)]
    assert len(tenant_models) > 20
    for model in tenant_models:
        field = model._meta.get_field("merchant")
        assert field.related_model is Merchant, model
        assert "livemode" in {f.name for f in Merchant._meta.get_fields()}
        assert model.objects.__class__.__name__ == "TenantManager", model


def test_each_mode_sees_only_its_objects_and_every_object_says_which(
    client: Client, world: World, twin: Merchant, test_key: IssuedKey, live_key: IssuedKey
) -> None:
    live_program = make_program(world.acme)
    test_program = make_program(twin)  # the same slug: another data space
    enrolled = call(
        client,
        "post",
        "/api/v1/advocates",
        test_key.plaintext,
        {"program": test_program.public_id, "email": "tess@example.com"},
    )
    assert enrolled.status_code in {200, 201}, enrolled.content
    advocate = enrolled.json()
    assert advocate["livemode"] is False

    # the live key: the test advocate is not found, exactly as an id that exists nowhere
    theirs = call(client, "get", f"/api/v1/advocates/{advocate['id']}", live_key.plaintext)
    nowhere = call(client, "get", "/api/v1/advocates/adv_" + "0" * 20, live_key.plaintext)
    assert (theirs.status_code, theirs.json()) == (nowhere.status_code, nowhere.json())
    assert theirs.status_code == 404
    # ...and a live program is not reachable with the test key
    live_with_test_key = call(
        client, "get", f"/api/v1/programs/{live_program.public_id}", test_key.plaintext
    )
    assert live_with_test_key.status_code == 404

    programs = {
        mode: call(client, "get", "/api/v1/programs", key.plaintext).json()["data"]
        for mode, key in (("live", live_key), ("test", test_key))
    }
    assert [p["id"] for p in programs["live"]] == [live_program.public_id]
    assert [p["id"] for p in programs["test"]] == [test_program.public_id]
    assert {p["livemode"] for p in programs["live"]} == {True}
    assert {p["livemode"] for p in programs["test"]} == {False}


def test_the_schema_documents_livemode_on_objects(client: Client) -> None:
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    assert components["Conversion"]["properties"]["livemode"]["type"] == "boolean"
    with_object = [name for name, c in components.items() if "object" in c.get("properties", {})]
    assert with_object
    assert all("livemode" in components[n]["properties"] for n in with_object)


def test_a_test_key_gets_404_on_every_live_object_route(
    client: Client,
    world: World,
    victim: Victim,  # noqa: F811 - the fixture
    test_key: IssuedKey,
) -> None:
    """The outsider route enumeration, with Acme's own *test* key as the outsider."""
    auth = {"HTTP_AUTHORIZATION": f"Bearer {test_key.plaintext}"}
    object_routes = 0
    for route in tenant_routes():
        if not route.template.startswith(API_PREFIX) or not route.params:
            continue
        object_routes += 1
        live = _render(route, victim.real)
        nowhere = _render(route, victim.missing)
        for method in ("get", "post", "patch", "delete"):
            mine = getattr(client, method)(live, content_type="application/json", **auth)
            absent = getattr(client, method)(nowhere, content_type="application/json", **auth)
            assert mine.status_code in {404, 405}, f"{method.upper()} {live} -> {mine.status_code}"
            assert (mine.status_code, mine.json()) == (absent.status_code, absent.json()), live
    assert object_routes >= 5


def test_the_test_dashboard_shows_only_test_objects_with_the_banner(
    client: Client,
    world: World,
    twin: Merchant,
    victim: Victim,  # noqa: F811
) -> None:
    login(client, world.alice)
    checked = 0
    for route in tenant_routes():
        if not route.template.startswith(DASHBOARD_PREFIX) or route.params == ("merchant_slug",):
            continue
        # Acme's live object ids under the test slug: not found, as in another merchant.
        crossed = _render(route, {**victim.real, "merchant_slug": twin.slug})
        assert client.get(crossed).status_code in {302, 404, 405}, crossed
        checked += 1
    assert checked >= 5
    page = client.get(f"/m/{twin.slug}/")
    assert page.status_code == 200
    assert "Viewing test data." in page.content.decode()
    assert "Viewing test data." not in client.get("/m/acme/").content.decode()
    # pages about the account itself always show the live account
    assert client.get(f"/m/{twin.slug}/team/")["Location"] == "/m/acme/team/"


def test_the_switch_goes_to_the_same_page_in_the_other_mode(client: Client, world: World) -> None:
    login(client, world.alice)
    to_test = client.post("/m/acme/test-mode/", {"mode": "test", "next": "/m/acme/advocates/"})
    assert to_test["Location"] == "/m/acme--test/advocates/"
    assert client.get(to_test["Location"]).status_code == 200
    back = client.post("/m/acme--test/test-mode/", {"mode": "live", "next": "/m/acme--test/"})
    assert back["Location"] == "/m/acme/"
    elsewhere = client.post("/m/acme/test-mode/", {"mode": "test", "next": "https://evil.example/"})
    assert elsewhere["Location"] == "/m/acme--test/"
    client.force_login(world.charlie)  # not a member of Acme: not found, in either mode
    assert client.post("/m/acme--test/test-mode/", {"mode": "live"}).status_code == 404


@pytest.mark.usefixtures("billing_configured")
def test_test_conversions_count_toward_no_plan(world: World, twin: Merchant) -> None:
    program = make_program(twin)
    with tenancy.merchant_context(twin):
        advocate = advocate_enroll(program=program, email="tess@example.com").advocate
        conversions = [
            conversion_record(
                order_id=f"T-{n}",
                amount=5000,
                currency="EUR",
                customer={"email": f"buyer{n}@example.com"},
                code=advocate.code,
            ).conversion
            for n in range(3)
        ]
        assert not any(
            conversion_over_limit(
                merchant_id=twin.pk, conversion_created_at=c.created_at, conversion_pk=c.pk
            )
            for c in conversions
        )
    assert monthly_usage(merchant_id=world.acme.pk).used == 0
    with tenancy.merchant_context(world.acme):
        conversion_record(
            order_id="L-1", amount=5000, currency="EUR", customer={"email": "l@example.com"}
        )
    assert monthly_usage(merchant_id=world.acme.pk).used == 1


def test_test_mode_emails_nobody_outside_the_team(world: World, twin: Merchant) -> None:
    program = make_program(twin)
    with tenancy.merchant_context(twin):
        outsider = advocate_enroll(program=program, email="maria@example.com").advocate
        teammate = advocate_enroll(program=program, email="bob@example.com").advocate
    mail.outbox.clear()
    email_advocate_welcome_task(merchant_id=twin.pk, advocate_id=outsider.pk)
    email_advocate_welcome_task(merchant_id=twin.pk, advocate_id=teammate.pk)
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]  # Bob is on Acme's team
    with tenancy.merchant_context(twin):
        [held] = HeldEmail.objects.all()
    assert held.to == "maria@example.com"
    assert held.kind == "welcome"


def test_stripe_methods_are_simulated_in_test_mode(world: World, twin: Merchant) -> None:
    program = make_program(twin)
    with tenancy.merchant_context(twin):
        advocate = advocate_enroll(program=program, email="tess@example.com").advocate
        reward = Reward.objects.create(
            recipient="advocate",
            advocate=advocate,
            kind="fixed_discount",
            amount=1000,
            currency="EUR",
            fulfilment_method="stripe_promotion_code",
            status="approved",
            next_attempt_at=timezone.now(),
        )
        # no Stripe key is configured: a real call would fail; the simulation issues
        assert reward_fulfil_attempt(reward_id=reward.pk) == "issued"
        reward.refresh_from_db()
    assert reward.fulfilment_external_id.startswith("sim_stripe_promotion_code_")
    assert reward.fulfilment_code


def test_erasing_test_data_keeps_live_data_keys_and_the_audit_log(
    django_capture_on_commit_callbacks: Any,
    client: Client,
    world: World,
    twin: Merchant,
    test_key: IssuedKey,
    live_key: IssuedKey,
) -> None:
    live_program = make_program(world.acme)
    test_program = make_program(twin)
    for merchant, program in ((world.acme, live_program), (twin, test_program)):
        with tenancy.merchant_context(merchant):
            advocate = advocate_enroll(program=program, email="tess@example.com").advocate
            conversion_record(
                order_id="O-1",
                amount=5000,
                currency="EUR",
                customer={"email": "buyer@example.com"},
                code=advocate.code,
            )

    refused = call(client, "delete", "/api/v1/test-data", live_key.plaintext)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "test_key_required"

    with django_capture_on_commit_callbacks(execute=True):  # the task runs in-process
        answer = call(client, "delete", "/api/v1/test-data", test_key.plaintext)
    assert answer.status_code == 202, answer.content
    assert answer.json()["object"] == "test_data_erasure"
    assert answer.json()["livemode"] is False
    progress = call(client, "get", "/api/v1/test-data", test_key.plaintext).json()
    assert progress["status"] == "done", progress
    assert progress["deleted"]["tracking.Conversion"] == 1

    with tenancy.merchant_context(twin):
        assert not Program.objects.exists()
        assert not Advocate.objects.exists()
        assert not Conversion.objects.exists()
        assert TestDataErasure.objects.count() == 1
    with tenancy.merchant_context(world.acme):
        assert Program.objects.count() == 1
        assert Conversion.objects.count() == 1
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"test_data.erase_requested", "test_data.erased"} <= actions
    # the test key still works: an integration keeps running against an empty test space
    assert call(client, "get", "/api/v1/programs", test_key.plaintext).json()["data"] == []


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the worker process shares the test database: PostgreSQL only",
)
@pytest.mark.django_db(transaction=True)
def test_a_test_conversion_runs_to_rewards_and_webhooks_through_a_real_worker(
    client: Client, world: World, receiver: Receiver, request: pytest.FixtureRequest
) -> None:
    redis: Redis = request.getfixturevalue("redis_server")
    worker_process: Worker = request.getfixturevalue("worker")
    twin = twin_of(world.acme)
    key = make_key(twin).plaintext
    program = make_program(twin)
    with tenancy.merchant_context(twin):
        endpoint = endpoint_create(url=receiver.url, events=["conversion.qualified"])
        advocate = advocate_enroll(program=program, email="tess@example.com").advocate

    with broker(redis.url):
        answer = call(
            client,
            "post",
            "/api/v1/conversions",
            key,
            {
                "order_id": "T-1",
                "amount": 5000,
                "currency": "EUR",
                "customer": {"email": "buyer@example.com"},
                "code": advocate.code,
            },
        )
    assert answer.status_code == 202, answer.content

    def delivered() -> bool:
        with tenancy.merchant_context(twin):
            return list(WebhookDelivery.objects.values_list("status", flat=True)) == [
                DeliveryStatus.SUCCEEDED
            ]

    wait_until(delivered, 60, "the conversion.qualified delivery")
    [request_seen] = receiver.requests
    body: dict[str, Any] = json.loads(request_seen.body)
    assert verifies(endpoint.secret, request_seen)
    assert body["type"] == "conversion.qualified"
    assert body["livemode"] is False
    assert body["data"]["livemode"] is False
    with tenancy.merchant_context(twin):
        assert Reward.objects.filter(conversion__order_id="T-1").exists()
    assert monthly_usage(merchant_id=world.acme.pk).used == 0  # the live counter did not move
    assert "conversion" in worker_process.log.read_text()


def test_a_test_order_with_each_outcome_from_the_dashboard(
    django_capture_on_commit_callbacks: Any, client: Client, world: World, twin: Merchant
) -> None:
    make_program(twin)
    login(client, world.alice)
    url = f"/m/{twin.slug}/test-data/conversion/"
    for outcome in ("qualified", "review", "refund"):
        with django_capture_on_commit_callbacks(execute=True):  # the pipeline runs in-process
            answer = client.post(url, {"outcome": outcome})
        assert answer["Location"] == f"/m/{twin.slug}/test-data/"
    with tenancy.merchant_context(twin):
        statuses = list(Conversion.objects.order_by("pk").values_list("status", flat=True))
        assert Reward.objects.filter(recipient="advocate").exists()
    assert statuses == ["qualified", "review", "refunded"]
    with tenancy.merchant_context(world.acme):
        assert not Conversion.objects.exists()  # nothing in the live data space
    assert client.post("/m/acme/test-data/conversion/", {"outcome": "qualified"}).status_code == 404
    page = client.get(f"/m/{twin.slug}/test-data/")
    assert "Report a test order" in page.content.decode()
