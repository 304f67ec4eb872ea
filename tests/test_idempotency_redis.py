"""`Idempotency-Key` records in Redis (issue 19): the claim rides in the rate limit's round trip,
so a conversion POST with the header makes exactly one Redis round trip before its handler and
one after, and no idempotency query; refusals after the claim leave no record; an unreachable
Redis falls back to the database, and a claim whose Redis went away meanwhile stores its response
there, so retries during the outage still replay it. (The guarantees themselves — replay, 422,
409, abandoned claims, 5xx — are tests/test_api_idempotency.py, run against both stores.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts import api_key_cache
from accounts.api import idempotency
from accounts.api.idempotency import idempotency_records_of
from accounts.models import ApiKey, IdempotencyState
from accounts.services import IssuedKey
from referral_saas import tenancy
from referral_saas.api import idempotency_store, shared_redis
from tests.conftest import World, make_key
from tests.factories import make_program
from tracking.models import Advocate, Conversion
from tracking.services import advocate_enroll

CONVERSIONS = "/api/v1/conversions"
SHOP = "https://shop.example.com"

pytestmark = pytest.mark.skipif(
    not django_settings.API_RATE_LIMIT_REDIS_URL, reason="records live in Redis only with Redis"
)


@pytest.fixture(autouse=True)
def redis_reachable_again() -> Iterator[None]:
    # A test that loses Redis must not leave it "down" for the next tests.
    yield
    shared_redis._down_until.clear()


@pytest.fixture
def advocate(world: World) -> Advocate:
    program = make_program(world.acme, slug="give-10")
    with tenancy.merchant_context(world.acme):
        return advocate_enroll(program=program, email="ada@example.com", name="Ada").advocate


def order(number: int, advocate: Advocate) -> str:
    return json.dumps(
        {
            "order_id": f"ORD-{number}",
            "amount": 4999,
            "currency": "EUR",
            "customer": {"email": "buyer@example.com"},
            "code": advocate.code,
        }
    )


def post(client: Client, key: IssuedKey, body: str, path: str = CONVERSIONS, **headers: Any) -> Any:
    return client.post(
        path,
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.plaintext}",
        **headers,
    )


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every Redis command and SQL statement of the test, in order, on one list."""
    calls: list[str] = []
    original = redis.Redis.execute_command

    def counting(self: redis.Redis, *args: Any, **options: Any) -> Any:
        calls.append(f"redis {args[0]}")
        return original(self, *args, **options)

    def recording(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        calls.append(f"sql {sql.split()[0].upper()}")
        return execute(sql, params, many, context)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    with connection.execute_wrapper(recording):
        yield calls


def test_a_keyed_conversion_costs_one_redis_round_trip_each_side_of_the_handler(
    client: Client,
    world: World,
    acme_secret: IssuedKey,
    advocate: Advocate,
    settings: Any,
    round_trips: list[str],
) -> None:
    # given: a warm key (cached in this process) whose last_used_at is fresh
    settings.API_KEY_CACHE_SECONDS = 10
    api_key_cache.api_key_cache_clear()
    post(client, acme_secret, order(1, advocate))
    round_trips.clear()

    # when
    response = post(client, acme_secret, order(2, advocate), HTTP_IDEMPOTENCY_KEY="ord-2")

    # then: rate limit + key version + claim in one script; the conversion's INSERT (in the
    # test's savepoint); the response stored by one script. No idempotency query.
    assert response.status_code == 202
    assert round_trips == [
        "redis EVALSHA",
        "sql SAVEPOINT",
        "sql INSERT",
        "sql RELEASE",
        "redis EVALSHA",
    ]
    [record] = idempotency_records_of(world.acme)
    assert (record.key, record.state, record.response_status) == (
        "ord-2",
        IdempotencyState.COMPLETED,
        202,
    )
    assert json.loads(record.response_body) == response.json()
    # Kept as long as the database kept its records.
    retention = timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS)
    assert timezone.now() + retention - timedelta(minutes=1) < record.expires_at
    assert record.expires_at <= timezone.now() + retention

    # and a replay: one round trip, no query, the handler not run
    round_trips.clear()
    replay = post(client, acme_secret, order(2, advocate), HTTP_IDEMPOTENCY_KEY="ord-2")
    assert round_trips == ["redis EVALSHA"]
    assert replay.content == response.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    api_key_cache.api_key_cache_clear()


def test_a_cold_key_claims_in_the_rate_limit_round_trip(
    client: Client, world: World, acme_secret: IssuedKey, advocate: Advocate, round_trips: list[str]
) -> None:
    post(client, acme_secret, order(1, advocate))  # last_used_at written once a minute
    round_trips.clear()

    response = post(client, acme_secret, order(2, advocate), HTTP_IDEMPOTENCY_KEY="ord-2")

    assert response.status_code == 202
    assert round_trips == [
        "sql SELECT",  # the key
        "redis EVALSHA",  # rate limit + claim
        "sql SAVEPOINT",
        "sql INSERT",
        "sql RELEASE",
        "redis EVALSHA",  # the response stored
    ]


