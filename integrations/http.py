"""The one module that sends HTTP to stores (Shopify's Admin API, a merchant's WooCommerce).

A WooCommerce URL is the merchant's to choose, so it gets the SSRF guard of outbound webhooks
(`webhooks.services`): resolved once, refused if any address is private, loopback or
link-local (unless `WEBHOOKS_ALLOW_PRIVATE_TARGETS`, for development and tests), and the
connection goes to an approved address — never a second resolution (DNS rebinding) — with TLS
and `Host` on the original name. No redirect is followed, proxies in the environment are
ignored, answers are read up to MAX_RESPONSE_BYTES.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from webhooks.services import (
    IPAddress,
    UnsafeTarget,
    private_targets_allowed,
    resolve_public_addresses,
)

TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
USER_AGENT = "ReferralSaaS-Stores/1.0"


class TransportError(Exception):
    """No HTTP answer (refused, timed out, unsafe target): worth retrying, except UnsafeTarget."""

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = retriable


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class _PinnedConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: IPAddress, tls: ssl.SSLContext | None):
        super().__init__(host, port, timeout=TIMEOUT_SECONDS)
        self.default_port = 443 if tls is not None else 80
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        sock = socket.create_connection((str(self._address), self.port), self.timeout)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def _addresses(host: str, port: int) -> list[IPAddress]:
    if not private_targets_allowed():
        return resolve_public_addresses(host, port)
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeTarget(f"We cannot resolve the host {host!r}.") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def request(
    method: str,
    url: str,
    *,
    payload: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Send one request (a JSON body when `payload` is given). Raises TransportError when no
    answer came back; any HTTP status is returned for the gateway to judge."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise TransportError("The store URL must start with https://.", retriable=False)
    if scheme == "http" and not private_targets_allowed():
        raise TransportError("The store URL must start with https://.", retriable=False)
    port = parts.port or (443 if scheme == "https" else 80)
    body = json.dumps(payload).encode() if payload is not None else None
    sent_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    if body is not None:
        sent_headers["Content-Type"] = "application/json"
    try:
        addresses = _addresses(parts.hostname, port)
    except UnsafeTarget as error:
        raise TransportError(f"Refused: {error}", retriable=False) from None
    tls = ssl.create_default_context() if scheme == "https" else None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    last_error = "no address"
    for address in addresses[:3]:
        connection = _PinnedConnection(parts.hostname, port, address=address, tls=tls)
        try:
            connection.request(method, path, body=body, headers=sent_headers)
            answer = connection.getresponse()
            raw = answer.read(MAX_RESPONSE_BYTES)
            return Response(
                status=answer.status,
                body=raw,
                headers={name.lower(): value for name, value in answer.getheaders()},
            )
        except ssl.SSLError as error:
            raise TransportError(f"TLS error: {error}", retriable=False) from None
        except (OSError, http.client.HTTPException) as error:
            last_error = f"{type(error).__name__}: {error}"
        finally:
            connection.close()
    raise TransportError(f"The store did not answer ({last_error}).")
