"""Writes for the tracking API: enrol advocates, record clicks, referrals, conversions, refunds.

Every function runs inside the current merchant and validates its input, raising
`programs.specs.SpecError` ({field path: message}) for bad input so that callers answer 400 with
the field named. The hot paths (`click_record`, `conversion_record`) do the least work that keeps
the data safe: one INSERT each, with unique constraints — not prior SELECTs — making a retry or a
concurrent duplicate return the first row.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from babel import Locale
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

import events
from programs.models import Program, ProgramStatus
from programs.services import program_config, variant_for
from programs.specs import SpecError
from referral_saas.money import is_currency
from referral_saas.privacy import truncate_ip
from tracking.models import Advocate, Click, Conversion, ConversionStatus, Referral, Refund

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud, typed from a screen
CODE_RANDOM_LENGTH = 6  # 32**6 ≈ 10**9 per prefix
CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,39}$")
ORDER_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces
MAX_AMOUNT = 10**12
MAX_METADATA_BYTES = 8 * 1024
FUTURE_TOLERANCE = timedelta(minutes=10)


def _invalid(path: str, message: str) -> SpecError:
    return SpecError({path: message})


def normalise_email(value: Any, path: str = "email") -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(path, "An email address is required.")
    email = value.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise _invalid(path, f"{value!r} is not a valid email address.") from None
    return email


def _text(value: Any, path: str, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or "\x00" in value:
        raise _invalid(path, "Must be a string.")
    if len(value.strip()) > max_length:
        raise _invalid(path, f"At most {max_length} characters.")
    return value.strip()


def normalise_code(value: Any, path: str = "code") -> str:
    if not isinstance(value, str) or not CODE_PATTERN.match(value.strip().upper()):
        raise _invalid(path, "Not a referral code (letters, digits and '-', 3 to 40).")
    return value.strip().upper()


# --- Advocates -------------------------------------------------------------------------------


def _code_prefix(name: str, email: str) -> str:
    source = name or email.split("@")[0]
    letters = re.sub(r"[^A-Z]", "", source.upper().translate(_ASCII_FOLD))
    return letters[:8] or "REF"


_ASCII_FOLD = str.maketrans("ĄĆĘŁŃÓŚŹŻĂÂÎȘȚŞŢÀÈÉÌÒÙ", "ACELNOSZZAAISTSTAEEIOU")


def new_code(name: str, email: str) -> str:
    """Human-friendly and unguessable: the advocate's first name, then 6 random characters."""
    suffix = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_RANDOM_LENGTH))
    return f"{_code_prefix(name, email)}-{suffix}"


@dataclass(frozen=True)
class Enrolment:
    advocate: Advocate
    created: bool


def advocate_enroll(
    *,
    program: Program,
    email: Any,
    name: Any = "",
    customer_id: Any = "",
    locale: Any = None,
    origin: str = "",
) -> Enrolment:
    """Enrol `email` in `program`, or return its existing advocate (enrolling twice is harmless,
    also concurrently). New advocates get a unique code and their A/B variant, once, and
    `advocate.created` is emitted with `origin` (where the enrolment came from, e.g. "api")."""
    if program.status != ProgramStatus.ACTIVE:
        raise _invalid("program", "This program is not active.")
    email = normalise_email(email)
    name = _text(name, "name", 120)
    customer_id = _text(customer_id, "customer_id", 120)
    if locale is not None and locale not in program.locales:
        raise _invalid(
            "locale", f"Must be one of the program's locales: {', '.join(program.locales)}."
        )
    existing = Advocate.objects.filter(program=program, email__iexact=email).first()
    if existing is not None:
        return Enrolment(existing, created=False)
    variant = variant_for(program_config(program), program=program, subject=email)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                advocate = Advocate.objects.create(
                    program=program,
                    email=email,
                    name=name,
                    customer_id=customer_id,
                    locale=locale or program.default_locale,
                    code=new_code(name, email),
                    variant_key=variant.key if variant else "",
                )
                events.emit(
                    "advocate.created",
                    functools.partial(advocate_payload, advocate),
                    subject=advocate,
                    origin=origin,
                )
            return Enrolment(advocate, created=True)
        except IntegrityError:
            # Either the same email was enrolled concurrently (return it) or the code collided.
            existing = Advocate.objects.filter(program=program, email__iexact=email).first()
            if existing is not None:
                return Enrolment(existing, created=False)
    raise RuntimeError("Could not find a free referral code in 5 attempts")  # ~never: 10**9 space


