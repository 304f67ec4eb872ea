"""Writes behind the hosted pages: joining, consent, friends' email capture and opt-outs,
invitations, vanity codes and "send me my link again".

Each runs inside the current merchant (the hosted views set it from the URL or a signed token)
and raises `programs.specs.SpecError` ({field: message}) for bad input, like tracking's services.
Emails are always sent by workers, enqueued after commit, and each is sent at most once under a
unique `SentEmail` key (see `hosted.emails`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from hosted.consent import CONSENT_TEXT_VERSION
from hosted.models import CodeAlias, ConsentChoice, ConsentRecord, FriendOptOut, HostedSettings
from programs.models import Program
from programs.specs import SpecError
from referral_saas import tenancy
from referral_saas.workers import enqueue_on_commit
from tracking import visitors
from tracking.models import Advocate, Click
from tracking.services import (
    CODE_PATTERN,
    Enrolment,
    ReferralResult,
    advocate_enroll,
    ip_hash,
    normalise_email,
    referral_record,
)

MAX_INVITATIONS_PER_REQUEST = 10
SETTINGS = frozenset(
    {"friend_emails_enabled", "friend_email_capture", "welcome_email_for_api_enrolments"}
)
VANITY_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,39}$")


def hosted_settings(program: Program) -> HostedSettings:
    """The program's settings, or the defaults (unsaved) when the merchant never changed them."""
    found = HostedSettings.objects.filter(program=program).first()
    return found if found is not None else HostedSettings(program=program)


def hosted_settings_update(*, program: Program, **values: bool) -> HostedSettings:
    unknown = set(values) - SETTINGS
    if unknown:
        raise SpecError({sorted(unknown)[0]: "Unknown setting."})
    row, _created = HostedSettings.objects.get_or_create(program=program)
    for name, value in values.items():
        setattr(row, name, bool(value))
    row.save()
    return row


# --- Joining -----------------------------------------------------------------------------------


def hosted_join(
    *,
    program: Program,
    email: Any,
    name: Any,
    locale: str,
    accepted_terms: bool,
    ip: str = "",
    visitor_id: str = "",
) -> Enrolment:
    """Enrol from the landing page. The same email twice is the same advocate (tracking's
    enrolment decides); a new advocate gets the welcome email, a returning one an email with
    their portal link (at most one per hour), never the portal itself on screen.

    A new advocate keeps the keyed hash of the IP they joined from, and their visitor id when
    they consented, as evidence for the self-referral rules (never the IP itself)."""
    if not accepted_terms:
        raise SpecError({"consent": "Please accept the terms and privacy notice to join."})
    enrolment = advocate_enroll(program=program, email=email, name=name, locale=locale)
    if enrolment.created and (ip or visitor_id):
        enrolment.advocate.ip_hash = ip_hash(ip)
        enrolment.advocate.visitor_id = visitor_id[:64]
        Advocate.objects.filter(pk=enrolment.advocate.pk).update(
            ip_hash=enrolment.advocate.ip_hash, visitor_id=enrolment.advocate.visitor_id
        )
    from hosted import tasks

    merchant_id = tenancy.get_current_merchant().pk
    if enrolment.created:
        enqueue_on_commit(
            tasks.email_advocate_welcome_task,
            merchant_id=merchant_id,
            advocate_id=enrolment.advocate.pk,
        )
    else:
        portal_link_resend(advocate=enrolment.advocate)
    return enrolment


def advocate_welcome_after_api_enrolment(*, advocate: Advocate) -> bool:
    """An advocate the API just created (`POST /api/v1/advocates`) gets the welcome email the
    landing page sends, after commit, when the program's setting is on (the default). Sent
    once: the email's key is `welcome:<advocate>`, whichever way the advocate came in.
    True when the email was enqueued."""
    if not hosted_settings(advocate.program).welcome_email_for_api_enrolments:
        return False
    from hosted import tasks

    enqueue_on_commit(
        tasks.email_advocate_welcome_task,
        merchant_id=advocate.merchant_id,
        advocate_id=advocate.pk,
    )
    return True


def portal_link_resend(*, advocate: Advocate) -> None:
    """Email the advocate a fresh portal link. Idempotent per advocate and hour (the email key
    carries the hour), so a form hammered by someone else sends one email, not hundreds."""
    from hosted import tasks

    hour = timezone.now().strftime("%Y%m%d%H")
    enqueue_on_commit(
        tasks.email_portal_link_task,
        merchant_id=advocate.merchant_id,
        advocate_id=advocate.pk,
        window=hour,
    )


# --- Consent -----------------------------------------------------------------------------------


