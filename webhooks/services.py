"""Outbound webhook endpoints: the registry, their signing secrets and the SSRF guard.

Writes are services (`endpoint_create`, `endpoint_delete`, `endpoint_rotate_secret`,
`endpoint_update`, `endpoint_disable`, `endpoint_enable`), each audited in the current
merchant's log. Sending lives in `webhooks.delivery` (and the HTTP itself in
`webhooks.sender`). Invalid input raises `SpecError` naming the field.

The SSRF guard has two layers so the delivery worker can reuse the second one:

- `validate_target_url(url)` checks the URL's shape (https; http only where private targets
  are allowed) and that its host resolves only to public addresses — run when a URL is saved;
- `resolve_public_addresses(host, port)` is the address check itself. Saving a URL proves
  nothing about later: DNS can change between the check and the send (DNS rebinding), so the
  delivery worker must call it again at send time and connect to one of the addresses it
  returned, never resolve the name a second time.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from programs.specs import SpecError
from referral_saas import limits, tenancy
from webhooks.models import WEBHOOK_EVENTS, DeliveryStatus, WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES = 32
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
DEFAULT_GRACE_HOURS = 24
MAX_GRACE_HOURS = 24 * 7

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# RFC 6052 NAT64 prefix: 64:ff9b::a.b.c.d reaches the IPv4 a.b.c.d through a translator.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeTarget(Exception):
    """A webhook target we refuse to call; `str()` is a message fit for the merchant."""


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


# --- SSRF guard ------------------------------------------------------------------------------


def private_targets_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_TARGETS", False))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address can carry to (mapped, 6to4, Teredo, NAT64)."""
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [item for item in found if item is not None]


def is_forbidden_address(address: IPAddress) -> bool:
    """True for anything that is not a plain public unicast address. (`is_global` alone is not
    enough on Python 3.11: it calls multicast and 6to4-wrapped loopback "global".)"""
    if isinstance(address, ipaddress.IPv6Address):
        if any(is_forbidden_address(inner) for inner in _embedded_ipv4(address)):
            return True
        if address.is_site_local:
            return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global  # e.g. 100.64.0.0/10 (carrier-grade NAT)
    )


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve_public_addresses(host: str, port: int) -> list[IPAddress]:
    """Resolve `host` and return its addresses, or raise `UnsafeTarget` if it cannot be resolved
    or if ANY address is private, loopback, link-local, multicast, reserved or unspecified
    (one bad address is enough: a client may pick it).

    Reused by the delivery worker at send time, against DNS rebinding: it must connect to one of
    the returned addresses (with the original Host and TLS server name), not resolve again.
    """
    host = host.strip().rstrip(".").lower()
    literal = _literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        if host == "localhost" or host.endswith(".localhost"):
            raise UnsafeTarget("This host is the local machine; use a public address.")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):  # socket.gaierror is an OSError
            raise UnsafeTarget(f"We cannot resolve the host {host!r}.") from None
        # Strip an IPv6 zone ("fe80::1%eth0") so the address parses; the zone changes nothing.
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise UnsafeTarget(f"We cannot resolve the host {host!r}.")
    if any(is_forbidden_address(address) for address in addresses):
        # Which address is not said: that would reveal our internal DNS to whoever asks.
        raise UnsafeTarget(
            "This host resolves to a private, loopback, link-local or otherwise non-public "
            "address; webhooks can only be sent to the public internet."
        )
    return addresses