def advocate_payload(advocate: Advocate) -> dict[str, Any]:
    """The advocate as the API shows it (the `advocate.created` event's data), except that
    `portal_url` is null: a 30-day magic link is not written into a stored, replayable
    message."""
    # Deferred: the API's serializers import the layers above tracking (rewards for
    # conversions, hosted for links); only this payload, built when someone listens, needs them.
    from tracking.api.serializers import AdvocateOutputSerializer

    return dict(AdvocateOutputSerializer(instance=advocate).data)


def advocate_by_code(code: str) -> Advocate:
    advocate = Advocate.objects.select_related("program").filter(code=code).first()
    if advocate is None:
        raise _invalid("code", "No advocate has this referral code.")
    return advocate


# --- Clicks ----------------------------------------------------------------------------------


def ip_hash(ip: str) -> str:
    """Keyed hash of the IP: lets fraud rules compare visitors without storing the address."""
    if not ip:
        return ""
    key = hashlib.sha256(f"ip-hash:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()


def click_record(
    *,
    code: Any,
    landing_url: Any = "",
    visitor_id: Any = "",
    ip: str = "",
    user_agent: str = "",
    referer: str = "",
) -> Click:
    """Record a visit through an advocate's link (one INSERT after the code lookup). Never the
    raw IP: a keyed hash and the truncated prefix."""
    advocate = advocate_by_code(normalise_code(code))
    if advocate.program.status != ProgramStatus.ACTIVE:
        raise _invalid("code", "This referral program is not running.")
    return Click.objects.create(
        program=advocate.program,
        advocate=advocate,
        ip_hash=ip_hash(ip),
        ip_prefix=truncate_ip(ip),
        user_agent=user_agent[:400],
        referer=(_text(landing_url, "landing_url", 500) or referer)[:500],
        visitor_id=_text(visitor_id, "visitor_id", 64),
    )


# --- Referrals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralResult:
    referral: Referral
    created: bool


def _advocate_and_click(code: Any, click_id: Any) -> tuple[Advocate, Click | None]:
    if click_id:
        if not isinstance(click_id, str):
            raise _invalid("click_id", "Must be a string.")
        click = Click.objects.select_related("advocate__program").filter(public_id=click_id).first()
        if click is None:
            raise _invalid("click_id", "No such click.")
        return click.advocate, click
    if code is None:
        raise _invalid("code", "Give the referral code or the click_id.")
    return advocate_by_code(normalise_code(code)), None


def referral_payload(referral: Referral) -> dict[str, Any]:
    """The referral as the API shows it (the `referral.created` event's data)."""
    from tracking.api.serializers import ReferralOutputSerializer  # deferred: see above

    return dict(ReferralOutputSerializer(instance=referral).data)


def referral_record(
    *, code: Any = None, click_id: Any = None, email: Any, customer_id: Any = "", name: Any = ""
) -> ReferralResult:
    """Tie a friend to an advocate. The first referrer of a friend in a program wins; telling us
    again (or about another advocate) returns the first referral, unchanged."""
    advocate, click = _advocate_and_click(code, click_id)
    email = normalise_email(email)
    customer_id = _text(customer_id, "customer_id", 120)
    name = _text(name, "name", 120)
    if email == advocate.email.lower():
        raise _invalid("email", "An advocate cannot refer themselves.")
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                program=advocate.program,
                advocate=advocate,
                click=click,
                email=email,
                customer_id=customer_id,
                name=name,
            )
            events.emit(
                "referral.created",
                functools.partial(referral_payload, referral),
                subject=referral,
            )
        return ReferralResult(referral, created=True)
    except IntegrityError:
        first = Referral.objects.get(program=advocate.program, email__iexact=email)
        return ReferralResult(first, created=False)


