"""Existing customer: the friend had already ordered from the merchant (same normalised email
or customer id) before they were referred, or the storefront says they are not a new customer.
A referral is for bringing someone new."""

from __future__ import annotations

from typing import Any

from rewards.fraud.base import BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts, iso

SCORE = 70


class ExistingCustomer(BaseRule):
    name = "existing_customer"

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        evidence: dict[str, Any] = {}
        sentences: list[str] = []
        if inp.conversion.new_customer is False:
            evidence["reported_new_customer"] = False
            sentences.append("The shop reported this order as from a returning customer")
        identity = facts.identity if (facts.friend_emails or facts.friend_customer_ids) else None
        if identity is not None and identity.friend_orders:
            friend = ", ".join(sorted(facts.friend_emails.values())) or ", ".join(
                sorted(facts.friend_customer_ids)
            )
            evidence.update(
                earlier_orders=identity.friend_orders,
                first_order_at=iso(identity.friend_first_order_at),
                referred_at=iso(facts.friend_since),
            )
            sentences.append(
                f"The friend ({friend}) had placed {identity.friend_orders} order(s) before "
                f"being referred, the first on {identity.friend_first_order_at:%Y-%m-%d}"
            )
        if not sentences:
            return None
        return Hit(score=SCORE, detail="; ".join(sentences) + ".", evidence=evidence)
