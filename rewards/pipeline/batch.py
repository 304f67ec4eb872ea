"""Batch evaluation: one merchant's batch of received conversions (what the dispatcher hands
a task) decided in one transaction, with the reads done once per batch and the writes stored
with one statement per kind.

Each conversion is still judged on its own, in arrival order, by the same code as a single
evaluation (`evaluate._evaluate_locked`); what changes is where it reads and writes:

- **Reads once per batch, set-based** (`BatchLookups`): the advocates the batch names (by code,
  click, referral or friend's offer) in one `SELECT … FOR UPDATE`, ordered by id; the friends'
  referrals, friends' offers, clicks, programs and their versions; the fraud rules' facts (the
  identity and earlier-referral rows of every friend, card and advocate in the batch; velocity
  windows) and the first-purchase check from one query each, counted per conversion in Python
  with the same rules as `rewards.fraud.facts` ("known before" it, never the clock).
- **Writes once per batch** (`BatchWrites`): new referrals with one multi-row INSERT, the
  decisions with one UPDATE, the advocates' counters with one UPDATE, every reward with one
  multi-row INSERT; then the events, in the order a single evaluation emits them, in the same
  transaction (the outbox).
- What a later conversion of the batch must see of an earlier one is kept in memory as it is
  decided: a referral just made (one referrer per friend), an advocate's qualified count, the
  advocate a conversion was attributed to (velocity, shared cards).
- Rules that count stored rewards (tiers, caps, budgets), a friend's offer being spent, a buyer
  enrolled and a budget running out first store what is buffered (`flush`), then read the
  database as a single evaluation does. Any question outside what the batch fetched (an
  address or code that is not ASCII, an advocate not named up front) is asked of the database
  the same way, after a flush.

Guarantees kept: the conversions are locked (`FOR UPDATE SKIP LOCKED`: a duplicate or
concurrent delivery of the same batch takes none of them and reports them `skipped`) and only
`received` ones are decided; the unique (conversion, recipient, tier) constraint backs exactly
once; counters and budgets are decided under the advocate's and program's row locks, held to
the end of the batch. If anything fails, the batch's transaction is rolled back and each of its
conversions is evaluated on its own (`conversion_evaluate`), so one bad conversion never blocks
the others; one that fails alone keeps its lease and records why (`evaluation_failed`).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.functions import Lower, Upper
from django.utils import timezone

from programs.models import Program, ProgramVersion
from programs.services import program_config
from programs.specs import ProgramConfig
from referral_saas.emails import NormalisedEmail, normalise_email
from rewards import pipeline as package  # `_over_limit` is looked up there (tests patch it)
from rewards.attribution import Attribution
from rewards.fraud.base import FraudInput
from rewards.fraud.facts import (
    DAY,
    HOUR,
    MAX_REFERRAL_EVIDENCE,
    RECEIPT_SLACK,
    Facts,
    Identity,
    OtherReferral,
    Velocity,
    email_matches,
)
from rewards.lookups import Lookups
from rewards.models import Reward
from rewards.pipeline.common import _reason
from rewards.pipeline.evaluate import (
    DECIDED_FIELDS,
    Writes,
    _evaluate_locked,
    _hold_over_limit,
    _new_referral_fields,
    conversion_evaluate,
)
from rewards.pipeline.payloads import _webhook_listeners
from tracking.models import Advocate, Click, Conversion, ConversionStatus, Referral

logger = logging.getLogger(__name__)


def conversions_evaluate_batch(
    *, conversion_ids: Iterable[int], now: datetime | None = None
) -> dict[str, int]:
    """Decide a batch of one merchant's conversions (inside its merchant context). Returns
    how many had each outcome."""
    ids = sorted(set(conversion_ids))
    now = now or timezone.now()
    try:
        with transaction.atomic(), _webhook_listeners():
            counted = _evaluate_batch(ids, now)
        return {outcome: count for outcome, count in counted.items() if count}
    except Exception:
        logger.exception(
            "batch evaluation failed; evaluating its %d conversions one by one", len(ids)
        )
    outcomes: dict[str, int] = defaultdict(int)
    for conversion_id in ids:
        outcomes[_evaluate_alone(conversion_id)] += 1
    return dict(outcomes)


def _evaluate_alone(conversion_id: int) -> str:
    try:
        return conversion_evaluate(conversion_id=conversion_id)
    except Exception as error:
        logger.exception("evaluation of conversion %s failed", conversion_id)
        detail = (
            f"The evaluation failed ({type(error).__name__}); it is tried again when its "
            "lease ends."
        )
        Conversion.objects.filter(pk=conversion_id, status=ConversionStatus.RECEIVED).update(
            reasons=[_reason("evaluation_failed", "retry", detail)]
        )
        return "failed"


def _evaluate_batch(ids: list[int], now: datetime) -> dict[str, int]:
    outcomes: dict[str, int] = defaultdict(int)
    locked = list(
        Conversion.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=ids, status=ConversionStatus.RECEIVED)
        .order_by("created_at", "pk")
    )
    outcomes["skipped"] += len(ids) - len(locked)
    waiting = [conversion for conversion in locked if conversion.over_limit]
    outcomes["over_limit"] += len(waiting)
    judged = [conversion for conversion in locked if not conversion.over_limit]
    over = _over_limit(judged)
    for conversion in over:
        _hold_over_limit(conversion)
    outcomes["over_limit"] += len(over)
    judged = [conversion for conversion in judged if conversion not in over]
    if not judged:
        return dict(outcomes)
    writes = BatchWrites(judged)
    for conversion in judged:
        outcomes[_evaluate_locked(conversion, now, writes)] += 1
    writes.flush()
    return dict(outcomes)


def _over_limit(conversions: list[Conversion]) -> list[Conversion]:
    """The batch's conversions beyond the plan's monthly limit. A conversion's rank in its
    month only grows with (created_at, pk), so when the month's last one is within the limit
    all are; only otherwise is each asked."""
    by_month: dict[tuple[int, int], list[Conversion]] = defaultdict(list)
    for conversion in conversions:
        by_month[(conversion.created_at.year, conversion.created_at.month)].append(conversion)
    over: list[Conversion] = []
    for month in by_month.values():
        if package._over_limit(month[-1]):
            over += [conversion for conversion in month if package._over_limit(conversion)]
    return over


def _emails_in(column: str, normalised: set[str]) -> Q:
    """Rows whose `column` normalises to one of `normalised` (annotated `normalised_email`).
    PostgreSQL has an expression index on exactly that (tracking migration 0006), which a
    plain IN uses; elsewhere the LIKE narrowing of `rewards.fraud.facts` comes first."""
    if connection.vendor == "postgresql":
        return Q(normalised_email__in=sorted(normalised))
    return email_matches(column, normalised)


def _ascii(value: str) -> bool:
    return value.isascii()


@dataclass
class _Row:
    """A stored conversion, as the fraud facts and the first-purchase rule read it."""

    pk: int
    created_at: datetime
    occurred_at: datetime
    order_id: str
    normalised_email: str
    customer_id: str
    payment_fingerprint: str
    advocate_id: int | None
    program_id: int | None
    ip_hash: str

    def known_before(self, conversion: Conversion) -> bool:
        return self.pk != conversion.pk and (
            self.created_at < conversion.created_at
            or (self.created_at == conversion.created_at and self.pk < conversion.pk)
        )


ROW_FIELDS = (
    "pk",
    "created_at",
    "occurred_at",
    "order_id",
    "normalised_email",
    "customer_id",
    "payment_fingerprint",
    "advocate_id",
    "program_id",
    "ip_hash",
)


class BatchLookups(Lookups):
    """Attribution's and the rules' questions about a batch, answered from set-based reads."""

    def __init__(self, conversions: list[Conversion], writes: BatchWrites) -> None:
        super().__init__()
        self.conversions = conversions
        self.writes = writes
        codes = {c.referral_code.upper() for c in conversions if c.referral_code}
        self._codes = {code for code in codes if _ascii(code)}
        emails = {c.customer_email.lower() for c in conversions if c.customer_email}
        self._emails = {email for email in emails if _ascii(email)}
        self._clicks = {
            click.public_id: click
            for click in Click.objects.filter(
                public_id__in={c.click_public_id for c in conversions if c.click_public_id}
            )
        }
        visitors = {c.visitor_id for c in conversions if c.visitor_id}
        self._visitor_clicks: dict[str, list[Click]] = defaultdict(list)
        if visitors:
            latest = max(c.occurred_at for c in conversions)
            for click in Click.objects.filter(visitor_id__in=visitors, created_at__lte=latest):
                self._visitor_clicks[click.visitor_id].append(click)
        # On the one-referrer-per-friend index (merchant, program, lower(email)).
        self._referrals: list[Referral] = list(
            Referral.objects.annotate(email_lower=Lower("email")).filter(
                email_lower__in=self._emails, program_id__in=Program.objects.values("pk")
            )
            if self._emails
            else []
        )
        from rewards.friend_offer import friend_key  # deferred: the offer module imports this

        keys = {friend_key(c.customer_email) for c in conversions if c.customer_email}
        self._offers_by_key: dict[tuple[int, str], Reward] = {}
        if keys:
            for offer in Reward.objects.select_related("referral").filter(friend_key__in=keys):
                current = self._offers_by_key.get((offer.program_id, offer.friend_key))
                if current is None or offer.pk < current.pk:
                    self._offers_by_key[(offer.program_id, offer.friend_key)] = offer
        # The advocates the batch names, locked in one statement, in id order.
        named = {click.advocate_id for click in self._clicks.values()}
        named |= {click.advocate_id for clicks in self._visitor_clicks.values() for click in clicks}
        named |= {referral.advocate_id for referral in self._referrals}
        named |= {offer.advocate_id for offer in self._offers_by_key.values() if offer.advocate_id}
        self.advocates: dict[int, Advocate] = {}
        self._by_code: dict[str, Advocate] = {}
        found = Q(pk__in=named) | Q(code_upper__in=self._codes) if self._codes else Q(pk__in=named)
        if named or self._codes:
            advocates = (
                Advocate.objects.select_for_update(of=("self",))
                .annotate(code_upper=Upper("code"))
                .filter(found)
                .order_by("pk")
            )
            for advocate in advocates:
                self.advocates[advocate.pk] = advocate
                self._by_code.setdefault(advocate.code_upper, advocate)
        for click in [*self._clicks.values(), *self._flat_visitor_clicks()]:
            click.advocate = self.advocate(click.advocate_id)
        for referral in self._referrals:
            referral.advocate = self.advocate(referral.advocate_id)
        for offer in self._offers_by_key.values():
            if offer.advocate_id is not None:
                offer.advocate = self.advocate(offer.advocate_id)

    def _flat_visitor_clicks(self) -> list[Click]:
        return [click for clicks in self._visitor_clicks.values() for click in clicks]

    def advocate(self, pk: int) -> Advocate:
        """The advocate under its row lock: locked up front, else now (one not named)."""
        if pk not in self.advocates:
            self.advocates[pk] = Advocate.objects.select_for_update().get(pk=pk)
        return self.advocates[pk]

    # --- attribution -------------------------------------------------------------------

    def advocate_by_code(self, code: str) -> Advocate | None:
        if not _ascii(code):
            return super().advocate_by_code(code)
        return self._by_code.get(code.upper())

    def friend_offer_by_email(self, program_id: int, email: str) -> Reward | None:
        from rewards.friend_offer import friend_key

        return self._offers_by_key.get((program_id, friend_key(email)))

    def click_by_public_id(self, public_id: str) -> Click | None:
        return self._clicks.get(public_id)

    def click_by_visitor(self, visitor_id: str, before: datetime) -> Click | None:
        clicks = [c for c in self._visitor_clicks.get(visitor_id, []) if c.created_at <= before]
        return max(clicks, key=lambda click: (click.created_at, click.pk), default=None)

    def _friend_referrals(self, email: str) -> list[Referral] | None:
        """The referrals of this address (case aside), or None when not fetched."""
        if not _ascii(email):
            return None
        lower = email.lower()
        if lower not in self._emails:
            return None
        # Stored ones as the database lowered them (`Lookups`), this batch's by Python.
        return [r for r in self._referrals if getattr(r, "email_lower", r.email.lower()) == lower]

    def referral_by_email(self, email: str, before: datetime) -> Referral | None:
        found = self._friend_referrals(email)
        if found is None:
            self.writes.flush()
            return super().referral_by_email(email, before)
        found = [r for r in found if r.created_at <= before]
        return min(found, key=lambda r: (r.created_at, r.pk or 0), default=None)

    def referral_in_program(self, program_id: int, email: str) -> Referral | None:
        found = self._friend_referrals(email)
        if found is None:
            self.writes.flush()
            return super().referral_in_program(program_id, email)
        found = [r for r in found if r.program_id == program_id]
        # Stored ones by id; one made earlier in this batch (no id yet) after them.
        return min(found, key=lambda r: (r.pk is None, r.pk or 0), default=None)

    def referral_made(self, referral: Referral) -> None:
        """A referral this batch made: later conversions of the same friend see it."""
        if _ascii(referral.email) and referral.email.lower() in self._emails:
            self._referrals.append(referral)

    def attribution_window_days(self, program_id: int) -> int:
        if program_id not in self._windows:
            config = self.writes.current_config(self.writes.program(program_id))
            self._windows[program_id] = config.rules.attribution_window_days
        return self._windows[program_id]

    # --- qualification and fraud ----------------------------------------------------------

    def earlier_order_of_customer(self, conversion: Conversion) -> str | None:
        email = normalise_email(conversion.customer_email) if conversion.customer_email else ""
        rows = self.rows
        customer_id = conversion.customer_id
        if (
            not email
            or email not in self._row_emails
            or (
                customer_id
                and (
                    customer_id != customer_id.strip() or customer_id not in self._row_customer_ids
                )
            )
        ):
            return super().earlier_order_of_customer(conversion)
        earlier = [
            row
            for row in rows.values()
            if row.pk != conversion.pk
            and row.occurred_at < conversion.occurred_at
            and (
                row.normalised_email == email
                or (conversion.customer_id and row.customer_id == conversion.customer_id)
            )
        ]
        return min(earlier, key=lambda row: row.pk).order_id if earlier else None

    def fraud_facts(self, inp: FraudInput) -> Facts:
        return BatchFacts(inp, self)

    @cached_property
    def _identity_keys(self) -> tuple[set[str], set[str], set[str]]:
        emails, customer_ids, cards = set(), set(), set()
        people: list[tuple[str, str]] = [
            (c.customer_email, c.customer_id) for c in self.conversions
        ]
        people += [(r.email, r.customer_id) for r in self._referrals]
        people += [
            (offer.referral.email, offer.referral.customer_id)
            for offer in self._offers_by_key.values()
            if offer.referral is not None
        ]
        for email, customer_id in people:
            if email and email.strip():
                emails.add(normalise_email(email))
            if customer_id and customer_id.strip():
                customer_ids.add(customer_id.strip())
        for advocate in self.advocates.values():
            emails.add(normalise_email(advocate.email))
            if advocate.customer_id.strip():
                customer_ids.add(advocate.customer_id.strip())
        for conversion in self.conversions:
            if conversion.payment_fingerprint.strip():
                cards.add(conversion.payment_fingerprint.strip())
        return emails, customer_ids, cards

    @cached_property
    def rows(self) -> dict[int, _Row]:
        """The stored orders of every friend, card and advocate of the batch (one query)."""
        emails, customer_ids, cards = self._identity_keys
        self._row_emails, self._row_customer_ids, self._row_cards = emails, customer_ids, cards
        match = Q(pk__in=[c.pk for c in self.conversions])
        if emails:
            match |= _emails_in("customer_email", emails)
        if customer_ids:
            match |= Q(customer_id__in=sorted(customer_ids))
        if cards:
            match |= Q(payment_fingerprint__in=sorted(cards))
        rows = (
            Conversion.objects.annotate(normalised_email=NormalisedEmail("customer_email"))
            .filter(match)
            .values_list(*ROW_FIELDS)
        )
        return {values[0]: _Row(*values) for values in rows}

    @cached_property
    def velocity_rows(self) -> list[_Row]:
        """The conversions the per-advocate and per-IP windows (24 h) can count (one query)."""
        self._velocity_advocates = set(self.advocates)
        ips = {c.ip_hash for c in self.conversions if c.ip_hash}
        who = Q(advocate_id__in=self._velocity_advocates)
        if ips:
            who |= Q(ip_hash__in=ips, advocate_id__isnull=False)
        self._velocity_by_pk = self._window_rows(who, DAY)
        return list(self._velocity_by_pk.values())

    @cached_property
    def program_hour_rows(self) -> list[_Row]:
        """The conversions the per-program hourly window can count (one query, only when a
        program asks for that limit)."""
        self._velocity_programs = {a.program_id for a in self.advocates.values()}
        self._program_by_pk = self._window_rows(Q(program_id__in=self._velocity_programs), HOUR)
        return list(self._program_by_pk.values())

    def _window_rows(self, who: Q, window: timedelta) -> dict[int, _Row]:
        """Rows matching `who` inside the widest of the batch's windows, and the batch's own
        (undecided when fetched: `decided` fills in what the batch attributes them to)."""
        earliest = min(c.occurred_at for c in self.conversions)
        latest = max(c.occurred_at for c in self.conversions)
        rows = (
            Conversion.objects.annotate(normalised_email=Value(""))
            .filter(
                who | Q(pk__in=[c.pk for c in self.conversions]),
                Q(occurred_at__gt=earliest - window, occurred_at__lte=latest),
                Q(created_at__gte=earliest - DAY - RECEIPT_SLACK),
            )
            .values_list(*ROW_FIELDS)
        )
        return {values[0]: _Row(*values) for values in rows}

    @cached_property
    def referral_rows(self) -> list[Any]:
        """The referrals of the batch's friends in the batch's programs (one query, on the
        (merchant, program, normalised email) index)."""
        emails, customer_ids, _cards = self._identity_keys
        self._referral_programs = {a.program_id for a in self.advocates.values()}
        match = Q(pk__in=[])
        if emails:
            match |= _emails_in("email", emails)
        if customer_ids:
            match |= Q(customer_id__in=sorted(customer_ids))
        return list(
            Referral.objects.annotate(normalised_email=NormalisedEmail("email"))
            .filter(match, Q(program_id__in=self._referral_programs))
            .values(
                "pk",
                "program_id",
                "advocate_id",
                "advocate__code",
                "email",
                "customer_id",
                "created_at",
                "normalised_email",
            )
        )

    def decided(self, conversion: Conversion) -> None:
        """What later conversions of the batch read of this one's decision."""
        for table in ("rows", "_velocity_by_pk", "_program_by_pk"):
            found = self.__dict__.get(table)
            if found is not None and conversion.pk in found:
                found[conversion.pk].advocate_id = conversion.advocate_id
                found[conversion.pk].program_id = conversion.program_id


