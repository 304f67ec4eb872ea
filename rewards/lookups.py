"""The reads attribution and qualification make, behind one object, so that a batch of
conversions can answer them from a few set-based queries (`rewards.pipeline.batch`) while a
single evaluation, the what-if report and the review keep querying as they always did.

`Lookups` is the query-per-question implementation; every method returns exactly what the
batch answers from memory, and the batch falls back to these methods whenever a question is
outside what it fetched (an address that is not ASCII, a code it did not see).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Value
from django.db.models.functions import Lower

from programs.models import Program
from referral_saas.emails import NormalisedEmail, normalise_email
from rewards.fraud.base import FraudInput
from rewards.fraud.facts import Facts
from rewards.models import Reward
from tracking.models import Advocate, Click, Conversion, Referral


class Lookups:
    """One query per question (the single evaluation, the what-if report)."""

    def __init__(self) -> None:
        self._windows: dict[int, int] = {}

    def advocate_by_code(self, code: str) -> Advocate | None:
        return Advocate.objects.filter(code__iexact=code).first()

    def friend_offer_by_code(self, code: str) -> Reward | None:
        """The friend's offer whose code the order carries."""
        return (
            Reward.objects.select_related("advocate", "referral")
            .exclude(friend_key="")
            .filter(fulfilment_code__iexact=code)
            .order_by("pk")
            .first()
        )

    def friend_offer_by_email(self, program_id: int, email: str) -> Reward | None:
        """The friend's offer in the program for this buyer (same normalised email), if any."""
        from rewards.friend_offer import friend_key  # deferred: the offer module imports this one

        return (
            Reward.objects.select_related("advocate", "referral")
            .filter(program_id=program_id, friend_key=friend_key(email))
            .first()
        )

    def click_by_public_id(self, public_id: str) -> Click | None:
        return Click.objects.select_related("advocate").filter(public_id=public_id).first()

    def click_by_visitor(self, visitor_id: str, before: datetime) -> Click | None:
        """The visitor's latest click at or before `before`."""
        return (
            Click.objects.select_related("advocate")
            .filter(visitor_id=visitor_id, created_at__lte=before)
            .order_by("-created_at")
            .first()
        )

    def referral_by_email(self, email: str, before: datetime) -> Referral | None:
        """The friend's first referral (any program) made at or before `before`. The same
        friend is the same address lowercased, as the one-referrer-per-friend constraint says
        (`lower(email)`, whose index these two lookups use)."""
        return (
            Referral.objects.select_related("advocate")
            .annotate(email_lower=Lower("email"))
            .filter(email_lower=Lower(Value(email)), created_at__lte=before)
            .filter(program_id__in=Program.objects.values("pk"))
            .order_by("created_at")
            .first()
        )

    def referral_in_program(self, program_id: int, email: str) -> Referral | None:
        """The friend's referral in the program (one referrer per friend)."""
        return (
            Referral.objects.select_related("advocate")
            .annotate(email_lower=Lower("email"))
            .filter(program_id=program_id, email_lower=Lower(Value(email)))
            .first()
        )

    def attribution_window_days(self, program_id: int) -> int:
        if program_id not in self._windows:
            from programs.services import program_config

            program = Program.objects.get(pk=program_id)
            self._windows[program_id] = program_config(program).rules.attribution_window_days
        return self._windows[program_id]

    def earlier_order_of_customer(self, conversion: Conversion) -> str | None:
        """An order of the same buyer (normalised email or customer id) placed before this one
        (`first_purchase_only`)."""
        from django.db.models import Q

        match = Q(email_normalised=normalise_email(conversion.customer_email))
        if conversion.customer_id:
            match |= Q(customer_id=conversion.customer_id)
        return (
            Conversion.objects.alias(email_normalised=NormalisedEmail("customer_email"))
            .filter(match, Q(occurred_at__lt=conversion.occurred_at))
            .exclude(pk=conversion.pk)
            .values_list("order_id", flat=True)
            .first()
        )

    def fraud_facts(self, inp: FraudInput) -> Facts:
        """What the fraud rules read about this conversion (queried lazily, per rule need)."""
        return Facts(inp)
