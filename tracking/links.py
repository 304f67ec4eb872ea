"""The URLs we hand to advocates and friends, the signed tokens inside some of them, and the one
function that decides where a referral link may send a browser.

Tokens are `django.core.signing` values (HMAC with SECRET_KEY, a salt per purpose, a timestamp
checked against a maximum age), so nothing needs a table: a portal link is valid for
`PORTAL_LINK_DAYS` and "send me my link again" simply mints a new one.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.urls import reverse

from programs.models import Program
from programs.services import domain_allowed
from tracking.models import Advocate

PORTAL_LINK_DAYS = 30
WELCOME_LINK_MAX_AGE = timedelta(days=1)
FORM_TOKEN_MAX_AGE = timedelta(hours=6)
OPT_OUT_MAX_AGE = timedelta(days=365)
CLICK_TOKEN_MAX_AGE = timedelta(hours=12)

_PORTAL = "hosted.portal"
_WELCOME = "hosted.welcome"
_FORM = "hosted.form"
_OPT_OUT = "hosted.opt-out"
_CLICK = "hosted.click"


def absolute(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{path}"


# --- Public links -----------------------------------------------------------------------------


def referral_url(advocate: Advocate) -> str:
    return absolute(reverse("hosted_referral", args=[advocate.code]))


def qr_url(advocate: Advocate, fmt: str = "svg") -> str:
    return absolute(reverse(f"hosted_qr_{fmt}", args=[advocate.code]))


def landing_url(program: Program, merchant_slug: str) -> str:
    return absolute(reverse("program_landing", args=[merchant_slug, program.slug]))


# --- Signed tokens ----------------------------------------------------------------------------


def portal_token(advocate: Advocate) -> str:
    return signing.dumps([advocate.merchant_id, advocate.public_id], salt=_PORTAL, compress=True)


def portal_url(advocate: Advocate) -> str:
    return absolute(reverse("hosted_portal", args=[portal_token(advocate)]))


def read_portal_token(token: str) -> tuple[int, str] | None:
    """(merchant pk, advocate public id) of a valid, unexpired portal token, else None."""
    value = _load(token, _PORTAL, timedelta(days=PORTAL_LINK_DAYS))
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int):
        return value[0], str(value[1])
    return None


@dataclass(frozen=True)
class PortalLinkSubject:
    """Whose a portal link that no longer opens the portal was: enough to answer in their
    language and offer the right program's "send me a new link" form, never to show data."""

    merchant_id: int
    advocate_public_id: str
    authentic: bool  # our signature checked (the link expired); else only its payload was read


def portal_link_subject(token: str) -> PortalLinkSubject | None:
    """The advocate a portal token names, whether or not it is still valid: an expired token
    (signature intact) is authentic; a damaged one (an email client cut the signature off)
    may still carry its payload, read without trust. None when neither can be read."""
    value = _load(token, _PORTAL, None)
    authentic = value is not None
    if value is None:
        value = _unverified_payload(token)
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int):
        return PortalLinkSubject(value[0], str(value[1])[:32], authentic)
    return None


def _unverified_payload(token: str) -> object:
    """The JSON inside a `signing.dumps` value without checking its signature, decompressed
    at most to 1 KB (a forged payload cannot inflate into memory)."""
    if not token or len(token) > 500:
        return None
    payload = token.split(":", 1)[0]
    compressed = payload.startswith(".")
    try:
        data = signing.b64_decode(payload.lstrip(".").encode())
        if compressed:
            data = zlib.decompressobj().decompress(data, 1024)
        return json.loads(data.decode())
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None


def welcome_token(advocate: Advocate, *, created: bool) -> str:
    """The after-joining page: the portal link only for an advocate created by that very join
    (someone typing another person's address must not get into their portal)."""
    return signing.dumps([advocate.public_id, created], salt=_WELCOME, compress=True)


def read_welcome_token(token: str) -> tuple[str, bool] | None:
    value = _load(token, _WELCOME, WELCOME_LINK_MAX_AGE)
    if isinstance(value, list) and len(value) == 2:
        return str(value[0]), bool(value[1])
    return None


def form_token(program: Program) -> str:
    """Stands in for a CSRF token on public forms: no cookie before consent, so the form carries
    proof that it was served by us for this program, recently."""
    return signing.dumps(program.public_id, salt=_FORM)


def form_token_valid(token: str, program: Program) -> bool:
    return _load(token, _FORM, FORM_TOKEN_MAX_AGE) == program.public_id


def opt_out_token(merchant_id: int, email: str) -> str:
    return signing.dumps([merchant_id, email.lower()], salt=_OPT_OUT, compress=True)


def read_opt_out_token(token: str) -> tuple[int, str] | None:
    value = _load(token, _OPT_OUT, OPT_OUT_MAX_AGE)
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int):
        return value[0], str(value[1])
    return None


def click_token(click_public_id: str) -> str:
    """Names the click a friend page recorded, so that the consent form and its return trip
    neither record a second click nor let anyone attach a visitor id to someone else's click."""
    return signing.dumps(click_public_id, salt=_CLICK)


def read_click_token(token: str) -> str | None:
    value = _load(token, _CLICK, CLICK_TOKEN_MAX_AGE)
    return value if isinstance(value, str) else None


def _load(token: str, salt: str, max_age: timedelta | None) -> object:
    """The signed value, or None when forged, damaged or (with `max_age`) too old."""
    if not token or len(token) > 500:
        return None
    try:
        return signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature:  # also SignatureExpired
        return None


# --- Where a referral link may go ---------------------------------------------------------------


def safe_destination(program: Program, requested: str | None = None) -> str:
    """`requested` (a deep link into the shop) when it is an http(s) URL on one of the program's
    allowed domains, else the program's destination. Nothing else: no scheme-relative `//evil`,
    no userinfo tricks (`https://shop.example.com@evil.com`), no other host."""
    if requested and _allowed_url(requested, program.allowed_domains):
        return requested
    return program.destination_url


def _allowed_url(url: str, allowed: list[str]) -> bool:
    if len(url) > 2000 or any(ord(c) < 33 or c == "\\" for c in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    return (
        parts.scheme in {"http", "https"}
        and not parts.username
        and not parts.password
        and bool(parts.hostname)
        and domain_allowed(parts.hostname or "", allowed)
    )


def with_ref(url: str, code: str, click_public_id: str = "") -> str:
    """`url` with `ref=<code>` (and the click id, so the storefront's snippet does not count the
    visit a second time) added to its query, replacing any `ref` already there."""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in {"ref", "ref_click"}
    ]
    query.append(("ref", code))
    if click_public_id:
        query.append(("ref_click", click_public_id))
    return urlunsplit(parts._replace(query=urlencode(query)))
