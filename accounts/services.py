"""Writes and state transitions for merchants, members, invitations, API keys and the audit log.

Services run inside the current merchant (`referral_saas.tenancy`); permission to call them is
checked by the caller (dashboard decorator, API permission), invariants are checked here.
"""

from __future__ import annotations

import hashlib
import secrets
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.api_key_cache import (
    Lookup,
    api_key_cache_invalidate,
    api_key_cache_touch,
)
from accounts.api_key_cache import api_key_lookup as api_key_cache_lookup
from accounts.models import (
    ROLE_RANK,
    ApiKey,
    ApiKeyKind,
    AuditEvent,
    Invitation,
    Membership,
    Merchant,
    Role,
    User,
)
from referral_saas import limits, tenancy
from referral_saas.api.idempotency_store import PendingClaim
from referral_saas.ids import random_string
from referral_saas.privacy import client_ip, truncate_ip

INVITATION_TTL = timedelta(days=7)
KEY_PREFIXES = {ApiKeyKind.SECRET: "sk_live_", ApiKeyKind.PUBLISHABLE: "pk_live_"}
# Keys of a merchant's test data space (its test twin, `accounts.testmode`).
TEST_KEY_PREFIXES = {ApiKeyKind.SECRET: "sk_test_", ApiKeyKind.PUBLISHABLE: "pk_test_"}
ALL_KEY_PREFIXES = (*KEY_PREFIXES.values(), *TEST_KEY_PREFIXES.values())


def key_prefix(kind: str, *, livemode: bool) -> str:
    return (KEY_PREFIXES if livemode else TEST_KEY_PREFIXES)[ApiKeyKind(kind)]


KEY_RANDOM_LENGTH = 40  # base62: ~238 bits


def hash_token(plaintext: str) -> str:
    """Keys and invitation tokens are long random strings, so a fast unsalted hash is safe."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


# --- Audit -----------------------------------------------------------------------------------

# Who acts when there is no user: the API sets the key ("API key sk_live_…abcd") for the request.
_actor_label: ContextVar[str] = ContextVar("audit_actor_label", default="")


def audit_actor_activate(label: str) -> Token[str]:
    return _actor_label.set(label)


def audit_actor_deactivate(token: Token[str]) -> None:
    _actor_label.reset(token)


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    actor_label: str = "",
    target: Model | None = None,
    data: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one audit event to the current merchant's log (never updated or deleted)."""
    return AuditEvent.objects.create(
        action=action,
        actor_user=actor,
        actor_label=actor_label or (actor.email if actor else _actor_label.get() or "system"),
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(getattr(target, "public_id", getattr(target, "pk", ""))) if target else "",
        data=data or {},
        ip_prefix=truncate_ip(client_ip(request)) if request is not None else "",
    )


# --- Merchants -------------------------------------------------------------------------------


def _unique_slug(name: str) -> str:
    base = slugify(name)[:48] or "merchant"
    slug = base
    while Merchant.objects.filter(slug=slug).exists():
        slug = f"{base}-{random_string(5).lower()}"
    return slug