class BatchFacts(Facts):
    """`rewards.fraud.facts.Facts` counted from the batch's rows; a question outside them is
    asked of the database after the batch's writes are stored."""

    def __init__(self, inp: FraudInput, lookups: BatchLookups) -> None:
        super().__init__(inp)
        self.lookups = lookups

    def _covered(self, emails: Iterable[str], customer_ids: Iterable[str]) -> bool:
        known_emails, known_ids, _cards = self.lookups._identity_keys
        return set(emails) <= known_emails and set(customer_ids) <= known_ids

    def _is_friend(self, email: str, customer_id: str) -> bool:
        return email in self.friend_emails or customer_id in self.friend_customer_ids

    @cached_property
    def identity(self) -> Identity:
        advocate = self.inp.advocate
        fingerprint = self.conversion.payment_fingerprint.strip()
        advocate_ids = {advocate.customer_id.strip()} - {""}
        if not self._covered(
            [*self.friend_emails, normalise_email(advocate.email)],
            [*self.friend_customer_ids, *advocate_ids],
        ):
            self.lookups.writes.flush()
            return super().identity
        friend = bool(self.friend_emails or self.friend_customer_ids)
        want_friend = friend and self._enabled("existing_customer")
        want_card = bool(fingerprint) and self._enabled("self_referral")
        if not want_friend and not want_card:
            return Identity(0, None, 0, 0)
        advocate_email = normalise_email(advocate.email)
        friend_orders, first, advocate_card, shared_card = 0, None, 0, 0
        for row in self.lookups.rows.values():
            if not row.known_before(self.conversion):
                continue
            is_friend = friend and self._is_friend(row.normalised_email, row.customer_id)
            if want_friend and is_friend and row.occurred_at < self.friend_since:
                friend_orders += 1
                first = row.occurred_at if first is None else min(first, row.occurred_at)
            if want_card and row.payment_fingerprint == fingerprint:
                if row.normalised_email == advocate_email or row.customer_id in advocate_ids:
                    advocate_card += 1
                if row.advocate_id == advocate.pk and not is_friend:
                    shared_card += 1
        return Identity(
            friend_orders=friend_orders,
            friend_first_order_at=first,
            advocate_card_orders=advocate_card,
            shared_card_orders=shared_card,
        )

    @cached_property
    def velocity(self) -> Velocity:
        lookups, conversion, fraud = self.lookups, self.conversion, self.inp.fraud
        hourly = fraud.velocity_per_program_per_hour is not None
        rows = lookups.velocity_rows
        program_rows = lookups.program_hour_rows if hourly else []
        if self.inp.advocate.pk not in lookups._velocity_advocates or (
            hourly and self.inp.program_id not in lookups._velocity_programs
        ):
            self.lookups.writes.flush()
            return super().velocity
        moment = conversion.occurred_at

        def counted(row: _Row, window: timedelta) -> bool:
            # As Facts.velocity: known before it, inside the window, received in time
            return (
                row.known_before(conversion)
                and moment - window < row.occurred_at <= moment
                and row.created_at >= moment - DAY - RECEIPT_SLACK
            )

        advocate = ip = program = 0
        for row in rows:
            if counted(row, DAY):
                advocate += row.advocate_id == self.inp.advocate.pk
                ip += bool(conversion.ip_hash) and (
                    row.ip_hash == conversion.ip_hash and row.advocate_id is not None
                )
        for row in program_rows:
            program += counted(row, HOUR) and row.program_id == self.inp.program_id
        return Velocity(advocate=advocate, ip=ip, program=program)

    @cached_property
    def other_referrals(self) -> list[OtherReferral]:
        if not self.friend_emails and not self.friend_customer_ids:
            return []
        rows = self.lookups.referral_rows
        if self.inp.program_id not in self.lookups._referral_programs or not self._covered(
            self.friend_emails, self.friend_customer_ids
        ):
            self.lookups.writes.flush()
            return super().other_referrals
        cutoff = self.conversion.created_at
        if self.inp.referral is not None:
            cutoff = min(cutoff, self.inp.referral.created_at)
        found = sorted(
            (
                row
                for row in rows
                if row["program_id"] == self.inp.program_id
                and row["created_at"] < cutoff
                and row["advocate_id"] != self.inp.advocate.pk
                and self._is_friend(row["normalised_email"], row["customer_id"])
            ),
            key=lambda row: (row["created_at"], row["pk"]),
        )[:MAX_REFERRAL_EVIDENCE]
        return [
            OtherReferral(
                advocate_code=row["advocate__code"],
                email=row["email"],
                created_at=row["created_at"],
            )
            for row in found
        ]


