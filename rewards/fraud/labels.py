"""Words for the fraud rules outside the merchant's dashboard.

A signal's `detail` is written for the merchant and names the people involved (the friend's
address, their earlier orders, another advocate's code). It must never be shown to the
advocate: the advocate portal explains a refused referral with `advocate_explanation(rule)`
instead — translated, and about the rule, not the friend.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

ADVOCATE_EXPLANATIONS: dict[str, Promise] = {
    "self_referral": _("Referring yourself does not earn a reward."),
    "disposable_email": _("Your friend used a temporary email address; we are checking it."),
    "velocity": _("Many referrals arrived in a short time; we are checking them."),
    "fast_conversion": _("This order needs a manual check before it counts."),
    "duplicate_friend": _("Your friend had already been referred by someone else."),
    "existing_customer": _("Your friend was already a customer, so this referral does not count."),
    "blocked_country": _("Referrals from this country are not part of the program."),
    "blocked_email_domain": _("Referrals with this email domain are not part of the program."),
    "blocked_referrer": _("Referral links shared on this website are not part of the program."),
    "same_ip_user_agent": _("This order needs a manual check before it counts."),
}
FALLBACK = _("This referral did not meet the program's rules.")


def advocate_explanation(rule: str) -> str:
    """A sentence for the advocate about why a referral was held or refused (active language)."""
    return str(ADVOCATE_EXPLANATIONS.get(rule, FALLBACK))