def consent_record(
    *,
    program: Program,
    choice: str,
    locale: str,
    visitor_id: str = "",
    click_public_id: str | None = None,
) -> ConsentRecord:
    """Store a consent decision (time, text version, choice). Granting also gives the click the
    friend page recorded its visitor id, so later orders from this browser can be matched."""
    if choice not in ConsentChoice.values:
        raise SpecError({"choice": "Choose to accept or refuse."})
    click = None
    if click_public_id:
        click = Click.objects.filter(public_id=click_public_id, program=program).first()
    with transaction.atomic():
        record = ConsentRecord.objects.create(
            program=program,
            click=click,
            choice=choice,
            text_version=CONSENT_TEXT_VERSION,
            locale=locale,
            visitor_id=visitor_id,
        )
        if click is not None and choice == ConsentChoice.GRANTED and not click.visitor_id:
            # The visitor id is now the click's visitor key: its sketch register follows.
            click.visitor_id = visitor_id
            Click.objects.filter(pk=click.pk).update(
                visitor_id=visitor_id, visitor_register=visitors.click_register(click)
            )
    return record


# --- Friends -----------------------------------------------------------------------------------


def friend_capture(
    *, advocate: Advocate, email: Any, click_public_id: str | None, name: Any = ""
) -> ReferralResult:
    """The friend page's email capture: a referral for this advocate (first referrer wins)."""
    return referral_record(
        code=advocate.code,
        click_id=click_public_id or None,
        email=email,
        name=name,
    )


def friend_opt_out(*, email: str) -> FriendOptOut:
    """Never email this friend again for this merchant. Idempotent."""
    email = normalise_email(email)
    try:
        with transaction.atomic():
            return FriendOptOut.objects.create(email=email)
    except IntegrityError:
        return FriendOptOut.objects.get(email__iexact=email)


def friend_opted_out(email: str) -> bool:
    return FriendOptOut.objects.filter(email__iexact=email.strip()).exists()


def email_key_hash(email: str) -> str:
    """A keyed hash of an address for idempotency keys: the key never holds the address."""
    key = hashlib.sha256(f"hosted-email:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class InvitationResult:
    sent: list[str]
    skipped: list[str]


def friend_invite(*, advocate: Advocate, emails: Any) -> InvitationResult:
    """The advocate invites friends by email, only when the merchant turned friend emails on.
    One email per friend and program ever (see `hosted.tasks`); opted-out friends, the
    advocate's own address and duplicates are skipped."""
    program = advocate.program
    if not hosted_settings(program).friend_emails_enabled:
        raise SpecError({"emails": "Invitations by email are not available for this program."})
    if not isinstance(emails, list) or not emails:
        raise SpecError({"emails": "Give at least one email address."})
    if len(emails) > MAX_INVITATIONS_PER_REQUEST:
        raise SpecError({"emails": f"At most {MAX_INVITATIONS_PER_REQUEST} addresses at a time."})
    cleaned: list[str] = []
    for value in emails:
        email = normalise_email(value, "emails")
        if email not in cleaned:
            cleaned.append(email)
    opted_out = {
        e.lower()
        for e in FriendOptOut.objects.filter(email__in=cleaned).values_list("email", flat=True)
    }
    from hosted import tasks

    sent, skipped = [], []
    for email in cleaned:
        if email in opted_out or email == advocate.email.lower():
            skipped.append(email)
            continue
        enqueue_on_commit(
            tasks.email_friend_invitation_task,
            merchant_id=advocate.merchant_id,
            advocate_id=advocate.pk,
            email=email,
        )
        sent.append(email)
    return InvitationResult(sent=sent, skipped=skipped)


# --- Vanity codes ------------------------------------------------------------------------------


def code_in_use(code: str) -> bool:
    """Taken by any advocate or retired alias of *any* merchant: `/r/<code>` carries no merchant,
    so a vanity code must be unique across the platform to route unambiguously."""
    return (
        Advocate.unscoped_all_merchants.filter(code=code).exists()
        or CodeAlias.unscoped_all_merchants.filter(code=code).exists()
    )


@transaction.atomic
def advocate_set_vanity_code(*, advocate: Advocate, code: Any) -> Advocate:
    """Give an advocate a code chosen by the merchant (`MARIA10`). The old code becomes an alias,
    so links already shared keep working and keep crediting the same advocate."""
    if not isinstance(code, str) or not VANITY_CODE.match(code.strip().upper()):
        raise SpecError({"code": "Letters, digits and '-', 3 to 40 characters."})
    code = code.strip().upper()
    if not CODE_PATTERN.match(code):
        raise SpecError({"code": "Letters, digits and '-', 3 to 40 characters."})
    locked = Advocate.objects.select_for_update().get(pk=advocate.pk)
    if locked.code == code:
        return locked
    # Taking back one of its own former codes is fine; anyone else's is not.
    own_alias = CodeAlias.objects.filter(advocate=locked, code=code)
    if not own_alias.exists() and code_in_use(code):
        raise SpecError({"code": "This code is already taken."})
    own_alias.delete()
    CodeAlias.objects.create(advocate=locked, code=locked.code)
    locked.code = code
    try:
        with transaction.atomic():
            locked.save(update_fields=["code"])
    except IntegrityError:
        # Another merchant took it between the check and this write: the database's
        # cross-merchant unique code decides (tracking migration 0008).
        raise SpecError({"code": "This code is already taken."}) from None
    return locked