# --- Conversions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversionResult:
    conversion: Conversion
    created: bool


def _amount(value: Any, path: str, *, allow_zero: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(path, "Must be an integer amount in minor units (1000 = €10.00).")
    if value < (0 if allow_zero else 1) or value > MAX_AMOUNT:
        raise _invalid(path, f"Must be between {0 if allow_zero else 1} and {MAX_AMOUNT}.")
    return value


def _time(value: Any, path: str) -> datetime | None:
    if value is None:
        return None
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
    if parsed is None or timezone.is_naive(parsed):
        raise _invalid(
            path, "Must be an ISO-8601 time with a time zone, e.g. 2026-11-22T10:00:00Z."
        )
    if parsed > timezone.now() + FUTURE_TOLERANCE:
        raise _invalid(path, "Must not be in the future.")
    return parsed


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("metadata", "Must be an object.")
    encoded = json.dumps(value)  # once: both checks read the same text
    if len(encoded) > MAX_METADATA_BYTES:
        raise _invalid("metadata", f"At most {MAX_METADATA_BYTES} bytes of JSON.")
    if "\\u0000" in encoded:
        raise _invalid("metadata", "Must not contain NUL characters.")
    return value


COUNTRY_CODES = frozenset(
    code
    for code in Locale("en").territories
    if isinstance(code, str) and len(code) == 2 and code.isalpha()
)


def _buyer_evidence(
    visitor_id: Any, ip: Any, user_agent: Any, country: Any, payment_fingerprint: Any
) -> dict[str, str]:
    """The optional fraud evidence about the buyer, validated; the IP only hashed/truncated."""
    fields = {
        "visitor_id": _text(visitor_id, "visitor_id", 64),
        "payment_fingerprint": _text(payment_fingerprint, "payment_fingerprint", 120),
    }
    if user_agent is not None:
        if not isinstance(user_agent, str) or "\x00" in user_agent:
            raise _invalid("user_agent", "Must be a string.")
        fields["user_agent"] = user_agent.strip()[:400]
    if country is not None:
        if not isinstance(country, str) or country.strip().upper() not in COUNTRY_CODES:
            raise _invalid("country", "Must be an ISO 3166-1 alpha-2 country code such as IT.")
        fields["country"] = country.strip().upper()
    if ip is not None:
        if not isinstance(ip, str):
            raise _invalid("ip", "Must be an IPv4 or IPv6 address.")
        try:
            address = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            raise _invalid("ip", f"{ip!r} is not an IPv4 or IPv6 address.") from None
        fields["ip_hash"] = ip_hash(address)
        fields["ip_prefix"] = truncate_ip(address)
    return fields


def conversion_record(
    *,
    order_id: Any,
    amount: Any,
    currency: Any,
    customer: Any,
    code: Any = None,
    click_id: Any = None,
    occurred_at: Any = None,
    new_customer: Any = None,
    metadata: Any = None,
    visitor_id: Any = None,
    ip: Any = None,
    user_agent: Any = None,
    country: Any = None,
    payment_fingerprint: Any = None,
    subscription_id: Any = None,
) -> ConversionResult:
    """Store an order durably as `received` (one INSERT) for the workers to judge.

    Idempotent by `order_id`: a retry, or any number of concurrent posts of the same order,
    returns the first conversion (the unique constraint decides, not a prior SELECT). Attribution
    hints are stored as given; resolving them is the pipeline's work."""
    if not isinstance(order_id, str) or not ORDER_ID.match(order_id):
        raise _invalid("order_id", "1 to 200 printable characters without spaces.")
    amount = _amount(amount, "amount", allow_zero=True)
    if not isinstance(currency, str) or not is_currency(currency.upper()):
        raise _invalid("currency", "Must be an ISO-4217 currency code such as EUR.")
    if not isinstance(customer, dict):
        raise _invalid("customer", "Must be an object with at least the customer's email.")
    unknown = sorted(set(customer) - {"email", "id", "name"})
    if unknown:
        raise _invalid(f"customer.{unknown[0]}", "Unknown field.")
    email = normalise_email(customer.get("email"), "customer.email")
    referral_code = normalise_code(code) if code is not None else ""
    if click_id is not None and (not isinstance(click_id, str) or len(click_id) > 32):
        raise _invalid("click_id", "Must be a click id returned by POST /api/v1/clicks.")
    if new_customer is not None and not isinstance(new_customer, bool):
        raise _invalid("new_customer", "Must be true or false.")
    fields = {
        "amount": amount,
        "currency": currency.upper(),
        "customer_email": email,
        "customer_id": _text(customer.get("id"), "customer.id", 120),
        "customer_name": _text(customer.get("name"), "customer.name", 120),
        "subscription_id": _text(subscription_id, "subscription_id", 120),
        "referral_code": referral_code,
        "click_public_id": click_id or "",
        "new_customer": new_customer,
        "metadata": _metadata(metadata),
        "occurred_at": _time(occurred_at, "occurred_at") or timezone.now(),
        **_buyer_evidence(visitor_id, ip, user_agent, country, payment_fingerprint),
    }
    try:
        with transaction.atomic():
            conversion = Conversion.objects.create(order_id=order_id, **fields)
            # The pipeline consumes it (rewards.consumers); no query, no enqueue with a broker.
            events.emit("conversion.recorded", {"id": conversion.public_id}, subject=conversion)
        return ConversionResult(conversion, created=True)
    except IntegrityError:
        return ConversionResult(Conversion.objects.get(order_id=order_id), created=False)


# --- Refunds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    created: bool


@transaction.atomic
def refund_record(
    *, conversion: Conversion, amount: Any = None, external_id: Any = ""
) -> RefundResult:
    """Refund part or all of an order (any number of refunds, never more than the order).

    The conversion row is locked, so concurrent refunds cannot together exceed the amount (a
    database CHECK backs this). A refund reported twice with the same `external_id` is the same
    refund. The pipeline voids or claws back rewards on refunds."""
    external_id = _text(external_id, "external_id", 120)
    # Lock first: concurrent reports of the same refund then find each other below.
    locked = Conversion.objects.select_for_update().get(pk=conversion.pk)
    if external_id:
        existing = Refund.objects.filter(external_id=external_id).first()
        if existing is not None and existing.conversion_id != locked.pk:
            raise _invalid("external_id", "This refund id was already used for another order.")
        if existing is not None:
            return RefundResult(existing, created=False)
    remaining = locked.amount - locked.refunded_amount
    if remaining == 0:
        raise _invalid("amount", "This order has already been refunded in full.")
    value = remaining if amount is None else _amount(amount, "amount", allow_zero=False)
    if value > remaining:
        raise _invalid("amount", f"At most {remaining} can still be refunded on this order.")
    refund = Refund.objects.create(conversion=locked, amount=value, external_id=external_id)
    locked.refunded_amount += value
    update = ["refunded_amount"]
    if locked.refunded_amount == locked.amount:
        locked.status = ConversionStatus.REFUNDED
        update.append("status")
    locked.save(update_fields=update)
    conversion.refunded_amount, conversion.status = locked.refunded_amount, locked.status
    # The pipeline voids or claws back its rewards (rewards.consumers).
    events.emit("refund.recorded", {"id": refund.public_id}, subject=locked)
    return RefundResult(refund, created=True)