class BatchWrites(Writes):
    """A batch's reads from what it fetched and its writes buffered, stored by `flush`."""

    def __init__(self, conversions: list[Conversion]) -> None:
        self._programs: dict[int, Program] = {}
        self._locked_programs: set[int] = set()
        self._versions: dict[int, list[ProgramVersion]] = {}
        self._configs: dict[int, ProgramConfig] = {}
        self._referrals: list[Referral] = []
        self._decided: list[Conversion] = []
        self._qualified: dict[int, int] = defaultdict(int)
        self._rewards: list[Reward] = []
        self._after: list[Callable[[], object]] = []
        self.lookups: BatchLookups = BatchLookups(conversions, self)
        program_ids = {a.program_id for a in self.lookups.advocates.values()}
        for program in Program.objects.filter(pk__in=program_ids):
            self._programs[program.pk] = program
        for version in ProgramVersion.objects.filter(program_id__in=program_ids):
            self._versions.setdefault(version.program_id, []).append(version)

    def program(self, program_id: int) -> Program:
        if program_id not in self._programs:
            self._programs[program_id] = Program.objects.get(pk=program_id)
        return self._programs[program_id]

    def version_and_config(
        self, program: Program, moment: datetime
    ) -> tuple[ProgramVersion, ProgramConfig]:
        if program.pk not in self._versions:
            self._versions[program.pk] = list(ProgramVersion.objects.filter(program=program))
        versions = self._versions[program.pk]
        # As `decide.version_in_force`: the newest at or before the order, else the first.
        before = [v for v in versions if v.created_at <= moment]
        version = max(before, key=lambda v: v.number) if before else None
        version = version or min(versions, key=lambda v: v.number)
        if version.pk not in self._configs:
            self._configs[version.pk] = program_config(program, version)
        return version, self._configs[version.pk]

    def current_config(self, program: Program) -> ProgramConfig:
        """The program's configuration today (its attribution window)."""
        for version in self._versions.get(program.pk, []):
            if version.number == program.version:
                if version.pk not in self._configs:
                    self._configs[version.pk] = program_config(program, version)
                return self._configs[version.pk]
        return program_config(program)

    def lock_program(self, program: Program) -> Program:
        if program.pk not in self._locked_programs:
            self._programs[program.pk] = super().lock_program(program)
            self._locked_programs.add(program.pk)
        return self._programs[program.pk]

    def lock_advocate(self, advocate: Advocate) -> Advocate:
        return self.lookups.advocate(advocate.pk)

    def referral_for(
        self, conversion: Conversion, attribution: Attribution, advocate: Advocate
    ) -> Referral:
        if attribution.referral is not None:
            return attribution.referral
        referral = Referral(**_new_referral_fields(conversion, attribution, advocate))
        self._referrals.append(referral)
        self.lookups.referral_made(referral)
        return referral

    def save(self, conversion: Conversion, fields: list[str] | None = None) -> None:
        self._decided.append(conversion)
        self.lookups.decided(conversion)

    def count_qualified(self, advocate: Advocate) -> None:
        self._qualified[advocate.pk] += 1
        advocate.qualified_conversions += 1

    def add_rewards(self, rewards: list[Reward]) -> None:
        self._rewards += rewards

    def after(self, action: Callable[[], object]) -> None:
        self._after.append(action)

    def flush(self) -> None:
        """Store what is buffered (one statement per kind), then emit its events in order."""
        if self._referrals:
            # A concurrent batch referring the same friend raises here: the whole batch is
            # rolled back and evaluated one by one, where the first referrer wins.
            Referral.objects.bulk_create(self._referrals)
            self._referrals = []
        if self._decided:
            _store_decisions(self._decided)
            self._decided = []
        if self._qualified:
            Advocate.objects.filter(pk__in=list(self._qualified)).update(
                qualified_conversions=F("qualified_conversions")
                + Case(
                    *[When(pk=pk, then=Value(n)) for pk, n in self._qualified.items()],
                    default=Value(0),
                    output_field=IntegerField(),
                )
            )
            self._qualified = defaultdict(int)
        if self._rewards:
            Reward.objects.bulk_create(self._rewards)
            self._rewards = []
        actions, self._after = self._after, []
        for action in actions:
            action()


