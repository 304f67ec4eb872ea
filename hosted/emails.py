"""Advocate and friend emails: rendered in the recipient's language (HTML and text), sent at most
once each.

Exactly-once, as far as SMTP allows: an email is *claimed* by inserting its `SentEmail` row
under a unique key before sending, so a re-delivered task (acks_late, a worker killed after
sending) finds the key and sends nothing. If sending raises, the claim is deleted and the
error propagates, so the task's retry sends it. A claim left behind by a worker killed *during*
sending is taken over after `STALE_CLAIM`, accepting a rare duplicate over a lost email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import linebreaks, urlize
from django.utils.safestring import mark_safe

from accounts.mail import merchant_from_email, merchant_reply_to
from accounts.models import Membership, Merchant
from hosted import email_overrides
from hosted.models import EmailTemplateOverride, HeldEmail, SentEmail, SentEmailStatus
from programs.models import Program
from referral_saas import tenancy

STALE_CLAIM = timedelta(minutes=15)
KINDS = ("welcome", "portal_link", "reward_earned", "tier_reached", "friend_invitation")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render_email(
    kind: str,
    locale: str,
    context: dict[str, Any],
    *,
    override: EmailTemplateOverride | None = None,
    use_overrides: bool = True,
) -> Rendered:
    """Subject, text and HTML of `kind` in `locale`, from templates/hosted/email/<kind>.*, or
    from the merchant's override for (context's program, locale, kind) when there is one.

    `override` renders that one (a preview of unsaved text); `use_overrides=False` our default."""
    if kind not in KINDS:
        raise ValueError(f"Unknown email {kind!r}")
    if override is None and use_overrides:
        override = find_override(context.get("program"), locale, kind)
    with translation.override(locale):
        context = {**context, "locale": locale, "kind": kind}
        if override is not None:
            return _render_override(kind, override, context)
        subject = render_to_string(f"hosted/email/{kind}.subject.txt", context)
        text = render_to_string(f"hosted/email/{kind}.txt", context)
        html = render_to_string(f"hosted/email/{kind}.html", context)
    return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)


def find_override(program: Any, locale: str, kind: str) -> EmailTemplateOverride | None:
    if not isinstance(program, Program) or program.pk is None:
        return None
    return EmailTemplateOverride.objects.filter(program=program, locale=locale, kind=kind).first()


def _render_override(
    kind: str, override: EmailTemplateOverride, context: dict[str, Any]
) -> Rendered:
    """The merchant's text with its placeholders filled in (never a Django template), inside
    our layout and with our footer, which an override cannot remove."""
    subject = email_overrides.substitute(kind, override.subject, context)
    body = email_overrides.substitute(kind, override.body, context).replace("\r\n", "\n").strip()
    # urlize escapes the text (autoescape=True) and links the URLs; linebreaks makes paragraphs.
    body_html = mark_safe(linebreaks(urlize(body, autoescape=True)))  # noqa: S308 - escaped
    parts = {**context, "override_text": body, "override_html": body_html}
    text = render_to_string("hosted/email/_override.txt", parts)
    html = render_to_string("hosted/email/_override.html", parts)
    return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)


def _claim(key: str, kind: str) -> bool:
    try:
        with transaction.atomic():
            SentEmail.objects.create(key=key, kind=kind)
        return True
    except IntegrityError:
        stale = timezone.now() - STALE_CLAIM
        return (
            SentEmail.objects.filter(
                key=key, status=SentEmailStatus.SENDING, created_at__lt=stale
            ).update(created_at=timezone.now())
            == 1
        )


def mark_skipped(key: str, kind: str, detail: str) -> None:
    """Record that an email will never be sent (opted out, switched off), once."""
    try:
        with transaction.atomic():
            SentEmail.objects.create(
                key=key, kind=kind, status=SentEmailStatus.SKIPPED, detail=detail[:200]
            )
    except IntegrityError:
        pass


def _team_address(merchant: Merchant, address: str) -> bool:
    """Whether `address` is a member's of the account (test emails may reach the team)."""
    return Membership.unscoped_all_merchants.filter(
        merchant_id=merchant.live_merchant_id or merchant.pk, user__email__iexact=address.strip()
    ).exists()


def send_once(*, key: str, kind: str, to: str, locale: str, context: dict[str, Any]) -> bool:
    """Send `kind` to `to` unless an email with `key` was already sent (or is being sent).
    True when this call sent it."""
    if not _claim(key, kind):
        return False
    rendered = render_email(kind, locale, context)
    merchant = tenancy.get_current_merchant()
    if not merchant.livemode and not _team_address(merchant, to):
        # Test mode writes to nobody outside the team: the email is kept for the dashboard.
        HeldEmail.objects.create(
            key=key,
            kind=kind,
            to=to,
            subject=rendered.subject[:300],
            text=rendered.text,
            locale=locale,
        )
        SentEmail.objects.filter(key=key).update(
            status=SentEmailStatus.SKIPPED, detail="Test mode: kept in the dashboard, not sent."
        )
        return False
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=merchant_from_email(merchant),
        to=[to],
        reply_to=merchant_reply_to(merchant),
        headers={"Auto-Submitted": "auto-generated", "Content-Language": locale},
    )
    message.attach_alternative(rendered.html, "text/html")
    try:
        message.send()
    except Exception:
        SentEmail.objects.filter(key=key, status=SentEmailStatus.SENDING).delete()
        raise
    SentEmail.objects.filter(key=key).update(status=SentEmailStatus.SENT, sent_at=timezone.now())
    return True
