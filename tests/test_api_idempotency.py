"""`Idempotency-Key` on POST /api/v1/…, through HTTP: replay, reuse with another body, in flight
(simulated and truly concurrent), per-merchant scope, expiry, abandoned claims, stored errors,
released 5xx, bad keys, GET ignoring the header, query counts and the purge task.

Every test runs against both stores: Redis (records claimed in the rate limit's round trip) and
the database (the embedded default without Redis, and the fallback while Redis is down). Records
are read and planted through `idempotency_records_of` / `idempotency_record_put`, which look in
the store in use."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.api.idempotency import (
    idempotency_record_put,
    idempotency_records_of,
    idempotency_records_purge_expired,
    request_fingerprint,
)
from accounts.models import IdempotencyState, Merchant
from accounts.services import IssuedKey
from accounts.tasks import idempotency_records_purge_expired_task
from programs import services as program_services
from programs.api.views import ProgramApiView
from programs.models import Program
from referral_saas import tenancy
from referral_saas.api.idempotency_store import StoredRecord
from tests.conftest import World

PROGRAMS = "/api/v1/programs"


@pytest.fixture(autouse=True, params=["redis", "database"])
def store(request: pytest.FixtureRequest, settings: Any) -> str:
    """Where the records live: Redis, or the database (no shared Redis configured)."""
    if request.param == "redis" and not settings.API_RATE_LIMIT_REDIS_URL:
        pytest.skip("no Redis here: the database holds the records")
    if request.param == "database":
        settings.API_RATE_LIMIT_REDIS_URL = ""
    return str(request.param)


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Give 10, get 10",
        "type": "two_sided",
        "currency": "EUR",
        "destination_url": "https://shop.example.com/",
        "allowed_domains": ["shop.example.com"],
        "advocate_reward": {"kind": "account_credit", "amount": 1000},
        "friend_reward": {"kind": "account_credit", "amount": 1000},
    }
    data.update(changes)
    return data


def post(
    client: Client, key: IssuedKey, data: Any, idempotency_key: str | None, path: str = PROGRAMS
) -> Any:
    extra = {"HTTP_AUTHORIZATION": f"Bearer {key.plaintext}"}
    if idempotency_key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
    return client.post(path, data=json.dumps(data), content_type="application/json", **extra)


def programs_of(merchant: Merchant) -> int:
    with tenancy.merchant_context(merchant):
        return Program.objects.count()


def records_of(merchant: Merchant) -> list[StoredRecord]:
    return idempotency_records_of(merchant)


def fingerprint_of(data: Any, path: str = PROGRAMS) -> str:
    request = RequestFactory().post(path, data=json.dumps(data), content_type="application/json")
    return request_fingerprint(request)


def add_record(merchant: Merchant, **fields: Any) -> StoredRecord:
    now = timezone.now()
    values: dict[str, Any] = {
        "identity": "",
        "key": "order-1",
        "fingerprint": fingerprint_of(body()),
        "state": IdempotencyState.IN_FLIGHT,
        "response_status": None,
        "response_body": "",
        "created_at": now,
        "expires_at": now + timedelta(hours=24),
    } | fields
    return idempotency_record_put(merchant, StoredRecord(**values))


def test_replay_returns_the_first_response_without_running_the_handler(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    # given
    first = post(client, acme_secret, body(), "order-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # when: the same key and body, the keys of the JSON object in another order
    replay = post(client, acme_secret, dict(reversed(body().items())), "order-1")
    # then
    assert replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Content-Type"] == "application/json"
    assert programs_of(world.acme) == 1
    [record] = records_of(world.acme)
    assert record.state == IdempotencyState.COMPLETED
    assert record.response_status == 201
    assert json.loads(record.response_body) == first.json()


def test_same_key_with_another_body_is_422_and_writes_nothing(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    first = post(client, acme_secret, body(), "order-1")

    reused = post(client, acme_secret, body(name="Something else"), "order-1")

    assert reused.status_code == 422
    assert reused.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "idempotency_key_reused",
            "message": reused.json()["error"]["message"],
            "param": "Idempotency-Key",
        }
    }
    assert programs_of(world.acme) == 1
    [record] = records_of(world.acme)
    assert record.fingerprint == fingerprint_of(body())
    assert json.loads(record.response_body) == first.json()


def test_same_key_on_another_path_is_422(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    post(client, acme_secret, body(), "order-1")

    other = post(client, acme_secret, body(), "order-1", path=f"{PROGRAMS}?expand=x")

    assert other.status_code == 422
    assert programs_of(world.acme) == 1


def test_key_in_flight_is_409_and_the_handler_does_not_run(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    # given: a request with this key and body is being processed
    add_record(world.acme)

    response = post(client, acme_secret, body(), "order-1")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_flight"
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert programs_of(world.acme) == 0
    [record] = records_of(world.acme)
    assert record.state == IdempotencyState.IN_FLIGHT


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_gets_409_while_the_first_runs(
    world: World, acme_secret: IssuedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the first request's handler blocks until released
    entered, release = threading.Event(), threading.Event()
    original = program_services.program_create

    def slow_create(**kwargs: Any) -> Program:
        entered.set()
        assert release.wait(10)
        return original(**kwargs)

    monkeypatch.setattr(program_services, "program_create", slow_create)
    results: dict[str, Any] = {}

    def first_request() -> None:
        try:
            results["first"] = post(Client(), acme_secret, body(), "order-1")
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        assert entered.wait(10)
        # when: the duplicate arrives while the first is inside its handler
        duplicate = post(Client(), acme_secret, body(), "order-1")
    finally:
        release.set()
        thread.join(10)

    # then
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "idempotency_key_in_flight"
    assert results["first"].status_code == 201
    replay = post(Client(), acme_secret, body(), "order-1")
    assert replay.status_code == 201
    assert replay.content == results["first"].content
    assert programs_of(world.acme) == 1


def test_keys_are_per_merchant(
    client: Client, world: World, acme_secret: IssuedKey, globex_secret: IssuedKey
) -> None:
    acme = post(client, acme_secret, body(), "order-1")
    globex = post(client, globex_secret, body(), "order-1")

    assert acme.status_code == globex.status_code == 201
    assert "Idempotent-Replayed" not in globex.headers
    assert acme.json()["id"] != globex.json()["id"]
    assert programs_of(world.acme) == programs_of(world.globex) == 1
    assert len(records_of(world.acme)) == len(records_of(world.globex)) == 1


def test_expired_record_is_treated_as_absent(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    # given: a completed record for another body, past its retention
    long_ago = timezone.now() - timedelta(hours=25)
    old = add_record(
        world.acme,
        fingerprint=fingerprint_of(body(name="Old")),
        state=IdempotencyState.COMPLETED,
        response_status=201,
        response_body='{"id": "old"}',
        created_at=long_ago,
        expires_at=long_ago + timedelta(hours=24),
    )

    response = post(client, acme_secret, body(), "order-1")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert programs_of(world.acme) == 1
    [record] = records_of(world.acme)
    assert record.identity == old.identity  # retaken in place, atomically
    assert record.fingerprint == fingerprint_of(body())
    assert record.expires_at > timezone.now() + timedelta(hours=23)
    assert json.loads(record.response_body) == response.json()


def test_abandoned_in_flight_record_is_retaken(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    # given: a claim whose process died two minutes ago (abandoned after 60 s)
    add_record(world.acme, created_at=timezone.now() - timedelta(seconds=120))

    response = post(client, acme_secret, body(), "order-1")

    assert response.status_code == 201
    assert programs_of(world.acme) == 1
    [record] = records_of(world.acme)
    assert record.state == IdempotencyState.COMPLETED


def test_abandoned_in_flight_record_with_another_body_is_still_422(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    add_record(
        world.acme,
        fingerprint=fingerprint_of(body(name="Other")),
        created_at=timezone.now() - timedelta(seconds=120),
    )

    response = post(client, acme_secret, body(), "order-1")

    assert response.status_code == 422
    assert programs_of(world.acme) == 0


def test_400_is_stored_and_replayed(client: Client, world: World, acme_secret: IssuedKey) -> None:
    invalid = body(currency="EURO")

    first = post(client, acme_secret, invalid, "order-1")
    replay = post(client, acme_secret, invalid, "order-1")

    assert first.status_code == 400
    assert first.json()["error"]["param"] == "currency"
    assert replay.status_code == 400
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert programs_of(world.acme) == 0
    [record] = records_of(world.acme)
    assert (record.state, record.response_status) == (IdempotencyState.COMPLETED, 400)


def test_500_releases_the_key_so_a_retry_runs(
    client: Client, world: World, acme_secret: IssuedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the handler fails with a bug
    def broken(**kwargs: Any) -> Program:
        raise RuntimeError("boom")

    with monkeypatch.context() as patch:
        patch.setattr(program_services, "program_create", broken)
        failed = post(client, acme_secret, body(), "order-1")
    assert failed.status_code == 500
    assert records_of(world.acme) == []

    # when: the client retries with the same key
    retried = post(client, acme_secret, body(), "order-1")

    # then: it runs for real
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert programs_of(world.acme) == 1


def test_exception_escaping_the_view_releases_the_key(
    world: World, acme_secret: IssuedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reraise(self: ProgramApiView, exc: Exception) -> Any:
        raise exc

    monkeypatch.setattr(program_services, "program_create", lambda **_: 1 / 0)
    monkeypatch.setattr(ProgramApiView, "handle_exception", reraise)

    response = post(Client(raise_request_exception=False), acme_secret, body(), "order-1")

    assert response.status_code == 500
    assert records_of(world.acme) == []


@pytest.mark.parametrize(
    "bad_key",
    ["", "x" * 256, "café", "tab\there", "nul\x01"],
    ids=["empty", "too-long", "non-ascii", "tab", "control"],
)
def test_malformed_key_is_400_and_nothing_runs(
    client: Client, world: World, acme_secret: IssuedKey, bad_key: str
) -> None:
    response = post(client, acme_secret, body(), bad_key)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert programs_of(world.acme) == 0
    assert records_of(world.acme) == []


def test_longest_allowed_key_with_every_printable_character_works(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    printable = "".join(chr(code) for code in range(0x21, 0x7F))  # no edge spaces: HTTP strips
    key = (printable * 3)[:255]

    assert post(client, acme_secret, body(), key).status_code == 201
    assert post(client, acme_secret, body(), key).headers["Idempotent-Replayed"] == "true"
    assert programs_of(world.acme) == 1


def test_get_ignores_the_header(client: Client, world: World, acme_secret: IssuedKey) -> None:
    response = client.get(
        PROGRAMS, HTTP_AUTHORIZATION=f"Bearer {acme_secret.plaintext}", HTTP_IDEMPOTENCY_KEY=""
    )

    assert response.status_code == 200
    assert records_of(world.acme) == []


def test_lifecycle_action_is_idempotent(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    created = post(client, acme_secret, body(), None).json()
    path = f"{PROGRAMS}/{created['id']}/activate"

    first = post(client, acme_secret, None, "activate-1", path=path)
    replay = post(client, acme_secret, None, "activate-1", path=path)

    assert first.status_code == 200
    assert first.json()["status"] == "active"
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_query_counts_with_and_without_the_header(
    client: Client, world: World, acme_secret: IssuedKey, store: str
) -> None:
    # given: warm (the key's last_used_at was just refreshed, so it is not written again)
    client.get(PROGRAMS, HTTP_AUTHORIZATION=f"Bearer {acme_secret.plaintext}")

    with CaptureQueriesContext(connection) as without_header:
        assert post(client, acme_secret, body(name="Plain"), None).status_code == 201
    with CaptureQueriesContext(connection) as with_header:
        assert post(client, acme_secret, body(name="Keyed"), "order-1").status_code == 201
    with CaptureQueriesContext(connection) as replayed:
        assert post(client, acme_secret, body(name="Keyed"), "order-1").status_code == 201

    # then: no idempotency query without the header. In the database, the claim INSERT and the
    # final UPDATE with it, and a replay is authentication, the refused INSERT and one SELECT;
    # in Redis, no query at all: a replay is authentication only.
    assert not any("idempotencyrecord" in query["sql"] for query in without_header.captured_queries)
    if store == "database":
        assert len(with_header) == len(without_header) + 2
        assert len(replayed) == 3
    else:
        assert len(with_header) == len(without_header)
        assert len(replayed) == 1
        assert not any("idempotencyrecord" in query["sql"] for query in replayed.captured_queries)


def test_purge_deletes_only_expired_records(world: World, store: str) -> None:
    if store == "redis":
        pytest.skip("Redis expires its records itself; the purge is the database's")
    past = timezone.now() - timedelta(seconds=1)
    for index in range(3):
        add_record(world.acme, key=f"old-{index}", expires_at=past)
    add_record(world.globex, key="old-globex", expires_at=past)
    fresh = add_record(world.acme, key="fresh")

    deleted = idempotency_records_purge_expired(batch_size=3)  # two batches

    assert deleted == 4
    assert [record.identity for record in records_of(world.acme)] == [fresh.identity]
    assert records_of(world.globex) == []
    assert idempotency_records_purge_expired_task.apply().get() == 0  # runs again harmlessly
