"""Per-API-key rate limits through HTTP, counted in the real Redis: headers, 429 in the envelope
with Retry-After, one key's burst not touching another merchant's, no idempotency claim for a
refused request, the in-process fallback, and failing open when Redis is unreachable."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client

from accounts.api.idempotency import idempotency_records_of
from accounts.services import IssuedKey
from programs.models import Program
from referral_saas import tenancy
from referral_saas.api import ratelimit
from tests.conftest import World, make_key

PROGRAMS = "/api/v1/programs"


def get(client: Client, key: IssuedKey) -> Any:
    return client.get(PROGRAMS, HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")


@pytest.fixture
def limit_of_3(settings: Any) -> Any:
    # A long window, so the test cannot straddle two windows; counters in a Redis database of
    # their own, because every test (in parallel workers too) flushes the cache's database:
    # xdist workers take 15, 14, … (referral_saas.settings.test), so not one of those.
    settings.API_RATE_LIMIT_SECRET = 3
    settings.API_RATE_LIMIT_WINDOW_SECONDS = 60
    settings.API_RATE_LIMIT_REDIS_URL = settings.REDIS_URL.rsplit("/", 1)[0] + "/12"
    return settings


def test_responses_carry_the_rate_limit_headers(
    client: Client, acme_secret: IssuedKey, limit_of_3: Any
) -> None:
    remaining = [get(client, acme_secret).headers["RateLimit-Remaining"] for _ in range(3)]

    assert remaining == ["2", "1", "0"]
    response = get(client, acme_secret)
    assert response.headers["RateLimit-Limit"] == "3"
    assert 1 <= int(response.headers["RateLimit-Reset"]) <= 60


def test_over_the_limit_is_429_with_retry_after_in_the_envelope(
    client: Client, acme_secret: IssuedKey, limit_of_3: Any
) -> None:
    for _ in range(3):
        assert get(client, acme_secret).status_code == 200

    refused = get(client, acme_secret)

    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "type": "rate_limit_error",
            "code": "rate_limited",
            "message": refused.json()["error"]["message"],
            "param": None,
        }
    }
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"


def test_a_refused_post_runs_nothing_and_claims_no_idempotency_key(
    client: Client, world: World, acme_secret: IssuedKey, limit_of_3: Any
) -> None:
    for _ in range(3):
        get(client, acme_secret)

    refused = client.post(
        PROGRAMS,
        data=json.dumps({"name": "Give 10, get 10"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {acme_secret.plaintext}",
        HTTP_IDEMPOTENCY_KEY="order-1",
    )

    assert refused.status_code == 429
    with tenancy.merchant_context(world.acme):
        assert Program.objects.count() == 0
    assert idempotency_records_of(world.acme) == []  # in Redis and in the database


def test_one_key_over_its_limit_leaves_other_keys_alone(
    client: Client,
    world: World,
    acme_secret: IssuedKey,
    globex_secret: IssuedKey,
    limit_of_3: Any,
) -> None:
    for _ in range(4):
        get(client, acme_secret)
    assert get(client, acme_secret).status_code == 429

    other_merchant = get(client, globex_secret)
    second_acme_key = get(client, make_key(world.acme))

    assert other_merchant.status_code == 200
    assert other_merchant.headers["RateLimit-Remaining"] == "2"
    assert second_acme_key.status_code == 200


def test_publishable_keys_have_their_own_limit(
    world: World, acme_secret: IssuedKey, settings: Any
) -> None:
    settings.API_RATE_LIMIT_SECRET = 100
    settings.API_RATE_LIMIT_PUBLISHABLE = 7
    publishable = make_key(world.acme, kind="publishable", origins=["https://shop.example.com"])

    assert ratelimit.limit_for(acme_secret.key) == 100
    assert ratelimit.limit_for(publishable.key) == 7


def test_without_redis_the_limit_is_counted_in_process(
    client: Client, acme_secret: IssuedKey, limit_of_3: Any
) -> None:
    limit_of_3.API_RATE_LIMIT_REDIS_URL = ""

    statuses = [get(client, acme_secret).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_unreachable_redis_fails_open(
    client: Client,
    acme_secret: IssuedKey,
    limit_of_3: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given: the limiter points at a closed port
    limit_of_3.API_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"

    with caplog.at_level(logging.WARNING, logger="referral_saas.api.ratelimit"):
        responses = [get(client, acme_secret) for _ in range(5)]

    # then: every request is served, unlimited and without limit headers; one warning, not five
    assert [response.status_code for response in responses] == [200] * 5
    assert all("RateLimit-Limit" not in response.headers for response in responses)
    assert len([r for r in caplog.records if "Rate limiter unavailable" in r.message]) == 1