@transaction.atomic
def merchant_create(*, name: str, owner: User, request: HttpRequest | None = None) -> Merchant:
    """Create a merchant with `owner` as its first owner. Audited as `merchant.created`."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give your business a name."})
    merchant = Merchant.objects.create(name=name, slug=_unique_slug(name))
    with tenancy.merchant_context(merchant):
        Membership.objects.create(user=owner, role=Role.OWNER)
        audit_record(action="merchant.created", actor=owner, target=merchant, request=request)
    return merchant


def merchant_update_security(
    *, actor: User, require_owner_mfa: bool, request: HttpRequest | None = None
) -> Merchant:
    merchant = tenancy.get_current_merchant()
    if merchant.require_owner_mfa != require_owner_mfa:
        merchant.require_owner_mfa = require_owner_mfa
        merchant.save(update_fields=["require_owner_mfa"])
        audit_record(
            action="merchant.owner_mfa_required"
            if require_owner_mfa
            else "merchant.owner_mfa_optional",
            actor=actor,
            target=merchant,
            request=request,
        )
    return merchant


PROFILE_FIELDS = ("name", "privacy_policy_url", "sender_name", "reply_to_email")
# What a test data space (`accounts.testmode`) mirrors of its account: shown on its hosted pages
# and in its emails.
MIRRORED_FIELDS = ("name", "privacy_policy_url", "sender_name", "reply_to_email")


def _mirror_to_test_twin(live: Merchant, fields: list[str]) -> None:
    mirrored = [field for field in fields if field in MIRRORED_FIELDS]
    if live.livemode and mirrored:
        Merchant.objects.filter(live_merchant=live).update(
            **{field: getattr(live, field) for field in mirrored}
        )


@transaction.atomic
def merchant_update_profile(
    *, actor: User | None, values: dict[str, str], request: HttpRequest | None = None
) -> Merchant:
    """Save the business name, privacy policy URL, email sender name and reply-to address
    (`values` as cleaned by `accounts.forms.MerchantProfileForm`; keys left out are kept).

    The slug never changes with the name, so links already handed out keep working. Audited
    as `merchant.profile_updated` with each changed field's before and after; nothing is
    written when nothing changed."""
    unknown = sorted(set(values) - set(PROFILE_FIELDS))
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    if "name" in values and not values["name"].strip():
        raise ValidationError({"name": "Give your business a name."})
    current = tenancy.get_current_merchant()
    merchant = Merchant.objects.select_for_update().get(pk=current.pk)
    changes = {
        field: {"from": getattr(merchant, field), "to": value}
        for field, value in values.items()
        if getattr(merchant, field) != value
    }
    if not changes:
        return merchant
    for field, change in changes.items():
        setattr(merchant, field, change["to"])
        setattr(current, field, change["to"])  # the request's copy shows the new values too
    merchant.save(update_fields=sorted(changes))
    _mirror_to_test_twin(merchant, sorted(changes))
    audit_record(
        action="merchant.profile_updated",
        actor=actor,
        target=merchant,
        data={"changes": changes},
        request=request,
    )
    return merchant


# --- Members and invitations -----------------------------------------------------------------


def _assert_may_grant(actor: Membership, role: str) -> None:
    if role not in ROLE_RANK:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can make someone an owner."})


def _owner_count() -> int:
    return Membership.objects.filter(role=Role.OWNER).count()


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    accept_url: str


@transaction.atomic
def invitation_create(
    *, actor: Membership, email: str, role: str, request: HttpRequest | None = None
) -> IssuedInvitation:
    """Invite `email` with `role`; replaces any open invitation to the same address.

    Side effects: the invitation email is sent after commit; audited as `member.invited`.
    """
    _assert_may_grant(actor, role)
    email = User.objects.normalize_email(email.strip()).lower()
    if Membership.objects.filter(user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member."})
    limits.check_seat_available(email=email)  # the plan's team seats
    now = timezone.now()
    Invitation.objects.filter(
        email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        email=email,
        role=role,
        token_hash=hash_token(token),
        invited_by=actor.user,
        expires_at=now + INVITATION_TTL,
    )
    accept_url = settings.PUBLIC_BASE_URL + reverse("invitation_accept", args=[token])
    merchant = tenancy.get_current_merchant()
    context = {
        "merchant": merchant,
        "invitation": invitation,
        "accept_url": accept_url,
        "inviter": actor.user,
    }
    message = EmailMessage(
        subject=f"{actor.user.email} invited you to {merchant.name}",
        body=render_to_string("accounts/email/invitation.txt", context),
        to=[email],
        reply_to=[actor.user.email],  # a question about the invitation reaches the inviter
    )
    transaction.on_commit(message.send)
    audit_record(
        action="member.invited",
        actor=actor.user,
        target=invitation,
        data={"email": email, "role": role},
        request=request,
    )
    return IssuedInvitation(invitation=invitation, accept_url=accept_url)


def invitation_find(token: str) -> Invitation | None:
    """Look an invitation up by its token; crosses tenants because the token names the merchant."""
    return (
        Invitation.unscoped_all_merchants.select_related("merchant")
        .filter(token_hash=hash_token(token))
        .first()
    )


@transaction.atomic
def invitation_accept(
    *, invitation: Invitation, user: User, request: HttpRequest | None = None
) -> Membership:
    """Turn an open invitation into a membership for `user` (whose email must match)."""
    if not invitation.is_open:
        raise ValidationError("This invitation has expired or was already used.")
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}."
        )
    with tenancy.merchant_context(invitation.merchant):
        claimed = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(accepted_at=timezone.now(), accepted_by=user)
        if claimed != 1:
            raise ValidationError("This invitation has expired or was already used.")
        try:
            with transaction.atomic():
                membership = Membership.objects.create(user=user, role=invitation.role)
        except IntegrityError:
            raise ValidationError("You are already a member of this merchant.") from None
        audit_record(
            action="member.joined",
            actor=user,
            target=membership,
            data={"role": invitation.role, "invitation": invitation.public_id},
            request=request,
        )
    return membership


def invitation_revoke(
    *, actor: Membership, invitation: Invitation, request: HttpRequest | None = None
) -> None:
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            action="member.invitation_revoked",
            actor=actor.user,
            target=invitation,
            data={"email": invitation.email},
            request=request,
        )


@transaction.atomic
def membership_change_role(
    *, actor: Membership, membership: Membership, role: str, request: HttpRequest | None = None
) -> Membership:
    _assert_may_grant(actor, role)
    if membership.role == Role.OWNER and actor.role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can change an owner's role."})
    # Lock the owners so two concurrent demotions cannot leave the merchant without one.
    list(Membership.objects.select_for_update().filter(role=Role.OWNER))
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count() <= 1:
        raise ValidationError({"role": "A merchant needs at least one owner."})
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        action="member.role_changed",
        actor=actor.user,
        target=membership,
        data={"user": membership.user.email, "from": previous, "to": role},
        request=request,
    )
    return membership


@transaction.atomic
def membership_remove(
    *, actor: Membership, membership: Membership, request: HttpRequest | None = None
) -> None:
    """Remove a member; their next request to this merchant is refused (membership is checked
    on every request, nothing is cached)."""
    if membership.role == Role.OWNER and actor.role != Role.OWNER:
        raise ValidationError("Only an owner can remove an owner.")
    list(Membership.objects.select_for_update().filter(role=Role.OWNER))
    if membership.role == Role.OWNER and _owner_count() <= 1:
        raise ValidationError("A merchant needs at least one owner.")
    email = membership.user.email
    membership.delete()
    audit_record(
        action="member.removed",
        actor=actor.user,
        data={"user": email, "role": membership.role},
        request=request,
    )


# --- API keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    plaintext: str  # shown once, never stored


def normalise_origins(origins: list[str]) -> list[str]:
    """Validate browser origins (`https://shop.example.com`, optional port); no paths."""
    from urllib.parse import urlsplit

    cleaned: list[str] = []
    for raw in origins:
        origin = raw.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query:
            raise ValidationError(
                {"allowed_origins": f"{raw!r} is not an origin like https://shop.example.com"}
            )
        cleaned.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return sorted(set(cleaned))


def _mint(kind: str) -> tuple[str, str, str]:
    prefix = key_prefix(kind, livemode=tenancy.get_current_merchant().livemode)
    plaintext = prefix + random_string(KEY_RANDOM_LENGTH)
    return plaintext, prefix, plaintext[-4:]


@transaction.atomic
def api_key_create(
    *,
    actor: User | None,
    kind: str,
    name: str,
    allowed_origins: list[str] | None = None,
    request: HttpRequest | None = None,
    plaintext: str | None = None,
) -> IssuedKey:
    """Mint a key. Returns the plaintext once; stores only its hash. Audited `api_key.created`.

    `plaintext` is only for the demo seed, whose keys are derived from the install's secret so
    that re-seeding prints the same working keys; everything else lets us mint them."""
    if kind not in ApiKeyKind.values:
        raise ValidationError({"kind": "Choose secret or publishable."})
    origins = normalise_origins(allowed_origins or [])
    if kind == ApiKeyKind.SECRET and origins:
        raise ValidationError(
            {"allowed_origins": "Secret keys are for servers; they have no origins."}
        )
    if kind == ApiKeyKind.PUBLISHABLE and not origins:
        raise ValidationError(
            {"allowed_origins": "A publishable key needs at least one allowed origin."}
        )
    if plaintext is None:
        plaintext, prefix, last4 = _mint(kind)
    else:
        prefix = key_prefix(kind, livemode=tenancy.get_current_merchant().livemode)
        last4 = plaintext[-4:]
        if not plaintext.startswith(prefix) or len(plaintext) != len(prefix) + KEY_RANDOM_LENGTH:
            raise ValidationError("A supplied key must look like a minted one.")
    key = ApiKey.objects.create(
        kind=kind,
        name=name.strip() or f"{kind} key",
        key_hash=hash_token(plaintext),
        prefix=prefix,
        last4=last4,
        allowed_origins=origins,
        created_by=actor,
    )
    audit_record(
        action="api_key.created",
        actor=actor,
        target=key,
        data={"kind": kind, "name": key.name, "key": key.masked},
        request=request,
    )
    return IssuedKey(key=key, plaintext=plaintext)


def api_key_revoke(*, actor: User | None, key: ApiKey, request: HttpRequest | None = None) -> None:
    """Revoke at once: the next request with this key is refused. Idempotent."""
    updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    # Every process's cached copy is stale from the next request on (after the commit).
    api_key_cache_invalidate(key.key_hash)
    if updated:
        audit_record(
            action="api_key.revoked",
            actor=actor,
            target=key,
            data={"key": key.masked},
            request=request,
        )


@transaction.atomic
def api_key_roll(
    *, actor: User | None, key: ApiKey, grace_hours: int, request: HttpRequest | None = None
) -> IssuedKey:
    """Replace `key` with a new one of the same kind, name and origins. The old key stays valid
    for `grace_hours` (0 = refused at once) so deployments can switch without downtime."""
    if not 0 <= grace_hours <= 24 * 7:
        raise ValidationError({"grace_hours": "Choose a grace period from 0 to 168 hours."})
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if not locked.is_active() or locked.replaced_by_id is not None:
        raise ValidationError("Only an active key that has not been rolled can be rolled.")
    issued = api_key_create(
        actor=actor,
        kind=locked.kind,
        name=locked.name,
        allowed_origins=locked.allowed_origins,
        request=request,
    )
    now = timezone.now()
    locked.replaced_by = issued.key
    if grace_hours == 0:
        locked.revoked_at = now
    else:
        locked.expires_at = now + timedelta(hours=grace_hours)
    locked.save(update_fields=["replaced_by", "revoked_at", "expires_at"])
    api_key_cache_invalidate(locked.key_hash)
    audit_record(
        action="api_key.rolled",
        actor=actor,
        target=locked,
        data={"key": locked.masked, "replacement": issued.key.masked, "grace_hours": grace_hours},
        request=request,
    )
    return issued


LAST_USED_RESOLUTION = timedelta(minutes=1)


def _api_key_fetch(key_hash: str) -> ApiKey | None:
    # Crosses tenants by nature: the key is what tells us the merchant.
    try:
        return ApiKey.unscoped_all_merchants.select_related("merchant").get(key_hash=key_hash)
    except ApiKey.DoesNotExist:
        return None


def api_key_lookup(plaintext: str, *, claim: PendingClaim | None = None) -> Lookup:
    """The active key for `plaintext` (None if unknown, revoked or expired), with the rate-limit
    count (and the `Idempotency-Key` `claim`'s outcome) when the lookup made it: one indexed
    SELECT, or none when this process has the key cached under a version that still holds
    (`accounts.api_key_cache`; revocation changes it).
    Refreshes `last_used_at` at most once a minute so the hot path does not write on every
    request."""
    if not plaintext.startswith(ALL_KEY_PREFIXES) or len(plaintext) > 100:
        return Lookup(None)
    key_hash = hash_token(plaintext)
    found = api_key_cache_lookup(key_hash, lambda: _api_key_fetch(key_hash), claim=claim)
    key = found.key
    now = timezone.now()
    if key is None or not key.is_active(now):
        return Lookup(None, found.counted)
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.unscoped_all_merchants.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        api_key_cache_touch(key_hash, key)
    return found


def api_key_authenticate(plaintext: str) -> ApiKey | None:
    """The active key for `plaintext`, or None (see `api_key_lookup`)."""
    return api_key_lookup(plaintext).key