@pytest.mark.parametrize("refusal", ["forbidden", "revoked", "rate_limited"])
def test_a_request_refused_before_its_handler_leaves_no_record(
    client: Client,
    world: World,
    acme_secret: IssuedKey,
    advocate: Advocate,
    settings: Any,
    refusal: str,
) -> None:
    # given: a warm key, so the claim is made in the lookup's own round trip
    settings.API_KEY_CACHE_SECONDS = 10
    api_key_cache.api_key_cache_clear()
    assert post(client, acme_secret, order(1, advocate)).status_code == 202
    key, path, expected, headers = acme_secret, CONVERSIONS, 403, {}
    if refusal == "forbidden":
        # A publishable key on a secret-key endpoint, refused by the permission check.
        key = make_key(world.acme, kind="publishable", origins=[SHOP])
        headers = {"HTTP_ORIGIN": SHOP}
        assert post(client, key, order(3, advocate), **headers).status_code == 403  # cached
    if refusal == "revoked":
        # Another process revoked it: the version is gone, the row is read again, 401.
        ApiKey.unscoped_all_merchants.filter(pk=acme_secret.key.pk).update(
            revoked_at=acme_secret.key.created_at
        )
        redis.Redis.from_url(settings.API_RATE_LIMIT_REDIS_URL).flushdb()
        path, expected = CONVERSIONS, 401
    if refusal == "rate_limited":
        settings.API_RATE_LIMIT_SECRET = 1
        path, expected = CONVERSIONS, 429

    refused = post(client, key, order(2, advocate), path=path, HTTP_IDEMPOTENCY_KEY="k", **headers)

    assert refused.status_code == expected
    assert idempotency_records_of(world.acme) == []
    with tenancy.merchant_context(world.acme):
        assert not Conversion.objects.filter(order_id="ORD-2").exists()
    api_key_cache.api_key_cache_clear()


def test_unreachable_redis_keeps_the_guarantees_in_the_database(
    client: Client, world: World, acme_secret: IssuedKey, advocate: Advocate, settings: Any
) -> None:
    # given: the shared Redis is a closed port
    settings.API_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/5"

    first = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")
    replay = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")
    other = post(client, acme_secret, order(9, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")

    assert first.status_code == 202
    assert "RateLimit-Limit" not in first.headers  # the limiter failed open
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    settings.API_RATE_LIMIT_REDIS_URL = ""  # read the database's records only
    [record] = idempotency_records_of(world.acme)
    assert (record.key, record.response_status) == ("ord-1", 202)


def test_a_claim_whose_redis_went_away_stores_its_response_in_the_database(
    client: Client,
    world: World,
    acme_secret: IssuedKey,
    advocate: Advocate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: Redis answers the claim, then is gone when the response is to be stored
    def gone(*args: Any, **kwargs: Any) -> bool:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(idempotency_store, "store", gone)
    first = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")
    monkeypatch.undo()

    # when: a retry during the outage (Redis is left alone for a few seconds after a failure)
    replay = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")

    # then: it is answered from the database, without running the handler again
    assert first.status_code == 202
    assert replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    with tenancy.merchant_context(world.acme):
        assert Conversion.objects.count() == 1


@contextmanager
def _statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def recording(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(recording):
        yield statements


def _outage_then_back(
    client: Client, acme_secret: IssuedKey, advocate: Advocate, settings: Any
) -> Any:
    """A keyed order while the shared Redis is a closed port (recorded in the database), then
    Redis answers again."""
    reachable = settings.API_RATE_LIMIT_REDIS_URL
    settings.API_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/5"
    first = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")
    assert first.status_code == 202
    settings.API_RATE_LIMIT_REDIS_URL = reachable
    shared_redis._down_until.clear()
    return first


def test_a_key_first_used_during_an_outage_replays_once_redis_is_back(
    client: Client, world: World, acme_secret: IssuedKey, advocate: Advocate, settings: Any
) -> None:
    first = _outage_then_back(client, acme_secret, advocate, settings)

    replay = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")
    other = post(client, acme_secret, order(9, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")
    again = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")

    assert replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    assert other.status_code == 422
    assert again.content == first.content
    with tenancy.merchant_context(world.acme):
        assert Conversion.objects.count() == 1
        assert not Conversion.objects.filter(order_id="ORD-9").exists()
    # the replays gave their Redis claims back: the database's record is the only one
    assert idempotency_store.records_of(world.acme.public_id) == []


def test_another_process_finds_the_outage_mark_in_redis(
    client: Client, world: World, acme_secret: IssuedKey, advocate: Advocate, settings: Any
) -> None:
    first = _outage_then_back(client, acme_secret, advocate, settings)
    # given: the process that recorded the key told Redis, and this one never saw the outage
    idempotency_store.mark_database_records(world.acme.public_id)
    idempotency._recorded_during_outage.clear()

    with _statements() as statements:
        replay = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")
    new = post(client, acme_secret, order(2, advocate), HTTP_IDEMPOTENCY_KEY="ord-2")

    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert any("accounts_idempotencyrecord" in sql for sql in statements)
    assert new.status_code == 202  # a key the database does not hold runs as usual
    with tenancy.merchant_context(world.acme):
        assert Conversion.objects.count() == 2
    [record] = idempotency_store.records_of(world.acme.public_id)  # in Redis: the new key only
    assert (record.key, record.response_status) == ("ord-2", 202)


def test_without_an_outage_a_new_key_reads_no_idempotency_row(
    client: Client, acme_secret: IssuedKey, advocate: Advocate
) -> None:
    with _statements() as statements:
        first = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="ord-1")
    assert first.status_code == 202
    assert statements  # the handler's own
    assert not any("accounts_idempotencyrecord" in sql for sql in statements)


def test_records_are_per_merchant_in_redis(
    client: Client, world: World, acme_secret: IssuedKey, globex_secret: IssuedKey
) -> None:
    globex_advocate = _advocate_of(world)
    post(client, globex_secret, order(1, globex_advocate), HTTP_IDEMPOTENCY_KEY="ord-1")

    assert idempotency_records_of(world.acme) == []
    [record] = idempotency_records_of(world.globex)
    assert record.identity == idempotency_store.record_name(world.globex.public_id, "ord-1")


def _advocate_of(world: World) -> Advocate:
    program = make_program(world.globex, slug="give-10")
    with tenancy.merchant_context(world.globex):
        return advocate_enroll(program=program, email="gus@example.com", name="Gus").advocate
