"""API keys: hashed at rest, revocable, rollable, kind- and origin-restricted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent
from accounts.services import IssuedKey, api_key_revoke, api_key_roll, hash_token
from referral_saas import tenancy
from tests.conftest import World, make_key
from tests.factories import make_program

UNAUTHENTICATED = {
    "error": {
        "type": "authentication_error",
        "code": "invalid_api_key",
        "message": "Invalid, revoked or expired API key.",
        "param": None,
    }
}


def get(client: Client, path: str, key: str, **headers: str) -> object:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}", **headers)


def _every_row_as_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        dump = []
        for table in tables:
            cursor.execute(
                f"SELECT coalesce(string_agg(row_to_json(t)::text, '\n'), '') "  # noqa: S608
                f'FROM "{table}" t'
            )
            dump.append(cursor.fetchone()[0])
    return "\n".join(dump)


def test_key_plaintext_never_reaches_the_database(world: World) -> None:
    # when both kinds of key are created (and the creation audited)
    secret = make_key(world.acme)
    publishable = make_key(world.acme, "publishable", ["https://shop.example.com"])

    # then no table holds either plaintext, only hash, prefix and last four
    everything = _every_row_as_text()
    assert secret.plaintext not in everything
    assert publishable.plaintext not in everything
    assert secret.plaintext[8:-4] not in everything
    stored = ApiKey.unscoped_all_merchants.get(pk=secret.key.pk)
    assert stored.key_hash == hash_token(secret.plaintext)
    assert (stored.prefix, stored.last4) == ("sk_live_", secret.plaintext[-4:])
    assert publishable.plaintext.startswith("pk_live_")
    assert len(secret.plaintext) == 48


def test_keys_are_unique_and_unguessable(world: World) -> None:
    keys = {make_key(world.acme).plaintext for _ in range(20)}
    assert len(keys) == 20


def test_a_revoked_key_is_refused_on_the_next_request(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    assert get(client, "/api/v1/programs", acme_secret.plaintext).status_code == 200

    with tenancy.merchant_context(world.acme):
        api_key_revoke(actor=world.alice, key=acme_secret.key)

    response = get(client, "/api/v1/programs", acme_secret.plaintext)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    with tenancy.merchant_context(world.acme):
        assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_a_rolled_key_stays_valid_for_its_grace_period_then_is_refused(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    with tenancy.merchant_context(world.acme):
        new = api_key_roll(actor=world.alice, key=acme_secret.key, grace_hours=24)

    # during the grace period both keys work
    assert get(client, "/api/v1/programs", acme_secret.plaintext).status_code == 200
    assert get(client, "/api/v1/programs", new.plaintext).status_code == 200

    # after it, only the new one
    ApiKey.unscoped_all_merchants.filter(pk=acme_secret.key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert get(client, "/api/v1/programs", acme_secret.plaintext).status_code == 401
    assert get(client, "/api/v1/programs", new.plaintext).status_code == 200
    assert (new.key.name, new.key.kind) == (acme_secret.key.name, "secret")


def test_rolling_with_no_grace_refuses_the_old_key_at_once(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    with tenancy.merchant_context(world.acme):
        api_key_roll(actor=world.alice, key=acme_secret.key, grace_hours=0)
    assert get(client, "/api/v1/programs", acme_secret.plaintext).status_code == 401


def test_a_key_cannot_be_rolled_twice(world: World, acme_secret: IssuedKey) -> None:
    from django.core.exceptions import ValidationError

    with tenancy.merchant_context(world.acme):
        api_key_roll(actor=world.alice, key=acme_secret.key, grace_hours=1)
        with pytest.raises(ValidationError):
            api_key_roll(actor=world.alice, key=acme_secret.key, grace_hours=1)
        assert ApiKey.objects.count() == 2


def test_missing_and_malformed_authorization_are_401(client: Client, world: World) -> None:
    missing = client.get("/api/v1/programs")
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert missing["WWW-Authenticate"] == 'Bearer realm="api"'

    malformed = client.get("/api/v1/programs", HTTP_AUTHORIZATION="Basic abc")
    assert malformed.status_code == 401
    assert get(client, "/api/v1/programs", "sk_live_" + "x" * 40).status_code == 401


def test_publishable_key_is_403_on_a_secret_only_endpoint(client: Client, world: World) -> None:
    publishable = make_key(world.acme, "publishable", ["https://shop.example.com"])
    response = get(
        client, "/api/v1/programs", publishable.plaintext, HTTP_ORIGIN="https://shop.example.com"
    )
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


def test_publishable_key_from_an_origin_not_allowed_is_403(client: Client, world: World) -> None:
    from rest_framework.exceptions import PermissionDenied
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from accounts.api_auth import ApiKeyAuthentication

    publishable = make_key(world.acme, "publishable", ["https://shop.example.com"])
    factory = APIRequestFactory()
    allowed = Request(
        factory.get(
            "/",
            HTTP_AUTHORIZATION=f"Bearer {publishable.plaintext}",
            HTTP_ORIGIN="https://shop.example.com",
        )
    )
    assert ApiKeyAuthentication().authenticate(allowed)[1].pk == publishable.key.pk  # type: ignore[index]
    for origin in ("https://evil.example.com", ""):
        request = Request(
            factory.get(
                "/", HTTP_AUTHORIZATION=f"Bearer {publishable.plaintext}", HTTP_ORIGIN=origin
            )
        )
        with pytest.raises(PermissionDenied):
            ApiKeyAuthentication().authenticate(request)


def test_last_used_at_is_recorded_at_most_once_a_minute(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    assert acme_secret.key.last_used_at is None
    get(client, "/api/v1/programs", acme_secret.plaintext)
    first = ApiKey.unscoped_all_merchants.get(pk=acme_secret.key.pk).last_used_at
    assert first is not None
    get(client, "/api/v1/programs", acme_secret.plaintext)
    assert ApiKey.unscoped_all_merchants.get(pk=acme_secret.key.pk).last_used_at == first


def test_api_lists_only_the_keys_merchants_rows_with_cursor_pagination(
    client: Client, world: World, acme_secret: IssuedKey
) -> None:
    ids = [make_program(world.acme, slug=f"p{i}").public_id for i in range(3)]
    make_program(world.globex, slug="theirs")

    first = get(client, "/api/v1/programs?limit=2", acme_secret.plaintext).json()
    assert [p["id"] for p in first["data"]] == [ids[2], ids[1]]
    assert first["data"][0]["object"] == "program"
    second = get(
        client, f"/api/v1/programs?limit=2&cursor={first['next_cursor']}", acme_secret.plaintext
    ).json()
    assert [p["id"] for p in second["data"]] == [ids[0]]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "cursor=%%%"])
def test_bad_pagination_parameters_are_400_with_the_param_named(
    client: Client, world: World, acme_secret: IssuedKey, query: str
) -> None:
    response = get(client, f"/api/v1/programs?{query}", acme_secret.plaintext)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == query.split("=")[0]


def test_unknown_api_route_answers_in_the_error_envelope(client: Client, world: World) -> None:
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
