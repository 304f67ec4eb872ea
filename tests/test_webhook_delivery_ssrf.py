"""SSRF at send time, with private targets NOT allowed (production): a URL that passed the check
when it was saved is checked again before every attempt, the name is resolved once and we
connect to the address that was checked (DNS rebinding cannot swap in another). DNS is faked at
`socket.getaddrinfo` and connections are observed at `socket.create_connection`, the two
boundaries the sender leaves by."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from referral_saas import tenancy
from tests.conftest import World
from tests.webhook_receiver import Receiver, receiver
from webhooks import sender as webhook_sender
from webhooks.delivery import delivery_attempt
from webhooks.delivery import outbox_record as emit
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import endpoint_create

__all__ = ["receiver"]

PUBLIC = "93.184.216.34"
REFUSED = (
    "Refused: This host resolves to a private, loopback, link-local or otherwise non-public "
    "address; webhooks can only be sent to the public internet."
)


class FakeDns:
    """Answers for our test names (a list per lookup, in order); the rest goes to real DNS."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.asked: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in self.answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        self.asked.append(host)
        queue = self.answers[host]
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (
                socket.AF_INET6 if ipaddress.ip_address(a).version == 6 else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port),
            )
            for a in current
        ]


REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address the sender connects to; connecting to a public test address is refused
    (no traffic leaves the machine), anything else goes through."""
    made: list[tuple[str, int]] = []
    real = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        made.append((address[0], address[1]))
        if address[0] == PUBLIC:
            raise ConnectionRefusedError(111, "Connection refused")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return made


@pytest.fixture
def acme(world: World) -> Iterator[World]:
    with tenancy.merchant_context(world.acme):
        yield world


def _attempt_to(url: str) -> WebhookDelivery:
    """A URL saved earlier (stored as is, as if it had passed), then one attempt now."""
    WebhookEndpoint.objects.create(url=url, secret="whsec_" + "A" * 43 + "=")
    message = emit("reward.issued", {"id": "rwd_1"})  # the task is held back: we run it
    delivery = WebhookDelivery.objects.get(message=message)
    delivery_attempt(delivery_id=delivery.pk, expected_attempts=0)
    return WebhookDelivery.objects.get(pk=delivery.pk)


@override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False)
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",  # loopback
        "10.0.0.5",  # private
        "192.168.1.20",  # private
        "172.16.0.1",  # private
        "169.254.169.254",  # link-local (cloud metadata)
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 - unspecified, reaches the local machine
        "[::1]",  # IPv6 loopback
        "[fe80::1]",  # IPv6 link-local
        "[fd00::1]",  # IPv6 unique local
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6 loopback
        "[::ffff:169.254.169.254]",  # IPv4-mapped link-local
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
    ],
)
def test_private_loopback_and_link_local_targets_are_refused_at_send_time(
    acme: World, receiver: Receiver, connections: list[tuple[str, int]], host: str
) -> None:
    delivery = _attempt_to(f"https://{host}:{receiver.port}/hook")

    assert connections == []
    assert receiver.requests == []
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error == REFUSED
    assert WebhookAttempt.objects.get(delivery=delivery).error == REFUSED


@override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False)
def test_dns_rebinding_to_a_private_address_is_refused(
    acme: World, receiver: Receiver, dns: FakeDns, connections: list[tuple[str, int]]
) -> None:
    # given a name that resolved to a public address when the endpoint was saved
    dns.answers["hooks.rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    endpoint = endpoint_create(url=f"https://hooks.rebind.example:{receiver.port}/hook")
    assert dns.asked == ["hooks.rebind.example"]

    # when it answers loopback at send time
    message = emit("reward.issued", {"id": "rwd_1"})
    delivery = WebhookDelivery.objects.get(message=message, endpoint=endpoint)
    delivery_attempt(delivery_id=delivery.pk, expected_attempts=0)

    # then nothing is sent
    delivery.refresh_from_db()
    assert connections == []
    assert receiver.requests == []
    assert delivery.last_error == REFUSED


@override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False)
def test_one_private_answer_among_public_ones_is_enough_to_refuse(
    acme: World, dns: FakeDns, connections: list[tuple[str, int]]
) -> None:
    dns.answers["mixed.rebind.example"] = [[PUBLIC, "10.1.2.3"]]

    delivery = _attempt_to("https://mixed.rebind.example/hook")

    assert connections == []
    assert delivery.last_error == REFUSED


@override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False)
def test_the_checked_address_is_the_one_connected_to_without_a_second_lookup(
    acme: World, dns: FakeDns, connections: list[tuple[str, int]]
) -> None:
    # A resolver that would answer loopback on a second lookup: we must never ask it twice.
    dns.answers["pinned.rebind.example"] = [[PUBLIC], ["127.0.0.1"]]

    delivery = _attempt_to("https://pinned.rebind.example/hook")

    assert dns.asked == ["pinned.rebind.example"]
    assert connections == [(PUBLIC, 443)]
    assert delivery.last_error == "Connection refused."


@override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False)
def test_plain_http_is_refused_when_private_targets_are_not_allowed(
    acme: World, dns: FakeDns, connections: list[tuple[str, int]]
) -> None:
    dns.answers["plain.rebind.example"] = [[PUBLIC]]

    delivery = _attempt_to("http://plain.rebind.example/hook")

    assert connections == []
    assert delivery.last_error == "Refused: The URL must start with https://."


def test_with_private_targets_allowed_the_name_is_pinned_and_sent_as_host(
    acme: World, receiver: Receiver, dns: FakeDns, connections: list[tuple[str, int]]
) -> None:
    # Development mode (the test settings): loopback allowed, still one lookup, and the
    # receiver sees the name it was configured with.
    dns.answers["hooks.local.example"] = [["127.0.0.1"], [PUBLIC]]

    delivery = _attempt_to(f"http://hooks.local.example:{receiver.port}/hook")

    assert dns.asked == ["hooks.local.example"]
    assert connections == [("127.0.0.1", receiver.port)]
    assert delivery.status == "succeeded"
    assert receiver.requests[0].headers["host"] == f"hooks.local.example:{receiver.port}"


def test_tls_uses_the_original_name_for_the_certificate_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The pinned connection hands the URL's name (not the address) to TLS as server_hostname.
    seen: dict[str, Any] = {}

    class Context:
        def wrap_socket(self, sock: Any, server_hostname: str) -> Any:
            seen["server_hostname"] = server_hostname
            raise webhook_sender.ssl.SSLError("stop here")

    monkeypatch.setattr(webhook_sender.ssl, "create_default_context", Context)
    monkeypatch.setattr(
        webhook_sender,
        "_addresses",
        lambda host, port: [ipaddress.ip_address("127.0.0.1")],
    )
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        result = webhook_sender.post(
            url=f"https://shop.example.com:{server.getsockname()[1]}/hook", body=b"{}", headers={}
        )
    finally:
        server.close()

    assert seen == {"server_hostname": "shop.example.com"}
    assert result.status_code is None
    assert result.error.startswith("TLS error")
