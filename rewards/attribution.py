"""Attribution: which advocate (if any) an order belongs to.

A later invoice of a subscription belongs to the subscription's first attributed order's
advocate and referral, before any other evidence (`rewards.recurring`).

Order of evidence, strongest first (DESIGN.md §2, the pipeline issue): the referral code the
order carries, then the click id the storefront kept, then the visitor id of a recorded click,
then the friend's email matching a referral. Clicks and referrals count only inside the
program's attribution window before the order; a code typed at checkout is explicit and needs
no window. One referrer per friend: when the friend was already referred (by email) in that
program, the first advocate keeps them.

Reads only. The evaluation writes the outcome (and the friend's referral, when the order is the
first we hear of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rewards import recurring
from rewards.lookups import Lookups
from rewards.models import Reward
from tracking.models import Advocate, Click, Conversion, Referral


@dataclass
class Attribution:
    advocate: Advocate | None = None
    referral: Referral | None = None
    click: Click | None = None
    by: str = ""  # code | friend_code | click | visitor | email
    reasons: list[dict[str, Any]] = field(default_factory=list)
    # The friend's offer (issued before purchase) behind this order, if any; `offer_spent`
    # when the order spends it: it carried the offer's code, or no code and the friend's email.
    friend_offer: Reward | None = None
    offer_spent: bool = False
    # A later invoice of a subscription: its first attributed conversion (rewards.recurring).
    renewal_of: Conversion | None = None


def attribute(conversion: Conversion, lookups: Lookups | None = None) -> Attribution:
    """Resolve the conversion's advocate, click and referral from its hints (`lookups`: a
    batch's answers, else one query per question)."""
    anchor = recurring.subscription_anchor(conversion)  # no query without a subscription id
    if anchor is not None:  # a renewal stays with the subscription's advocate
        return Attribution(
            advocate=anchor.advocate,
            referral=anchor.referral,
            by=recurring.RENEWAL,
            reasons=[recurring.attribution_reason(anchor)],
            renewal_of=anchor,
        )
    lookups = lookups or Lookups()
    result = Attribution()
    occurred = conversion.occurred_at

    def inside(program_id: int, moment: Any) -> bool:
        days = lookups.attribution_window_days(program_id)
        return bool(occurred - timedelta(days=days) <= moment <= occurred + timedelta(minutes=5))

    if conversion.referral_code:
        advocate = lookups.advocate_by_code(conversion.referral_code)
        offer = (
            None if advocate is not None else lookups.friend_offer_by_code(conversion.referral_code)
        )
        if advocate is not None:
            result.advocate, result.by = advocate, "code"
        elif offer is not None:
            # The friend's own code: the order belongs to the advocate whose friend it is.
            result.advocate, result.by = offer.advocate, "friend_code"
            result.referral, result.friend_offer, result.offer_spent = offer.referral, offer, True
        else:
            result.reasons.append(
                {
                    "rule": "attribution",
                    "outcome": "info",
                    "detail": f"The code {conversion.referral_code} belongs to no advocate.",
                }
            )
    if result.advocate is None and conversion.click_public_id:
        click = lookups.click_by_public_id(conversion.click_public_id)
        if click is None:
            result.reasons.append(
                {"rule": "attribution", "outcome": "info", "detail": "The click id is unknown."}
            )
        elif not inside(click.program_id, click.created_at):
            result.reasons.append(
                {
                    "rule": "attribution_window",
                    "outcome": "info",
                    "detail": "The click is older than the program's attribution window.",
                }
            )
        else:
            result.advocate, result.click, result.by = click.advocate, click, "click"
    if result.advocate is None and conversion.visitor_id:
        click = lookups.click_by_visitor(conversion.visitor_id, occurred)
        if click is not None and inside(click.program_id, click.created_at):
            result.advocate, result.click, result.by = click.advocate, click, "visitor"
    if result.advocate is None and conversion.customer_email:
        referral = lookups.referral_by_email(conversion.customer_email, occurred)
        if referral is not None:
            if inside(referral.program_id, referral.created_at):
                result.advocate, result.referral, result.by = referral.advocate, referral, "email"
                result.click = referral.click
            else:
                result.reasons.append(
                    {
                        "rule": "attribution_window",
                        "outcome": "info",
                        "detail": "The friend was referred before the attribution window.",
                    }
                )
    if result.advocate is None:
        return result
    if result.friend_offer is None and conversion.customer_email:
        result.friend_offer = lookups.friend_offer_by_email(
            result.advocate.program_id, conversion.customer_email
        )
        result.offer_spent = result.friend_offer is not None and not conversion.referral_code
    # One referrer per friend: an earlier referral of this friend in the program decides.
    if result.referral is None and conversion.customer_email:
        earlier = lookups.referral_in_program(result.advocate.program_id, conversion.customer_email)
        if earlier is not None:
            if earlier.advocate_id != result.advocate.pk:
                result.reasons.append(
                    {
                        "rule": "one_referrer_per_friend",
                        "outcome": "info",
                        "detail": f"The friend was first referred by {earlier.advocate.code}, "
                        f"who keeps them (the order named {result.advocate.code}).",
                    }
                )
                result.advocate = earlier.advocate
            result.referral = earlier
    return result
