"""Self-referral: the friend is the advocate under another name.

Evidence, strongest first: the same address once normalised (case, plus-tags, Gmail dots), the
same customer id in the merchant's shop, the same visitor cookie, the same payment card as the
advocate's own orders (or as another friend of the same advocate: one card paying for several
"friends"), the same full name. Same IP and browser is deliberately not here: shared offices and
households make it a score (`same_ip_user_agent`), never a verdict.
"""

from __future__ import annotations

from typing import Any

from referral_saas.emails import normalise_email, normalise_name
from rewards.fraud.base import BaseRule, FraudInput, Hit
from rewards.fraud.facts import Facts

STRONG_SCORE = 100
NAME_ONLY_SCORE = 70  # two people can share a full name; everything else is near-certain


class SelfReferral(BaseRule):
    name = "self_referral"

    def hit(self, inp: FraudInput, facts: Facts) -> Hit | None:
        matches: list[dict[str, Any]] = []
        sentences: list[str] = []
        advocate = inp.advocate
        advocate_email = normalise_email(advocate.email) if advocate.email else ""
        for normalised, given in sorted(facts.friend_emails.items()):
            if advocate_email and normalised == advocate_email:
                matches.append({"field": "email", "advocate": advocate.email, "friend": given})
                sentences.append(_same_email(given, advocate.email, normalised))
        customer_id = advocate.customer_id.strip()
        if customer_id and customer_id in facts.friend_customer_ids:
            matches.append({"field": "customer_id", "advocate": customer_id, "friend": customer_id})
            sentences.append(f"The friend has the advocate's customer id {customer_id}")
        visitor = advocate.visitor_id.strip()
        friend_visitors = {inp.conversion.visitor_id.strip()}
        if inp.click is not None:
            friend_visitors.add(inp.click.visitor_id.strip())
        if visitor and visitor in friend_visitors:
            matches.append({"field": "visitor_id"})  # a cookie id: no need to keep it here
            sentences.append("The friend used the advocate's browser (same visitor cookie)")
        self._card(inp, facts, matches, sentences)
        strong = bool(matches)
        self._name(inp, matches, sentences)
        if not matches:
            return None
        return Hit(
            score=STRONG_SCORE if strong else NAME_ONLY_SCORE,
            detail="; ".join(sentences) + ".",
            evidence={"matches": matches},
        )

    def _card(
        self,
        inp: FraudInput,
        facts: Facts,
        matches: list[dict[str, Any]],
        sentences: list[str],
    ) -> None:
        # The fingerprint itself stays on the order: the reasons need not repeat it.
        if not inp.conversion.payment_fingerprint.strip():
            return
        identity = facts.identity
        if identity.advocate_card_orders:
            matches.append(
                {
                    "field": "payment_fingerprint",
                    "advocate_orders": identity.advocate_card_orders,
                }
            )
            sentences.append("The order was paid with the card the advocate uses for their orders")
        if identity.shared_card_orders:
            matches.append(
                {
                    "field": "payment_fingerprint_shared",
                    "other_friends_orders": identity.shared_card_orders,
                }
            )
            sentences.append(
                f"The same card paid for {identity.shared_card_orders} order(s) of other friends "
                "of this advocate"
            )

    def _name(self, inp: FraudInput, matches: list[dict[str, Any]], sentences: list[str]) -> None:
        advocate_name = normalise_name(inp.advocate.name)
        if not advocate_name:
            return
        names = [inp.conversion.customer_name]
        if inp.referral is not None:
            names.append(inp.referral.name)
        for name in names:
            if name and normalise_name(name) == advocate_name:
                # The friend's email rides along, so erasing either person scrubs the evidence.
                friend_email = inp.conversion.customer_email or (
                    inp.referral.email if inp.referral is not None else ""
                )
                matches.append(
                    {
                        "field": "name",
                        "advocate": f"{inp.advocate.name} <{inp.advocate.email}>",
                        "friend": f"{name} <{friend_email}>",
                    }
                )
                sentences.append(
                    f"The friend ({friend_email}) has the advocate's name, {inp.advocate.name} "
                    f"({inp.advocate.email})"
                )
                return


def _same_email(friend: str, advocate: str, normalised: str) -> str:
    if friend.strip().lower() == advocate.strip().lower():
        return f"The friend's email is the advocate's own, {advocate}"
    return (
        f"The friend's email {friend} is the advocate's {advocate} (both normalise to {normalised})"
    )