def validate_target_url(url: Any) -> str:
    """Return `url` stripped if we may send webhooks to it, else raise `UnsafeTarget`.

    https only; http, private and loopback hosts only where `WEBHOOKS_ALLOW_PRIVATE_TARGETS`
    is on (local development and tests), where the host is not resolved at all.
    """
    if not isinstance(url, str) or not url.strip():
        raise UnsafeTarget("An https URL is required.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"At most {MAX_URL_LENGTH} characters.")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise UnsafeTarget("A URL cannot contain spaces or control characters.")
    allow_private = private_targets_allowed()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeTarget("This is not a valid URL.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in schemes:
        raise UnsafeTarget("The URL must start with https://.")
    if not parts.hostname:
        raise UnsafeTarget("The URL has no host.")
    if port == 0:  # `port or default` below would have read it as "no port"
        raise UnsafeTarget("The port must be from 1 to 65535.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("Put no credentials in the URL: verify our signature instead.")
    if not allow_private:
        default_port = 443 if parts.scheme.lower() == "https" else 80
        resolve_public_addresses(parts.hostname, port or default_port)
    return url


# --- Services --------------------------------------------------------------------------------


def _events(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SpecError({"events": "Must be a list of event types (empty: every event)."})
    events: list[str] = []
    for index, event in enumerate(raw):
        if not isinstance(event, str) or event not in WEBHOOK_EVENTS:
            choices = ", ".join(WEBHOOK_EVENTS)
            raise SpecError({f"events[{index}]": f"Unknown event type. Choose from: {choices}."})
        if event not in events:
            events.append(event)
    return events


def _description(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise SpecError({"description": "Must be text."})
    if len(raw.strip()) > MAX_DESCRIPTION_LENGTH:
        raise SpecError({"description": f"At most {MAX_DESCRIPTION_LENGTH} characters."})
    return raw.strip()


def _require_webhooks() -> None:
    """Outgoing webhooks are a plan feature (`billing.limits.FeatureNotInPlan` otherwise)."""
    limits.require_feature(
        merchant_id=tenancy.get_current_merchant().pk, feature=limits.Feature.WEBHOOKS
    )


def endpoint_create(
    *,
    url: Any,
    events: Any = None,
    description: Any = None,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    """Register an endpoint with a fresh secret (the caller shows it once). `events` empty or
    omitted subscribes to every event. Audited `webhook_endpoint.created`. Not idempotent by
    itself: the API's `Idempotency-Key` covers retried requests."""
    _require_webhooks()
    parsed_events = _events(events)
    parsed_description = _description(description)
    try:
        target = validate_target_url(url)
    except UnsafeTarget as error:
        raise SpecError({"url": str(error)}) from None
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=target, description=parsed_description, events=parsed_events, secret=new_secret()
        )
        audit_record(
            action="webhook_endpoint.created",
            actor=actor,
            target=endpoint,
            data={"url": endpoint.url, "events": endpoint.events},
            request=request,
        )
    return endpoint


def endpoint_delete(
    *, endpoint: WebhookEndpoint, actor: User | None = None, request: HttpRequest | None = None
) -> None:
    """Remove the endpoint; nothing is sent to it afterwards. Audited
    `webhook_endpoint.deleted` (only when a row was actually removed, so a repeat is silent)."""
    with transaction.atomic():
        deleted, _ = WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
        if deleted:
            audit_record(
                action="webhook_endpoint.deleted",
                actor=actor,
                target=endpoint,
                data={"url": endpoint.url},
                request=request,
            )


def _grace_hours(raw: Any) -> int:
    if raw is None:
        return DEFAULT_GRACE_HOURS
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_GRACE_HOURS:
        raise SpecError(
            {"grace_hours": f"Choose a grace period from 0 to {MAX_GRACE_HOURS} hours."}
        )
    return raw


@transaction.atomic
def endpoint_rotate_secret(
    *,
    endpoint: WebhookEndpoint,
    grace_hours: Any = None,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    """Replace the signing secret (the caller shows the new one once). The old secret keeps
    signing for `grace_hours` (default 24, 0 = drop it at once, at most 168); a secret still in
    an earlier grace period is dropped, so at most two are ever valid. The row is locked, so
    concurrent rotations each keep the secret the other minted. Audited
    `webhook_endpoint.secret_rotated` (without any secret)."""
    hours = _grace_hours(grace_hours)
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    now = timezone.now()
    if hours:
        locked.previous_secret = locked.secret
        locked.previous_secret_expires_at = now + timedelta(hours=hours)
    else:
        locked.previous_secret = ""
        locked.previous_secret_expires_at = None
    locked.secret = new_secret()
    locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    audit_record(
        action="webhook_endpoint.secret_rotated",
        actor=actor,
        target=locked,
        data={"grace_hours": hours, "secret_prefix": locked.secret_prefix},
        request=request,
    )
    return locked


def endpoint_signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets a delivery at `now` is signed with: the current one, then the previous one
    while its grace period lasts (Standard Webhooks sends one `v1,` signature per secret)."""
    valid = [endpoint.secret]
    expires_at = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires_at is not None and now < expires_at:
        valid.append(endpoint.previous_secret)
    return valid


@transaction.atomic
def endpoint_disable(
    *,
    endpoint: WebhookEndpoint,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    """Stop sending to the endpoint (the merchant's choice; automatic disabling after days of
    failures lives in `webhooks.delivery`). Deliveries still waiting fail with it and can be
    replayed once it is enabled again. A repeat changes nothing. Audited
    `webhook_endpoint.disabled`."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if not locked.enabled:
        return locked
    locked.enabled = False
    locked.disabled_at = timezone.now()
    locked.disabled_reason = f"Disabled by {actor.email}." if actor else "Disabled."
    locked.save(update_fields=["enabled", "disabled_at", "disabled_reason"])
    WebhookDelivery.objects.filter(endpoint=locked, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, last_error="Not sent: the endpoint is disabled."
    )
    audit_record(
        action="webhook_endpoint.disabled",
        actor=actor,
        target=locked,
        data={"url": locked.url, "reason": locked.disabled_reason},
        request=request,
    )
    return locked


@transaction.atomic
def endpoint_enable(
    *,
    endpoint: WebhookEndpoint,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    """Send to the endpoint again, with a clean failure record (a fresh three days before it
    could be disabled again). New events only: failed deliveries are replayed one by one. A
    repeat changes nothing. Audited `webhook_endpoint.enabled`."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if locked.enabled:
        return locked
    _require_webhooks()
    locked.enabled = True
    locked.disabled_at = None
    locked.disabled_reason = ""
    locked.failing_since = None
    locked.save(update_fields=["enabled", "disabled_at", "disabled_reason", "failing_since"])
    audit_record(
        action="webhook_endpoint.enabled",
        actor=actor,
        target=locked,
        data={"url": locked.url},
        request=request,
    )
    return locked


@transaction.atomic
def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    events: Any = None,
    description: Any = None,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    """Change the event selection (empty: every event) and the description. The URL is not
    editable (a new URL gets a new endpoint and secret, so nobody is sent events they did not
    set up to verify). Affects events emitted from now on. Audited
    `webhook_endpoint.updated` when something changed."""
    parsed_events = _events(events)
    parsed_description = _description(description)
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if (locked.events, locked.description) == (parsed_events, parsed_description):
        return locked
    locked.events = parsed_events
    locked.description = parsed_description
    locked.save(update_fields=["events", "description"])
    audit_record(
        action="webhook_endpoint.updated",
        actor=actor,
        target=locked,
        data={"events": parsed_events, "description": parsed_description},
        request=request,
    )
    return locked
