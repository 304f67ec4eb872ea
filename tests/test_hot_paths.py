"""The hot paths' round trips (issue 19): API keys answered from the process's cache under a
version in Redis, revocation holding on the very next request with the cache warm (on
PostgreSQL + Redis, and on the embedded default without Redis, where nothing is cached), the
rate limit counted in the same Redis round trip, idempotency and headers unchanged, and the
queries each request costs, pinned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client

from accounts import api_key_cache
from accounts.models import ApiKey
from accounts.services import IssuedKey, api_key_lookup, api_key_revoke, api_key_roll
from referral_saas import tenancy
from tests.conftest import World
from tests.factories import make_program
from tracking.models import Advocate, Conversion
from tracking.services import advocate_enroll

CONVERSIONS = "/api/v1/conversions"

needs_redis = pytest.mark.skipif(
    not django_settings.API_RATE_LIMIT_REDIS_URL, reason="the key cache lives beside Redis"
)


@pytest.fixture
def key_cache(settings: Any) -> Iterator[Any]:
    settings.API_KEY_CACHE_SECONDS = 10
    api_key_cache.api_key_cache_clear()
    yield settings
    api_key_cache.api_key_cache_clear()


@pytest.fixture
def advocate(world: World) -> Advocate:
    program = make_program(world.acme, slug="give-10")
    with tenancy.merchant_context(world.acme):
        return advocate_enroll(program=program, email="ada@example.com", name="Ada").advocate


def order(number: int, advocate: Advocate, **changes: Any) -> str:
    body = {
        "order_id": f"ORD-{number}",
        "amount": 4999,
        "currency": "EUR",
        "customer": {"email": "buyer@example.com"},
        "code": advocate.code,
    }
    return json.dumps({**body, **changes})


def post(client: Client, key: IssuedKey, body: str, **headers: Any) -> Any:
    return client.post(
        CONVERSIONS,
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.plaintext}",
        **headers,
    )


def programs(client: Client, key: IssuedKey) -> Any:
    return client.get("/api/v1/programs", HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")


def flush_redis() -> None:
    redis.Redis.from_url(django_settings.API_RATE_LIMIT_REDIS_URL).flushdb()


def as_another_process(entries: dict[str, Any]) -> None:
    """Put back cache entries taken before a change: the state of a process that did not make
    the change itself and so only learns of it through Redis."""
    api_key_cache._entries.update(entries)


# --- What a request costs ----------------------------------------------------------------------


@needs_redis
def test_a_warm_key_costs_no_query_and_one_redis_round_trip(
    client: Client,
    acme_secret: IssuedKey,
    advocate: Advocate,
    key_cache: Any,
    django_assert_num_queries: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post(client, acme_secret, order(1, advocate))  # the key is read and cached
    calls: list[str] = []
    original = redis.Redis.execute_command

    def counting(self: redis.Redis, *args: Any, **options: Any) -> Any:
        calls.append(str(args[0]))
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)

    # then: the conversion's transaction only (savepoint, INSERT, release: the test's own
    # transaction turns BEGIN/COMMIT into a savepoint); the rate limit and the key's version in
    # one EVALSHA
    with django_assert_num_queries(3) as captured:
        response = post(client, acme_secret, order(2, advocate))

    assert response.status_code == 202
    assert "accounts_apikey" not in " ".join(q["sql"] for q in captured.captured_queries)
    assert calls == ["EVALSHA"]
    assert response.headers["RateLimit-Remaining"] == str(django_settings.API_RATE_LIMIT_SECRET - 2)


@pytest.mark.journey
def test_a_cold_key_costs_one_select(
    client: Client,
    acme_secret: IssuedKey,
    advocate: Advocate,
    settings: Any,
    django_assert_num_queries: Any,
) -> None:
    # given: no cache (the default in tests, and always without Redis)
    settings.API_KEY_CACHE_SECONDS = 0
    post(client, acme_secret, order(1, advocate))  # last_used_at written once a minute

    with django_assert_num_queries(4) as captured:
        response = post(client, acme_secret, order(2, advocate))

    assert response.status_code == 202
    assert "accounts_apikey" in captured.captured_queries[0]["sql"]


@needs_redis
def test_each_request_gets_its_own_copies(
    acme_secret: IssuedKey, globex_secret: IssuedKey, key_cache: Any
) -> None:
    first = api_key_lookup(acme_secret.plaintext).key
    second = api_key_lookup(acme_secret.plaintext).key
    other = api_key_lookup(globex_secret.plaintext).key

    assert first is not None
    assert second is not None
    assert other is not None
    assert first is not second
    assert first.merchant is not second.merchant
    assert first.pk == second.pk
    assert first.merchant.pk == second.merchant.pk
    assert other.merchant.slug == "globex"
    # A change to one request's copy is not seen by the next request.
    first.merchant.name = "changed"
    first.allowed_origins.append("https://evil.example")
    third = api_key_lookup(acme_secret.plaintext).key
    assert third is not None
    assert third.merchant.name == "Acme"
    assert third.allowed_origins == []


# --- Revocation holds on the next request -------------------------------------------------------


@pytest.mark.journey
def test_a_revoked_key_is_refused_on_the_next_request_even_with_the_cache_warm(
    client: Client,
    world: World,
    acme_secret: IssuedKey,
    key_cache: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given: the key is cached here (PostgreSQL + Redis) or nothing is (no Redis)
    assert programs(client, acme_secret).status_code == 200
    assert programs(client, acme_secret).status_code == 200
    entries = dict(api_key_cache._entries)

    # when: the key is revoked (by "another process": this one's entries are put back)
    with tenancy.merchant_context(world.acme), django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(actor=world.alice, key=acme_secret.key)
    as_another_process(entries)

    # then
    refused = programs(client, acme_secret)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert programs(client, acme_secret).status_code == 401


@pytest.mark.journey
def test_a_key_rolled_without_grace_is_refused_at_once_and_its_successor_works(
    client: Client,
    world: World,
    acme_secret: IssuedKey,
    key_cache: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    assert programs(client, acme_secret).status_code == 200
    entries = dict(api_key_cache._entries)

    with tenancy.merchant_context(world.acme), django_capture_on_commit_callbacks(execute=True):
        successor = api_key_roll(actor=world.alice, key=acme_secret.key, grace_hours=0)
    as_another_process(entries)

    assert programs(client, acme_secret).status_code == 401
    assert programs(client, successor).status_code == 200


@needs_redis
def test_a_redis_that_lost_its_data_makes_every_cached_key_stale(
    client: Client, acme_secret: IssuedKey, key_cache: Any
) -> None:
    # given: a warm key, then a change Redis never heard of (the version's DEL lost in a flush)
    assert programs(client, acme_secret).status_code == 200
    ApiKey.unscoped_all_merchants.filter(pk=acme_secret.key.pk).update(
        revoked_at=acme_secret.key.created_at
    )
    flush_redis()

    # then: a missing version starts at random, which no entry carries: the row is read again
    assert programs(client, acme_secret).status_code == 401


@needs_redis
def test_an_unreachable_redis_reads_the_key_from_the_database(
    client: Client,
    acme_secret: IssuedKey,
    advocate: Advocate,
    key_cache: Any,
    django_assert_num_queries: Any,
) -> None:
    post(client, acme_secret, order(1, advocate))
    ApiKey.unscoped_all_merchants.filter(pk=acme_secret.key.pk).update(
        revoked_at=acme_secret.key.created_at
    )
    # when: the limiter's Redis is a closed port (it fails open; the cache fails closed)
    key_cache.API_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"

    with django_assert_num_queries(1):
        refused = post(client, acme_secret, order(2, advocate))

    assert refused.status_code == 401


@pytest.mark.journey
def test_without_redis_nothing_is_cached(
    client: Client,
    acme_secret: IssuedKey,
    advocate: Advocate,
    key_cache: Any,
    django_assert_num_queries: Any,
) -> None:
    key_cache.API_RATE_LIMIT_REDIS_URL = ""
    post(client, acme_secret, order(1, advocate))

    with django_assert_num_queries(4) as captured:
        post(client, acme_secret, order(2, advocate))

    assert "accounts_apikey" in captured.captured_queries[0]["sql"]
    assert api_key_cache._entries == {}


# --- The same answers as before -----------------------------------------------------------------


@pytest.mark.journey
def test_rate_limit_counted_in_the_cached_round_trip_still_refuses(
    client: Client, acme_secret: IssuedKey, key_cache: Any
) -> None:
    key_cache.API_RATE_LIMIT_SECRET = 3
    key_cache.API_RATE_LIMIT_WINDOW_SECONDS = 60

    responses = [programs(client, acme_secret) for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert 1 <= int(responses[3].headers["Retry-After"]) <= 60


@pytest.mark.journey
def test_idempotency_with_a_warm_key_replays_and_refuses_another_body(
    client: Client, world: World, acme_secret: IssuedKey, advocate: Advocate, key_cache: Any
) -> None:
    first = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="k-1")
    replay = post(client, acme_secret, order(1, advocate), HTTP_IDEMPOTENCY_KEY="k-1")
    other_body = post(client, acme_secret, order(1, advocate, amount=1), HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 202
    assert (replay.status_code, replay.content) == (202, first.content)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "RateLimit-Remaining" in replay.headers
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    with tenancy.merchant_context(world.acme):
        assert Conversion.objects.count() == 1


@pytest.mark.journey
def test_a_warm_key_acts_only_in_its_own_merchant(
    client: Client,
    world: World,
    acme_secret: IssuedKey,
    globex_secret: IssuedKey,
    advocate: Advocate,
    key_cache: Any,
) -> None:
    for number in range(2):
        assert post(client, acme_secret, order(number, advocate)).status_code == 202
        assert post(client, globex_secret, order(number, advocate)).status_code == 202

    with tenancy.merchant_context(world.acme):
        assert Conversion.objects.count() == 2
        assert set(Conversion.objects.values_list("referral_code", flat=True)) == {advocate.code}
    with tenancy.merchant_context(world.globex):
        assert Conversion.objects.count() == 2
