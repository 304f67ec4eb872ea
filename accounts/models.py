"""Users, merchants (the tenant), memberships, invitations, API keys and the audit log."""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referral_saas.crypto import EncryptedTextField
from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel


class EmailUserManager(UserManager["User"]):
    def _create_user_object(self, username: Any, email: Any, password: Any, **extra: Any) -> User:
        email = self.normalize_email(email or username)
        user = self.model(email=email, **extra)
        user.password = ""
        if password is not None:
            user.set_password(password)
        else:
            user.set_unusable_password()
        return user

    def create_user(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        user = self._create_user_object(None, email, password, **extra)
        user.save(using=self._db)
        return user

    def create_superuser(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> User:
        extra.update(is_staff=True, is_superuser=True)
        user = self._create_user_object(None, email, password, **extra)
        user.save(using=self._db)
        return user


class User(AbstractUser):
    """A person who logs in to the dashboard. Identified by email; may belong to many merchants."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    # The dashboard's language for this person ("" = the browser's, via Accept-Language);
    # `accounts.language` activates it on every request once they are signed in.
    language = models.CharField(max_length=8, blank=True, default="")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[EmailUserManager] = EmailUserManager()

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email


class Merchant(models.Model):
    """The tenant. Everything a merchant owns points here through `TenantModel.merchant`."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "mer"), editable=False
    )
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    require_owner_mfa = models.BooleanField(
        default=False, help_text="Owners must have two-factor authentication to use the dashboard."
    )
    # Shown on hosted pages that collect an email (footer, consent banner) and in emails.
    privacy_policy_url = models.URLField(max_length=500, blank=True)
    # Advocate and friend emails: From is "<sender_name or name> <DEFAULT_FROM_EMAIL's address>"
    # (our address, so SPF/DKIM hold), and replies go to the merchant's own address.
    sender_name = models.CharField(max_length=80, blank=True)
    reply_to_email = models.EmailField(max_length=254, blank=True)
    # The merchant's own Stripe account (Stripe fulfilment methods); set when they connect it.
    stripe_account_id = models.CharField(max_length=64, blank=True)
    # Signing secret (`whsec_…`) of the merchant's endpoint for POST /hooks/stripe/<public_id>/.
    # Never shown back in full: the dashboard shows only its last 4 characters.
    stripe_webhook_secret = EncryptedTextField(blank=True)
    # Test mode: every merchant's test data lives in a data space of its own, its *test twin*, a
    # Merchant row with `livemode=False` pointing at the live one (`accounts.testmode`). Tenancy
    # scopes by merchant, so a row's merchant is its (account, mode) and no query can mix modes.
    livemode = models.BooleanField(default=True, editable=False)
    live_merchant = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="test_twin",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(livemode=True, live_merchant__isnull=True)
                | models.Q(livemode=False, live_merchant__isnull=False),
                name="merchant_test_twin_has_live_merchant",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def account(self) -> Merchant:
        """The live merchant: the account this data space belongs to (itself when live)."""
        return self if self.livemode else self.live_merchant  # type: ignore[return-value]

    @property
    def stripe_connected(self) -> bool:
        return bool(self.stripe_account_id)


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    REVIEWER = "reviewer", _("Reviewer")
    VIEWER = "viewer", _("Viewer")


# What each role may do, most powerful first. Views ask for the least role that may act.
ROLE_RANK: dict[str, int] = {Role.VIEWER: 0, Role.REVIEWER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Membership(TenantModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.merchant_id}:{self.role}"

    def has_role(self, least: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[least]


class Invitation(TenantModel):
    """An emailed invitation to join a merchant with a role. Only the token's hash is stored."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "inv"), editable=False
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["merchant", "email"], name="invitation_merchant_email")]
        constraints = [
            # One open invitation per address per merchant; re-inviting refreshes it.
            models.UniqueConstraint(
                "merchant",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
        ]

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class ApiKeyKind(models.TextChoices):
    SECRET = "secret", _("Secret (server)")
    PUBLISHABLE = "publishable", _("Publishable (browser)")


class ApiKey(TenantModel):
    """An API key. The plaintext is shown once at creation; only its SHA-256 is stored."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "key"), editable=False
    )
    kind = models.CharField(max_length=16, choices=ApiKeyKind.choices)
    name = models.CharField(max_length=80)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16, help_text="Visible start of the key, e.g. sk_live_")
    last4 = models.CharField(max_length=4)
    allowed_origins = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Set when the key is rolled with a grace period: valid until then, refused after.
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["merchant", "-created_at"], name="apikey_merchant_created")]

    def __str__(self) -> str:
        return f"{self.prefix}…{self.last4}"

    @property
    def masked(self) -> str:
        return f"{self.prefix}…{self.last4}"

    def is_active(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditEvent(TenantModel):
    """Append-only record of a security-relevant action. PostgreSQL refuses UPDATE and DELETE."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "aud"), editable=False
    )
    action = models.CharField(max_length=64)
    # The actor is copied, not only referenced, so the record survives the user's deletion.
    actor_user = models.ForeignKey(
        User, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_prefix = models.CharField(max_length=64, blank=True, help_text="Truncated client IP.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["merchant", "-created_at"], name="audit_merchant_created")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"


class TestDataErasureStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class TestDataErasure(TenantModel):
    """One erasure of a test data space (`accounts.testmode.test_data_erase`), with its
    progress: the rows deleted so far, per model."""

    __test__ = False  # not a pytest test class

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "tde"), editable=False
    )
    status = models.CharField(
        max_length=16, choices=TestDataErasureStatus.choices, default=TestDataErasureStatus.PENDING
    )
    requested_by = models.CharField(max_length=254, blank=True)
    deleted = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["merchant", "-created_at"], name="tde_merchant_created")]


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight", _("In flight")
    COMPLETED = "completed", _("Completed")


class IdempotencyRecord(TenantModel):
    """The first response to a POST sent with an `Idempotency-Key`, replayed for retries.

    Claimed (`in_flight`) before the handler runs and completed with the response after it; see
    `accounts.api.idempotency` for the flow. `(merchant, key)` is unique, so keys are per
    merchant and a concurrent duplicate loses the INSERT race instead of running twice.
    """

    key = models.CharField(max_length=255)
    # sha256 of method, path and canonical body: the same key with another body is refused.
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=IdempotencyState.choices)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The rendered JSON exactly as first sent (text, not jsonb, so a replay is byte-identical).
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="idempotency_unique_key"),
        ]
        # Crosses tenants on purpose: the purge task deletes expired rows of every merchant.
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires_at")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
