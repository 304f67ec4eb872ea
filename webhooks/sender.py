"""The one module that sends HTTP to merchant URLs: Standard Webhooks signing and a guarded POST.

Why not `requests`: we must connect to the very address the SSRF check approved (resolving the
name a second time would let DNS rebinding swap in a private address between check and send),
while TLS verification and the `Host` header keep using the original name. `http.client` lets us
hand it a socket we opened ourselves, follows no redirects and ignores proxy environment
variables — exactly the behaviour we want for untrusted targets.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from webhooks.services import (
    SECRET_PREFIX,
    IPAddress,
    UnsafeTarget,
    private_targets_allowed,
    resolve_public_addresses,
)

CONNECT_TIMEOUT_SECONDS = 5.0
# A name with many addresses: we try this many before giving up (each may take the timeout).
MAX_ADDRESSES = 3
# The whole exchange (connect, TLS, send, response headers and the excerpt) must fit in this:
# a slow or drip-feeding endpoint must not hold a shared worker for long.
TOTAL_TIMEOUT_SECONDS = 10.0
# We keep a short excerpt of the answer for the delivery log and read no more than this.
MAX_RESPONSE_BYTES = 4096
EXCERPT_CHARS = 500
USER_AGENT = "ReferralSaaS-Webhooks/1.0"


@dataclass(frozen=True)
class SendResult:
    """What one HTTP attempt produced. `status_code` is None when no response came back."""

    status_code: int | None
    duration_ms: int
    error: str = ""
    response_excerpt: str = ""
    retry_after_seconds: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# --- Signing ---------------------------------------------------------------------------------


def sign(*, secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,<base64 HMAC-SHA256>` per secret, space-separated,
    over `"<id>.<timestamp>.<body>"`, keyed with the base64-decoded part of each `whsec_` secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode())
    return " ".join(signatures)


def signed_headers(
    *, secrets: list[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secrets=secrets, message_id=message_id, timestamp=timestamp, body=body
        ),
    }


# --- Sending ---------------------------------------------------------------------------------


class _Watchdog:
    """Shuts down every socket of one exchange at the deadline. Per-call socket timeouts alone
    let an endpoint that drips a byte every few seconds (headers, TLS handshake or body) hold a
    shared worker indefinitely; a shutdown, unlike a close, also wakes a blocked read."""

    def __init__(self, seconds: float) -> None:
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    @property
    def expired(self) -> bool:
        return self._expired

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a pre-approved address; Host and TLS use the URL's name."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        address: IPAddress,
        tls: ssl.SSLContext | None,
        watchdog: _Watchdog,
    ) -> None:
        super().__init__(host, port, timeout=CONNECT_TIMEOUT_SECONDS)
        self.default_port = 443 if tls is not None else 80  # no ":443" in the Host header
        self._address = address
        self._tls = tls
        self._watchdog = watchdog

    def connect(self) -> None:
        sock = socket.create_connection((str(self._address), self.port), self.timeout)
        self._watchdog.watch(sock)
        sock.settimeout(TOTAL_TIMEOUT_SECONDS)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def _addresses(host: str, port: int) -> list[IPAddress]:
    """Resolve once. Only public addresses unless private targets are allowed (development)."""
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


def _retry_after(response: http.client.HTTPResponse) -> int | None:
    value = (response.getheader("Retry-After") or "").strip()
    return int(value) if value.isdigit() else None


def _read_capped(response: http.client.HTTPResponse) -> bytes:
    """At most MAX_RESPONSE_BYTES: a huge (or endless) answer costs us nothing more. The status
    line already decided the outcome, so a body cut short (deadline, reset) is not an error."""
    chunks: list[bytes] = []
    remaining = MAX_RESPONSE_BYTES
    try:
        while remaining > 0:
            chunk = response.read1(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except (OSError, http.client.HTTPException, ValueError):
        pass
    return b"".join(chunks)


def _excerpt(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def _connect(
    host: str,
    port: int,
    addresses: list[IPAddress],
    tls: ssl.SSLContext | None,
    watchdog: _Watchdog,
) -> _PinnedConnection:
    """Try the approved addresses in turn (as a browser would), never a fresh resolution."""
    last_error: OSError | None = None
    for address in addresses[:MAX_ADDRESSES]:
        connection = _PinnedConnection(host, port, address=address, tls=tls, watchdog=watchdog)
        try:
            connection.connect()
        except ssl.SSLError:
            connection.close()
            raise  # a certificate problem is the same on every address
        except OSError as error:
            connection.close()
            last_error = error
            continue
        return connection
    assert last_error is not None
    raise last_error


def _describe(error: BaseException) -> str:
    if isinstance(error, UnsafeTarget):
        return f"Refused: {error}"
    if isinstance(error, TimeoutError | socket.timeout):
        return f"Timed out (no answer within {TOTAL_TIMEOUT_SECONDS:g} s)."
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not valid: {getattr(error, 'verify_message', '') or error}."
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {getattr(error, 'reason', None) or error}."
    if isinstance(error, ConnectionRefusedError):
        return "Connection refused."
    if isinstance(error, http.client.HTTPException):
        return f"Invalid HTTP response ({type(error).__name__})."
    if isinstance(error, OSError):
        return f"Network error: {error.strerror or error}."
    return f"Error: {type(error).__name__}."


def post(*, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
    """POST `body` to `url`, guarded: the target is resolved once and checked (SSRF, also against
    DNS rebinding), no redirect is followed, everything must finish within
    TOTAL_TIMEOUT_SECONDS and at most MAX_RESPONSE_BYTES of the answer are read. Never raises
    for anything the target does: failures come back as a `SendResult` with an `error`."""
    started = time.monotonic()
    connection: _PinnedConnection | None = None
    watchdog = _Watchdog(TOTAL_TIMEOUT_SECONDS)

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http") or not parts.hostname:
            raise UnsafeTarget("The URL must start with https://.")
        if scheme == "http" and not private_targets_allowed():
            raise UnsafeTarget("The URL must start with https://.")
        port = parts.port or (443 if scheme == "https" else 80)
        addresses = _addresses(parts.hostname, port)
        tls = ssl.create_default_context() if scheme == "https" else None
        watchdog.start()
        connection = _connect(parts.hostname, port, addresses, tls, watchdog)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        if watchdog.expired:
            # Cut off inside the headers: http.client may still have parsed a status line.
            raise TimeoutError
        raw = _read_capped(response)
    except Exception as error:  # every failure is an outcome to log, not a crash
        timed_out = (time.monotonic() - started) >= TOTAL_TIMEOUT_SECONDS
        message = _describe(TimeoutError() if timed_out else error)
        return SendResult(status_code=None, duration_ms=elapsed_ms(), error=message)
    finally:
        watchdog.cancel()
        if connection is not None:
            connection.close()
    status = response.status
    problem = ""  # any other non-2xx speaks for itself through its status code
    if 300 <= status < 400:
        location = (response.getheader("Location") or "")[:200]
        problem = f"Redirect ({status}) to {location or 'nowhere'} not followed: use the final URL."
    return SendResult(
        status_code=status,
        duration_ms=elapsed_ms(),
        error=problem,
        response_excerpt=_excerpt(raw),
        retry_after_seconds=_retry_after(response),
    )
