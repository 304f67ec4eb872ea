"""`/api/v1/webhook-endpoints` through HTTP on PostgreSQL: registering (events, SSRF guard after
DNS resolution), the secret shown once, rotation with a grace period, deletion, key kinds,
outsiders and the audit log. DNS is faked at `socket.getaddrinfo`, the boundary it leaves by."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, Merchant
from referral_saas import tenancy
from tests.conftest import World, make_key
from webhooks import services as webhooks
from webhooks.models import WEBHOOK_EVENTS, WebhookEndpoint

PATH = "/api/v1/webhook-endpoints"
SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")
FIELDS = {
    "id",
    "object",
    "livemode",
    "url",
    "description",
    "events",
    "enabled",
    "disabled_reason",
    "secret_prefix",
    "previous_secret_expires_at",
    "created_at",
}
# What our fake resolver answers; anything else goes to the real one (the test database and
# Redis connect through getaddrinfo too).
FAKE_DNS: dict[str, list[str] | None] = {
    "hooks.shop.example": ["93.184.216.34"],
    "dual.shop.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "internal.shop.example": ["10.1.2.3"],
    "sneaky.shop.example": ["93.184.216.34", "192.168.1.10"],  # one bad answer is enough
    "metadata.shop.example": ["169.254.169.254"],
    "v6loop.shop.example": ["::1"],
    "nowhere.shop.example": None,  # NXDOMAIN
}


def call(client: Client, method: str, path: str, key: str, body: Any = None) -> Any:
    payload = json.dumps(body) if body is not None else ""
    return client.generic(
        method.upper(),
        path,
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in FAKE_DNS:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        answers = FAKE_DNS[host]
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ipaddress.ip_address(a).version == 6 else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port),
            )
            for a in answers
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.fixture
def production_guard(settings: Any, fake_dns: list[str]) -> list[str]:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    return fake_dns


@pytest.fixture
def key(world: World) -> str:
    return make_key(world.acme).plaintext


def rows(merchant: Merchant) -> list[dict[str, Any]]:
    with tenancy.merchant_context(merchant):
        return list(WebhookEndpoint.objects.order_by("pk").values())


def audit_actions(merchant: Merchant) -> list[str]:
    with tenancy.merchant_context(merchant):
        return list(
            AuditEvent.objects.filter(action__startswith="webhook_endpoint.")
            .order_by("pk")
            .values_list("action", flat=True)
        )


def create(client: Client, key: str, **body: Any) -> Any:
    return call(client, "post", PATH, key, {"url": "https://hooks.shop.example/in", **body})


# --- Create ----------------------------------------------------------------------------------


def test_create_with_a_subset_of_events_returns_the_secret_once(
    client: Client, world: World, key: str, production_guard: list[str]
) -> None:
    response = create(
        client, key, events=["reward.issued", "reward.voided"], description="Order system"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == FIELDS | {"secret"}
    assert body["id"].startswith("we_")
    assert len(body["id"]) == 23
    assert body["object"] == "webhook_endpoint"
    assert body["url"] == "https://hooks.shop.example/in"
    assert body["events"] == ["reward.issued", "reward.voided"]
    assert body["description"] == "Order system"
    assert (body["enabled"], body["disabled_reason"]) == (True, "")
    assert SECRET.match(body["secret"])
    assert body["secret_prefix"] == body["secret"][:10]
    assert body["previous_secret_expires_at"] is None
    assert production_guard == ["hooks.shop.example"]  # resolved, with the fake
    [row] = rows(world.acme)
    assert (row["public_id"], row["secret"], row["events"]) == (
        body["id"],
        body["secret"],
        ["reward.issued", "reward.voided"],
    )
    assert audit_actions(world.acme) == ["webhook_endpoint.created"]
    with tenancy.merchant_context(world.acme):
        event = AuditEvent.objects.get(action="webhook_endpoint.created")
    assert event.target_id == body["id"]
    assert body["secret"] not in json.dumps(event.data)

    # Later reads show only the prefix.
    listed = call(client, "get", PATH, key)
    assert listed.status_code == 200
    [item] = listed.json()["data"]
    assert set(item) == FIELDS
    assert item["secret_prefix"] == body["secret"][:10]
    assert body["secret"] not in listed.content.decode()


def test_create_without_events_subscribes_to_all(client: Client, world: World, key: str) -> None:
    response = create(client, key)

    assert response.status_code == 201
    assert response.json()["events"] == []
    endpoint = WebhookEndpoint.unscoped_all_merchants.get()
    assert all(endpoint.subscribes_to(event) for event in WEBHOOK_EVENTS)


def test_duplicate_events_are_kept_once(client: Client, key: str) -> None:
    response = create(client, key, events=["reward.issued", "reward.issued", "advocate.created"])

    assert response.json()["events"] == ["reward.issued", "advocate.created"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"events": ["reward.issued", "reward.exploded"]}, "events[1]"),
        ({"events": [7]}, "events[0]"),
        ({"events": "reward.issued"}, "events"),
        ({"description": "x" * 201}, "description"),
        ({"url": None}, "url"),
        ({"secret": "whsec_mine"}, "secret"),  # unknown field: we mint secrets
    ],
)
def test_invalid_input_names_the_field_and_writes_nothing(
    client: Client, world: World, key: str, body: dict[str, Any], param: str
) -> None:
    response = create(client, key, **body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert rows(world.acme) == []
    assert audit_actions(world.acme) == []


# --- SSRF guard ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://hooks.shop.example/in",  # a public host, but not https
        "https://localhost/hook",
        "https://api.localhost/hook",
        "https://10.0.0.5/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:a9fe:a9fe]/hook",  # IPv6-mapped metadata address, hex form
        "https://[2002:7f00:1::1]/hook",  # 6to4 wrapping 127.0.0.1
        "https://[64:ff9b::a00:5]/hook",  # NAT64 to 10.0.0.5
        "https://0.0.0.0/hook",
        "https://2130706433/hook",  # 127.0.0.1 as one number (resolves locally)
        "https://0x7f.1/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT
        "https://224.0.0.1/hook",  # multicast
        "https://internal.shop.example/hook",
        "https://sneaky.shop.example/hook",
        "https://metadata.shop.example/hook",
        "https://v6loop.shop.example/hook",
        "https://nowhere.shop.example/hook",
        "https://user:pass@hooks.shop.example/in",
        "ftp://hooks.shop.example/in",
        "https:///no-host",
        "https://hooks.shop.example:99999/in",
        "not a url",
    ],
)
def test_unsafe_targets_are_refused_naming_url_and_nothing_is_written(
    client: Client, world: World, key: str, production_guard: list[str], url: str
) -> None:
    response = call(client, "post", PATH, key, {"url": url})

    assert response.status_code == 400, response.json()
    assert response.json()["error"]["param"] == "url"
    assert rows(world.acme) == []
    assert audit_actions(world.acme) == []


def test_an_unresolvable_host_says_so(
    client: Client, key: str, production_guard: list[str]
) -> None:
    response = call(client, "post", PATH, key, {"url": "https://nowhere.shop.example/hook"})

    assert "cannot resolve" in response.json()["error"]["message"]


def test_a_private_address_is_not_revealed(
    client: Client, key: str, production_guard: list[str]
) -> None:
    response = call(client, "post", PATH, key, {"url": "https://internal.shop.example/hook"})

    assert "10.1.2.3" not in response.content.decode()


@pytest.mark.parametrize(
    "url", ["https://hooks.shop.example/in", "https://dual.shop.example:8443/in?x=1"]
)
def test_public_hosts_are_accepted(
    client: Client, key: str, production_guard: list[str], url: str
) -> None:
    response = call(client, "post", PATH, key, {"url": url})

    assert response.status_code == 201, response.json()
    assert response.json()["url"] == url


def test_private_targets_are_allowed_when_the_setting_says_so(
    client: Client, key: str, settings: Any, fake_dns: list[str]
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True

    response = call(client, "post", PATH, key, {"url": "http://127.0.0.1:9000/hook"})

    assert response.status_code == 201, response.json()
    assert response.json()["url"] == "http://127.0.0.1:9000/hook"
    assert fake_dns == []  # nothing to protect: not even resolved


def test_the_address_check_is_reusable_at_send_time(production_guard: list[str]) -> None:
    # The delivery worker re-checks (DNS may have changed since the URL was saved).
    assert webhooks.resolve_public_addresses("hooks.shop.example", 443) == [
        ipaddress.ip_address("93.184.216.34")
    ]
    with pytest.raises(webhooks.UnsafeTarget):
        webhooks.resolve_public_addresses("sneaky.shop.example", 443)


# --- Rotation --------------------------------------------------------------------------------


def test_rotate_keeps_the_previous_secret_valid_until_its_grace_ends(
    client: Client, world: World, key: str
) -> None:
    first = create(client, key).json()
    before = timezone.now()

    response = call(client, "post", f"{PATH}/{first['id']}/rotate-secret", key, {"grace_hours": 2})

    assert response.status_code == 200, response.json()
    rotated = response.json()
    assert set(rotated) == FIELDS | {"secret"}
    assert SECRET.match(rotated["secret"])
    assert rotated["secret"] != first["secret"]
    with tenancy.merchant_context(world.acme):
        endpoint = WebhookEndpoint.objects.get()
    assert endpoint.previous_secret == first["secret"]
    expires = endpoint.previous_secret_expires_at
    assert expires is not None
    assert before + timedelta(hours=2) <= expires <= timezone.now() + timedelta(hours=2)
    assert rotated["previous_secret_expires_at"] is not None
    signing = webhooks.endpoint_signing_secrets
    assert signing(endpoint, expires - timedelta(seconds=1)) == [
        rotated["secret"],
        first["secret"],
    ]
    assert signing(endpoint, expires) == [rotated["secret"]]
    assert audit_actions(world.acme) == [
        "webhook_endpoint.created",
        "webhook_endpoint.secret_rotated",
    ]
    listed = call(client, "get", PATH, key).content.decode()
    assert rotated["secret"] not in listed
    assert first["secret"] not in listed


def test_rotate_defaults_to_24_hours_and_zero_drops_the_old_secret(
    client: Client, world: World, key: str
) -> None:
    endpoint_id = create(client, key).json()["id"]

    call(client, "post", f"{PATH}/{endpoint_id}/rotate-secret", key)
    with tenancy.merchant_context(world.acme):
        endpoint = WebhookEndpoint.objects.get()
    assert endpoint.previous_secret_expires_at is not None
    grace = endpoint.previous_secret_expires_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < grace <= timedelta(hours=24)

    latest = call(client, "post", f"{PATH}/{endpoint_id}/rotate-secret", key, {"grace_hours": 0})

    with tenancy.merchant_context(world.acme):
        endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.previous_secret, endpoint.previous_secret_expires_at) == ("", None)
    assert webhooks.endpoint_signing_secrets(endpoint, timezone.now()) == [latest.json()["secret"]]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"grace_hours": 169}, "grace_hours"),
        ({"grace_hours": -1}, "grace_hours"),
        ({"grace_hours": "24"}, "grace_hours"),
        ({"grace_hours": True}, "grace_hours"),
        ({"grace": 1}, "grace"),
    ],
)
def test_rotate_refuses_bad_grace_periods_and_changes_nothing(
    client: Client, world: World, key: str, body: dict[str, Any], param: str
) -> None:
    endpoint_id = create(client, key).json()["id"]
    before = rows(world.acme)

    response = call(client, "post", f"{PATH}/{endpoint_id}/rotate-secret", key, body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert rows(world.acme) == before
    assert audit_actions(world.acme) == ["webhook_endpoint.created"]


# --- Delete, list ----------------------------------------------------------------------------


def test_delete(client: Client, world: World, key: str) -> None:
    kept = create(client, key).json()["id"]
    gone = create(client, key).json()["id"]

    response = call(client, "delete", f"{PATH}/{gone}", key)

    assert response.status_code == 204
    assert [row["public_id"] for row in rows(world.acme)] == [kept]
    assert audit_actions(world.acme) == [
        "webhook_endpoint.created",
        "webhook_endpoint.created",
        "webhook_endpoint.deleted",
    ]
    again = call(client, "delete", f"{PATH}/{gone}", key)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "resource_missing"


def test_list_is_newest_first_with_a_cursor(client: Client, key: str) -> None:
    ids = [create(client, key).json()["id"] for _ in range(3)]

    first = call(client, "get", f"{PATH}?limit=2", key).json()
    second = call(client, "get", f"{PATH}?limit=2&cursor={first['next_cursor']}", key).json()

    assert [item["id"] for item in first["data"]] == ids[::-1][:2]
    assert [item["id"] for item in second["data"]] == ids[:1]
    assert second["next_cursor"] is None


# --- Keys and outsiders ----------------------------------------------------------------------


def test_publishable_keys_are_refused_everywhere(client: Client, world: World, key: str) -> None:
    endpoint_id = create(client, key).json()["id"]
    before = rows(world.acme)
    publishable = make_key(world.acme, "publishable", ["https://shop.example.com"]).plaintext

    answers = [
        call(client, "get", PATH, publishable).status_code,
        create(client, publishable).status_code,
        call(client, "delete", f"{PATH}/{endpoint_id}", publishable).status_code,
        call(client, "post", f"{PATH}/{endpoint_id}/rotate-secret", publishable).status_code,
    ]

    assert answers == [403, 403, 403, 403]
    assert rows(world.acme) == before


def test_outsider_gets_404_and_changes_nothing(
    client: Client, world: World, key: str, globex_secret: Any
) -> None:
    endpoint_id = create(client, key).json()["id"]
    before = rows(world.acme)
    outsider = globex_secret.plaintext

    listed = call(client, "get", PATH, outsider)
    deleted = call(client, "delete", f"{PATH}/{endpoint_id}", outsider)
    rotated = call(client, "post", f"{PATH}/{endpoint_id}/rotate-secret", outsider)
    absent = call(client, "delete", f"{PATH}/we_{'0' * 20}", outsider)

    assert listed.json() == {"data": [], "next_cursor": None}
    assert (deleted.status_code, rotated.status_code) == (404, 404)
    assert deleted.json() == absent.json()
    assert rows(world.acme) == before
    assert rows(world.globex) == []
    assert audit_actions(world.acme) == ["webhook_endpoint.created"]
    assert audit_actions(world.globex) == []
