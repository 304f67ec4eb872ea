"""Writes and state transitions for programs: create, update (with versions), lifecycle,
duplicate, and A/B variant assignment.

Input is the public JSON shape of a program (DESIGN.md §3) — the API passes the request body,
the dashboard assembles the same dict from its forms — so both are validated by the same code and
every error names its field path. Errors are raised as `programs.specs.SpecError`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from accounts.models import User
from accounts.services import audit_record
from programs.models import (
    CodePool,
    PoolCode,
    Program,
    ProgramCopy,
    ProgramStatus,
    ProgramType,
    ProgramVersion,
)
from programs.specs import (
    CONFIG_FIELDS,
    DOMAIN,
    LOCALE_NAMES,
    LOCALES,
    ProgramConfig,
    SpecError,
    Variant,
    config_from_stored,
    null_errors,
    parse_config,
    plain_text,
)
from referral_saas import limits, stores, tenancy
from referral_saas.ids import random_string
from referral_saas.money import is_currency

PROGRAM_FIELDS = {
    "name",
    "slug",
    "type",
    "currency",
    "default_locale",
    "locales",
    "destination_url",
    "allowed_domains",
    "starts_at",
    "ends_at",
    "branding",
    "copy",
}
READ_ONLY_FIELDS = {
    "id",
    "object",
    "livemode",
    "status",
    "version",
    "landing_url",
    "created_at",
    "summary",
    "headline",
    "updated_at",
    "warnings",
    "accepted_currencies",
}
# Fields that decide how conversions are judged: fixed once anything may have been judged.
FIXED_AFTER_DRAFT = {"type", "currency"}
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
LOGO_MAX_BYTES = 1024 * 1024
LOGO_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
TRANSITIONS: dict[str, dict[str, str]] = {
    "activate": {
        ProgramStatus.DRAFT: ProgramStatus.ACTIVE,
        ProgramStatus.PAUSED: ProgramStatus.ACTIVE,
    },
    "pause": {ProgramStatus.ACTIVE: ProgramStatus.PAUSED},
    "archive": {
        ProgramStatus.DRAFT: ProgramStatus.ARCHIVED,
        ProgramStatus.ACTIVE: ProgramStatus.ARCHIVED,
        ProgramStatus.PAUSED: ProgramStatus.ARCHIVED,
    },
}


# --- Reading the current configuration -------------------------------------------------------


def program_current_version(program: Program) -> ProgramVersion:
    return ProgramVersion.objects.get(program=program, number=program.version)


def program_config(program: Program, version: ProgramVersion | None = None) -> ProgramConfig:
    """The configuration of `version` (default: the current one), as typed values."""
    version = version or program_current_version(program)
    return config_from_stored(version.config, program_type=program.type, currency=program.currency)


def program_copy(program: Program) -> dict[str, dict[str, str]]:
    """locale → its texts (see `copy_texts`)."""
    return {
        copy.locale: copy_texts(copy)
        for copy in ProgramCopy.objects.filter(program=program).order_by("locale")
    }


def copy_texts(copy: ProgramCopy) -> dict[str, str]:
    """Headline, description and terms, and `name` when this language has its own (absent:
    the program's name is shown), as the API returns a program's `copy`."""
    texts = {"headline": copy.headline, "description": copy.description, "terms": copy.terms}
    return {"name": copy.name, **texts} if copy.name else texts


def code_pool_ids(program: Program | None) -> frozenset[str]:
    if program is None:
        return frozenset()
    return frozenset(CodePool.objects.filter(program=program).values_list("public_id", flat=True))


# --- Validation of the program's own fields --------------------------------------------------


@dataclass
class _Fields:
    values: dict[str, Any]
    copy: dict[str, dict[str, str]] | None
    errors: dict[str, str]


def _validate_fields(data: dict[str, Any], current: Program | None) -> _Fields:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}

    def fail(path: str, message: str) -> None:
        errors.setdefault(path, message)

    def get(key: str, default: Any = None) -> Any:
        if key in data:
            return data[key]
        return getattr(current, key) if current is not None else default

    for key in sorted(set(data) - PROGRAM_FIELDS - CONFIG_FIELDS - READ_ONLY_FIELDS):
        fail(key, "Unknown field.")

    name = get("name", "")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 120 or "\x00" in name:
        fail("name", "Give the program a name (up to 120 characters).")
    else:
        values["name"] = plain_text(name.strip(), path="name", what="the name") or name.strip()

    derived = re.sub(r"[-_]+", "-", slugify(values.get("name", "")))[:60].strip("-")
    slug = get("slug") or (derived if current is None else "")
    if not slug and "name" in errors:
        pass  # derived from the name: the name's error says it all
    elif not isinstance(slug, str) or not SLUG.match(slug):
        fail("slug", "Lowercase letters, digits and hyphens, up to 60 characters.")
    else:
        values["slug"] = slug

    program_type = get("type")
    if program_type not in ProgramType.values:
        fail("type", f"Must be one of: {', '.join(ProgramType.values)}.")
    values["type"] = program_type

    currency = get("currency")
    if not isinstance(currency, str) or not is_currency(currency):
        fail("currency", "Must be an ISO-4217 currency code such as EUR.")
    values["currency"] = currency

    if current is not None and current.status != ProgramStatus.DRAFT:
        for key in sorted(FIXED_AFTER_DRAFT & set(data)):
            if data[key] != getattr(current, key):
                fail(
                    key,
                    f"The {key} of a program that has been live cannot change; duplicate "
                    "the program instead.",
                )

    locales = get("locales", list(LOCALES))
    if (
        not isinstance(locales, list)
        or not locales
        or any(loc not in LOCALES for loc in locales)
        or len(set(locales)) != len(locales)
    ):
        fail("locales", _locales_message(locales))
        locales = list(LOCALES)
    values["locales"] = locales
    default_locale = get("default_locale", locales[0])
    if default_locale not in locales:
        fail(
            "default_locale",
            f"The default language must be one of the program's languages ({_names(locales)}).",
        )
    values["default_locale"] = default_locale

    _validate_destination(get("destination_url", ""), get("allowed_domains", []), values, fail)
    _validate_dates(get("starts_at"), get("ends_at"), values, fail)
    if "branding" in data:
        _validate_branding(data["branding"], values, fail)
    copy = _validate_copy(data["copy"], locales, fail) if "copy" in data else None
    return _Fields(values=values, copy=copy, errors=errors)


def _names(locales: list[str]) -> str:
    return ", ".join(LOCALE_NAMES.get(code, str(code)) for code in locales)


def _locales_message(locales: Any) -> str:
    """What is wrong with `locales`, in words: none chosen, an unknown code, or one twice."""
    every = _names(list(LOCALES))
    if isinstance(locales, list) and locales:
        unknown = [code for code in locales if code not in LOCALES]
        if unknown:
            codes = ", ".join(f"{code!r}" for code in unknown[:3])
            known = ", ".join(f"{LOCALE_NAMES[code]} ({code})" for code in LOCALES)
            return f"Unknown language {codes}: choose from {known}."
        repeated = sorted({code for code in locales if locales.count(code) > 1})
        if repeated:
            return f"List each language once: {_names(repeated)} appears twice."
    return f"Choose at least one language: {every}."


def _validate_destination(url: Any, domains: Any, values: dict[str, Any], fail: Any) -> None:
    if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
        fail("allowed_domains", "List the domains referral links may redirect to.")
        return
    cleaned = sorted({d.strip().lower().rstrip(".") for d in domains})
    bad = [d for d in cleaned if not DOMAIN.match(d)]
    if bad:
        fail("allowed_domains", f"Not a domain name: {', '.join(bad[:3])}.")
        return
    values["allowed_domains"] = cleaned
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:  # e.g. an unclosed IPv6 bracket: "https://[shop"
        parts = None
    if (
        parts is None
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or CONTROL_OR_SPACE.search(url)
    ):
        fail("destination_url", "Must be an http(s) URL such as https://shop.example.com/.")
        return
    if len(url) > 500:
        fail("destination_url", "At most 500 characters.")
        return
    if not domain_allowed(parts.hostname, cleaned):
        fail(
            "destination_url",
            f"{parts.hostname} is not among the allowed domains ({', '.join(cleaned)}).",
        )
        return
    values["destination_url"] = url


def domain_allowed(host: str, allowed: list[str]) -> bool:
    """Exact match or a subdomain of an allowed domain (`shop.example.com` under `example.com`)."""
    host = host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in allowed)


def _parse_time(value: Any) -> tuple[datetime | None, str]:
    """(the aware time or None, an error message or '')."""
    if value in (None, ""):
        return None, ""
    parsed = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:  # well formed but no such day, e.g. 2026-02-30
            parsed = None
    if parsed is None:
        return None, "Must be an ISO-8601 time, e.g. 2026-12-01T00:00:00Z."
    if timezone.is_naive(parsed):
        return None, "Give a time zone (use Z for UTC)."
    try:
        parsed.astimezone(UTC)  # 9999-12-31T23:00-01:00 is stored, then unreadable
    except OverflowError:
        return None, "Must be between the years 1 and 9999 in UTC."
    return parsed, ""


def _validate_dates(starts: Any, ends: Any, values: dict[str, Any], fail: Any) -> None:
    start, start_error = _parse_time(starts)
    end, end_error = _parse_time(ends)
    for key, value, error in (("starts_at", start, start_error), ("ends_at", end, end_error)):
        if error:
            fail(key, error)
        else:
            values[key] = value
    if start is not None and end is not None and end <= start:
        fail("ends_at", "The end date must be after the start date.")


def _validate_branding(raw: Any, values: dict[str, Any], fail: Any) -> None:
    if not isinstance(raw, dict):
        fail("branding", "Must be an object.")
        return
    for key in sorted(set(raw) - {"brand_color", "accent_color", "logo_url"}):
        fail(f"branding.{key}", "Unknown field.")
    for key in ("brand_color", "accent_color"):
        if key in raw:
            if not isinstance(raw[key], str) or not COLOR.match(raw[key]):
                fail(f"branding.{key}", "A colour like #3b2fc9.")
            else:
                values[key] = raw[key].lower()


def _validate_copy(raw: Any, locales: list[str], fail: Any) -> dict[str, dict[str, str]]:
    limits = {"name": 120, "headline": 200, "description": 2000, "terms": 10000}
    copy: dict[str, dict[str, str]] = {}
    if not isinstance(raw, dict):
        fail("copy", "Must be an object keyed by locale.")
        return copy
    for locale, texts in raw.items():
        if locale not in locales:
            fail(f"copy.{locale}", f"Not one of the program's languages ({_names(locales)}).")
            continue
        if not isinstance(texts, dict):
            fail(f"copy.{locale}", "Must be an object with name, headline, description, terms.")
            continue
        copy[locale] = {}
        for key, value in texts.items():
            path = f"copy.{locale}.{key}"
            if key not in limits:
                fail(path, "Unknown field.")
            elif not isinstance(value, str):
                fail(path, "Must be a string.")
            elif len(value) > limits[key]:
                fail(path, f"At most {limits[key]} characters.")
            else:
                language = LOCALE_NAMES.get(locale, locale)
                copy[locale][key] = plain_text(value, path=path, what=f"the {key} ({language})")
    return copy


def _merged_config(data: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """PATCH semantics: rewards, tiers and variants are replaced whole; rules and fraud merge
    key by key (fraud thresholds too), so `{"rules": {"hold_days": 14}}` changes only that."""
    merged = dict(stored or {})
    for key in CONFIG_FIELDS & set(data):
        value = data[key]
        if (
            key in {"rules", "fraud"}
            and isinstance(value, dict)
            and isinstance(merged.get(key), dict)
        ):
            combined = {**merged[key], **value}
            if key == "fraud" and isinstance(value.get("thresholds"), dict):
                combined["thresholds"] = {
                    **merged[key].get("thresholds", {}),
                    **value["thresholds"],
                }
            merged[key] = combined
        else:
            merged[key] = value
    return merged


def _parse(data: dict[str, Any], fields: _Fields, program: Program | None) -> ProgramConfig | None:
    """Validate the configuration too, and raise every error of both at once."""
    errors = {**fields.errors, **null_errors(data)}
    config = None
    if fields.values.get("type") in ProgramType.values and "currency" not in errors:
        stored = program_current_version(program).config if program is not None else None
        try:
            config = parse_config(
                _merged_config(data, stored),
                program_type=fields.values["type"],
                currency=fields.values["currency"],
                stripe_connected=tenancy.get_current_merchant().stripe_connected,
                code_pools=code_pool_ids(program),
                locales=tuple(fields.values["locales"]),
                store_methods=stores.connected_store_methods(
                    merchant_id=tenancy.get_current_merchant().pk
                ),
            )
        except SpecError as error:
            errors.update(error.errors)
    if errors:
        raise SpecError(errors)
    return config


# --- Create, update ----------------------------------------------------------------------------


def program_check(*, program: Program | None, data: dict[str, Any]) -> None:
    """Judge `data` as `program_create` (no `program`) or `program_update` would, writing
    nothing: raises `SpecError` listing every problem. The wizard uses it to show a step's
    remaining errors alongside the ones its form found itself, all at once."""
    fields = _validate_fields(data, program)
    _parse(data, fields, program)


def _save_copy(program: Program, copy: dict[str, dict[str, str]] | None) -> None:
    for locale, texts in (copy or {}).items():
        ProgramCopy.objects.update_or_create(program=program, locale=locale, defaults=texts)


@transaction.atomic
def program_create(
    *, actor: User | None, data: dict[str, Any], request: HttpRequest | None = None
) -> Program:
    """Create a draft program and its version 1. Audited as `program.created`."""
    fields = _validate_fields(data, None)
    config = _parse(data, fields, None)
    assert config is not None  # _parse raised otherwise
    limits.check_program_features(config=config)  # A/B tests, Stripe/webhook fulfilment
    if Program.objects.filter(slug=fields.values["slug"]).exists():
        raise SpecError({"slug": "Another program of yours already uses this slug."})
    try:
        with transaction.atomic():  # a concurrent create may take the slug after our check
            program = Program.objects.create(status=ProgramStatus.DRAFT, version=1, **fields.values)
    except IntegrityError:
        raise SpecError({"slug": "Another program of yours already uses this slug."}) from None
    ProgramVersion.objects.create(
        program=program, number=1, config=config.to_dict(), created_by=actor
    )
    _save_copy(program, fields.copy)
    audit_record(
        action="program.created",
        actor=actor,
        target=program,
        data={"name": program.name, "type": program.type},
        request=request,
    )
    return program


@transaction.atomic
def program_update(
    *,
    actor: User | None,
    program: Program,
    data: dict[str, Any],
    request: HttpRequest | None = None,
) -> Program:
    """Apply a partial update. If the judged configuration changes on a program that has been
    live, a new version is added (earlier conversions keep theirs); a draft's version is edited
    in place. Audited as `program.updated` with the changed fields and the version."""
    program = Program.objects.select_for_update().get(pk=program.pk)
    if program.status == ProgramStatus.ARCHIVED:
        raise SpecError({"status": "An archived program cannot be edited; duplicate it instead."})
    fields = _validate_fields(data, program)
    config = _parse(data, fields, program)
    assert config is not None
    slug = fields.values["slug"]
    if slug != program.slug and Program.objects.filter(slug=slug).exclude(pk=program.pk).exists():
        raise SpecError({"slug": "Another program of yours already uses this slug."})
    changed = sorted(k for k, v in fields.values.items() if getattr(program, k) != v)
    for key in changed:
        setattr(program, key, fields.values[key])
    current = program_current_version(program)
    new_config = config.to_dict()
    if new_config != current.config:
        limits.check_program_features(  # only the parts that change
            config=config, keys={k for k in new_config if new_config[k] != current.config.get(k)}
        )
        changed += sorted(CONFIG_FIELDS & set(data))
        if program.status == ProgramStatus.DRAFT:
            current.config = new_config
            current.save(update_fields=["config"])
        else:
            program.version += 1
            ProgramVersion.objects.create(
                program=program, number=program.version, config=new_config, created_by=actor
            )
            changed.append("version")
    try:
        with transaction.atomic():  # a concurrent update may take the slug after our check
            program.save()
    except IntegrityError:
        raise SpecError({"slug": "Another program of yours already uses this slug."}) from None
    _save_copy(program, fields.copy)
    if fields.copy:
        changed.append("copy")
    if changed:
        audit_record(
            action="program.updated",
            actor=actor,
            target=program,
            data={"fields": sorted(set(changed)), "version": program.version},
            request=request,
        )
    return program


def program_set_logo(
    *,
    actor: User | None,
    program: Program,
    upload: UploadedFile,
    request: HttpRequest | None = None,
) -> Program:
    """Store a logo after checking its size and that it really is a PNG, JPEG, WebP or GIF
    image (by decoding it, not by trusting its name or declared type). SVG is refused: it can
    carry script."""
    from PIL import Image, UnidentifiedImageError

    if program.status == ProgramStatus.ARCHIVED:
        raise SpecError({"logo": "An archived program cannot be edited; duplicate it instead."})
    if upload.size is None or upload.size > LOGO_MAX_BYTES:
        raise SpecError({"logo": "The logo must be at most 1 MB."})
    try:
        with Image.open(upload) as image:
            image.verify()
            kind = image.format
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise SpecError({"logo": "Upload a PNG, JPEG, WebP or GIF image."}) from None
    if kind not in LOGO_FORMATS:
        raise SpecError({"logo": "Upload a PNG, JPEG, WebP or GIF image."})
    upload.seek(0)
    with transaction.atomic():
        program.logo.save(f"{program.public_id}.{LOGO_FORMATS[kind]}", upload, save=True)
        audit_record(action="program.logo_changed", actor=actor, target=program, request=request)
    return program


# --- Lifecycle -------------------------------------------------------------------------------


def _transition(
    action: str, *, actor: User | None, program: Program, request: HttpRequest | None
) -> Program:
    allowed = TRANSITIONS[action]
    with transaction.atomic():
        locked = Program.objects.select_for_update().get(pk=program.pk)
        target = allowed.get(locked.status)
        if target is None:
            raise SpecError({"status": f"A {locked.status} program cannot {action}."})
        if action == "activate":
            _check_ready_to_activate(locked)
            limits.check_program_activation(program=locked)  # the plan's program limit
        previous = locked.status
        locked.status = target
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            action=f"program.{action}d",
            actor=actor,
            target=locked,
            data={"from": previous, "to": target},
            request=request,
        )
    return locked


def _check_ready_to_activate(program: Program) -> None:
    if program.ends_at is not None and program.ends_at <= timezone.now():
        raise SpecError({"ends_at": "This program's end date has passed; change it first."})
    config = program_config(program)
    specs = [config.advocate_reward, config.friend_reward, *[t.reward for t in config.tiers]]
    for variant in config.variants:
        specs += [variant.advocate_reward, variant.friend_reward]
    for spec in specs:
        if spec is not None and spec.fulfilment == "code_pool":
            remaining = PoolCode.objects.filter(
                pool__public_id=spec.code_pool, assigned_at__isnull=True
            ).count()
            if remaining == 0:
                raise SpecError(
                    {
                        "code_pool": "A code pool this program uses has no codes left; "
                        "upload codes first."
                    }
                )


def program_activate(
    *, actor: User | None, program: Program, request: HttpRequest | None = None
) -> Program:
    return _transition("activate", actor=actor, program=program, request=request)


def program_pause(
    *, actor: User | None, program: Program, request: HttpRequest | None = None
) -> Program:
    return _transition("pause", actor=actor, program=program, request=request)


def program_archive(
    *, actor: User | None, program: Program, request: HttpRequest | None = None
) -> Program:
    return _transition("archive", actor=actor, program=program, request=request)


# The lifecycle transition that reaches each status (PATCH `status` goes through these).
STATUS_ACTIONS = {
    ProgramStatus.ACTIVE: "activate",
    ProgramStatus.PAUSED: "pause",
    ProgramStatus.ARCHIVED: "archive",
}


def program_update_with_status(
    *,
    actor: User | None,
    program: Program,
    data: dict[str, Any],
    request: HttpRequest | None = None,
) -> Program:
    """`PATCH` of a program: the fields as `program_update`, then, when `status` is sent and
    differs, the lifecycle transition that reaches it, with the same checks and errors as
    `program_activate/pause/archive`. One transaction: if the transition is refused, the
    fields are not changed either."""
    data = dict(data)
    if "status" not in data:
        return program_update(actor=actor, program=program, data=data, request=request)
    target = data.pop("status")
    _check_status_value(target)
    with transaction.atomic():
        if set(data) - READ_ONLY_FIELDS:
            program = program_update(actor=actor, program=program, data=data, request=request)
        else:
            program = Program.objects.get(pk=program.pk)
        return _reach_status(program, target, actor=actor, request=request)


def program_create_with_status(
    *, actor: User | None, data: dict[str, Any], request: HttpRequest | None = None
) -> Program:
    """`POST` of a program: a draft, then (when `status` is sent and is not `draft`) the
    transition that reaches it, in one transaction: a refused activation creates nothing."""
    data = dict(data)
    target = data.pop("status", ProgramStatus.DRAFT)
    _check_status_value(target)
    with transaction.atomic():
        program = program_create(actor=actor, data=data, request=request)
        return _reach_status(program, target, actor=actor, request=request)


def _check_status_value(target: Any) -> None:
    choices = [str(value) for value in ProgramStatus.values]
    if not isinstance(target, str) or target not in choices:
        raise SpecError({"status": f"Must be one of: {', '.join(choices)}."})


def _reach_status(
    program: Program, target: str, *, actor: User | None, request: HttpRequest | None
) -> Program:
    if target == program.status:
        return program
    action = STATUS_ACTIONS.get(ProgramStatus(target))
    if action is None:
        raise SpecError(
            {"status": f"A {program.status} program cannot go back to draft; duplicate it."}
        )
    return _transition(action, actor=actor, program=program, request=request)


@transaction.atomic
def program_duplicate(
    *, actor: User | None, program: Program, request: HttpRequest | None = None
) -> Program:
    """A new draft with the same settings, copy and current configuration (code pools are not
    copied: codes are single-use, so pool-fulfilled rewards must point at a new pool)."""
    program = Program.objects.get(pk=program.pk)  # the caller's instance may be stale
    limits.check_program_features(config=program_config(program))  # a copy is a new program
    base = f"{program.slug[:48]}-copy"
    slug = base
    while Program.objects.filter(slug=slug).exists():
        slug = f"{base}-{random_string(4).lower()}"
    copy = Program.objects.create(
        name=f"{program.name} (copy)"[:120],
        slug=slug,
        type=program.type,
        status=ProgramStatus.DRAFT,
        currency=program.currency,
        default_locale=program.default_locale,
        locales=list(program.locales),
        destination_url=program.destination_url,
        allowed_domains=list(program.allowed_domains),
        starts_at=None,
        ends_at=None,
        brand_color=program.brand_color,
        accent_color=program.accent_color,
        logo=program.logo.name if program.logo else "",
        version=1,
    )
    ProgramVersion.objects.create(
        program=copy, number=1, config=program_current_version(program).config, created_by=actor
    )
    _save_copy(copy, program_copy(program))
    audit_record(
        action="program.duplicated",
        actor=actor,
        target=copy,
        data={"from": program.public_id},
        request=request,
    )
    return copy


# --- A/B variants ----------------------------------------------------------------------------


def variant_for(config: ProgramConfig, *, program: Program, subject: str) -> Variant | None:
    """The variant a person falls in: a stable hash of the program and the person's normalised
    identity picks a point in the weights, so the same person always gets the same variant
    (callers store the answer on the advocate at enrolment, so later weight changes do not move
    anyone)."""
    total = sum(v.weight for v in config.variants)
    if total == 0:
        return None
    digest = hashlib.sha256(f"{program.public_id}:{subject.strip().lower()}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for variant in config.variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return None  # unreachable: the weights sum to `total`