def _store_decisions(conversions: list[Conversion]) -> None:
    """The decisions, with one UPDATE: on PostgreSQL `UPDATE … FROM (VALUES …)`, which costs
    the database and Python far less than the `CASE` per column and row of `bulk_update` (kept
    for the embedded SQLite default)."""
    if connection.vendor != "postgresql":
        Conversion.objects.bulk_update(conversions, DECIDED_FIELDS)
        return
    fields: list[Any] = [Conversion._meta.get_field(name) for name in DECIDED_FIELDS]
    columns: list[str] = [field.column for field in fields]
    types = [field.db_type(connection) for field in fields]
    row = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    params: list[Any] = []
    for conversion in conversions:
        # the referrals made in this batch have their ids now (as `bulk_update` does)
        conversion._prepare_related_fields_for_save(  # type: ignore[attr-defined]
            operation_name="store the decision of"
        )
        params.append(conversion.pk)
        for field in fields:
            value = getattr(conversion, field.attname)
            params.append(json.dumps(value) if field.name == "reasons" else value)
    assignments = ", ".join(
        f"{connection.ops.quote_name(column)} = CAST(v.{column} AS {kind})"
        for column, kind in zip(columns, types, strict=True)
    )
    sql = (
        # Columns and types come from the model; every value is a parameter.
        f"UPDATE tracking_conversion AS c SET {assignments} "  # noqa: S608
        f"FROM (VALUES {', '.join([row] * len(conversions))}) "
        f"AS v(id, {', '.join(columns)}) WHERE c.id = v.id AND c.merchant_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, conversions[0].merchant_id])
