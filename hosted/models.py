"""What the hosted pages need beyond tracking's rows: per-program page settings, consent
records, friends' opt-outs, the emails already sent (idempotency) and retired referral codes.

Everything here is merchant-owned (`TenantModel`), so the scoped managers apply as everywhere.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from programs.models import Program
from referral_saas.tenancy import TenantModel
from tracking.models import Advocate, Click


class HostedSettings(TenantModel):
    """A program's hosted-page switches. No row means the defaults: friends are never emailed,
    the friend page lets visitors straight through to the shop, and advocates enrolled by the
    API are welcomed by email like those who join on the landing page."""

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="+")
    # Friends are emailed by us (advocate invitations, their reward notices) only when this is on
    # (DESIGN.md §4: never unless the merchant turns it on, and never after an opt-out).
    friend_emails_enabled = models.BooleanField(default=False)
    # The friend page asks for the friend's email (recorded as a referral) before the shop.
    friend_email_capture = models.BooleanField(default=False)
    # Advocates enrolled through `POST /api/v1/advocates` (the shop's own sign-up) get the same
    # welcome email (link, code, portal) as those who join on the landing page.
    welcome_email_for_api_enrolments = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "hosted settings"

    def __str__(self) -> str:
        return f"Hosted settings of {self.program_id}"


class ConsentChoice(models.TextChoices):
    GRANTED = "granted", "Granted"
    DENIED = "denied", "Denied"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ConsentRecord(TenantModel):
    """One consent decision on a hosted page, kept as evidence: when, which text, what choice.
    The visitor id is the one the choice created (granted) or ended (withdrawn)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    # No database constraint: clicks are partitioned on PostgreSQL (tracking.models.Click).
    click = models.ForeignKey(
        Click,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    choice = models.CharField(max_length=16, choices=ConsentChoice.choices)
    text_version = models.CharField(max_length=20)
    locale = models.CharField(max_length=5)
    visitor_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["merchant", "visitor_id"], name="consent_visitor")]


class FriendOptOut(TenantModel):
    """A friend who asked never to be emailed by this merchant's programs again."""

    email = models.EmailField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint("merchant", Lower("email"), name="friend_opt_out_unique"),
        ]


class SentEmailStatus(models.TextChoices):
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"


class SentEmail(TenantModel):
    """One email we send, claimed before sending under a unique key (`welcome:<advocate>`,
    `reward:<reward>`...), so a re-delivered task finds it and sends nothing twice. No address
    is stored: the key names rows, and a friend's address only as a keyed hash."""

    key = models.CharField(max_length=120)
    kind = models.CharField(max_length=30)
    status = models.CharField(
        max_length=16, choices=SentEmailStatus.choices, default=SentEmailStatus.SENDING
    )
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="sent_email_unique_key"),
        ]


class HeldEmail(TenantModel):
    """An advocate or friend email of the test data space (`accounts.testmode`), kept for the
    dashboard instead of being sent: test mode never writes to anyone outside the team."""

    key = models.CharField(max_length=120)
    kind = models.CharField(max_length=30)
    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=300)
    text = models.TextField()
    locale = models.CharField(max_length=8)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["merchant", "-created_at"], name="held_email_recent")]


class CodeAlias(TenantModel):
    """A referral code an advocate used before a vanity code replaced it: links already shared
    keep working."""

    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="code_alias_unique"),
        ]
        indexes = [models.Index(fields=["code"], name="code_alias_code")]


class EmailTemplateOverride(TenantModel):
    """A merchant's own subject and body for one email kind in one of the program's locales.

    Plain text with `{{ placeholder }}` names only (hosted.email_overrides): never rendered as a
    Django template. The HTML layout and the footer (why you receive this, privacy notice,
    opt-out link) stay ours and are always added."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    locale = models.CharField(max_length=5)
    kind = models.CharField(max_length=30)
    subject = models.CharField(max_length=200)
    body = models.TextField(max_length=5000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "program", "locale", "kind"],
                name="email_template_override_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.locale}) of {self.program_id}"
