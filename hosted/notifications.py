"""What each advocate/friend email says and to whom; `hosted.emails.send_once` sends it once.

Locale: the advocate's own (chosen at enrolment); a friend's email goes out in the advocate's
locale when the program speaks it (a friend of an Italian advocate most likely reads Italian),
else the program's default.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation

from hosted.emails import mark_skipped, send_once
from hosted.selectors import format_day, reward_text, tier_progress
from hosted.services import email_key_hash, friend_opted_out, hosted_settings
from programs.models import Program
from programs.services import program_config
from programs.summary import offer_headline, reward_phrase
from referral_saas import tenancy
from rewards.models import Reward, RewardRecipient
from tracking import links
from tracking.models import Advocate


def _locale(program: Program, preferred: str) -> str:
    return preferred if preferred in program.locales else program.default_locale


def _base(advocate: Advocate, locale: str) -> dict[str, Any]:
    program = advocate.program
    merchant = tenancy.get_current_merchant()
    return {
        "merchant": merchant,
        "program": program,
        "advocate": advocate,
        "headline": offer_headline(program_config(program), locale),
        "referral_url": links.referral_url(advocate),
        "code": advocate.code,
        "qr_png_url": links.qr_url(advocate, "png"),
        "landing_url": links.landing_url(program, merchant.slug),
        "privacy_url": merchant.privacy_policy_url,
    }


def advocate_welcome(*, advocate_id: int) -> bool:
    advocate = Advocate.objects.select_related("program").get(pk=advocate_id)
    locale = _locale(advocate.program, advocate.locale)
    context = {**_base(advocate, locale), "portal_url": links.portal_url(advocate)}
    return send_once(
        key=f"welcome:{advocate.public_id}",
        kind="welcome",
        to=advocate.email,
        locale=locale,
        context=context,
    )


def portal_link(*, advocate_id: int, window: str) -> bool:
    advocate = Advocate.objects.select_related("program").get(pk=advocate_id)
    locale = _locale(advocate.program, advocate.locale)
    context = {**_base(advocate, locale), "portal_url": links.portal_url(advocate)}
    return send_once(
        key=f"portal:{advocate.public_id}:{window[:20]}",
        kind="portal_link",
        to=advocate.email,
        locale=locale,
        context=context,
    )


def reward_earned(*, reward_id: int) -> bool:
    reward = Reward.objects.select_related("advocate__program", "conversion").get(pk=reward_id)
    advocate = reward.advocate
    program = advocate.program
    key = f"reward:{reward.public_id}"
    locale = _locale(program, advocate.locale)
    if reward.recipient == RewardRecipient.FRIEND:
        to = reward.conversion.customer_email if reward.conversion is not None else ""
        if not to:
            mark_skipped(key, "reward_earned", "no friend address")
            return False
        if not hosted_settings(program).friend_emails_enabled:
            mark_skipped(key, "reward_earned", "friend emails are off")
            return False
        if friend_opted_out(to):
            mark_skipped(key, "reward_earned", "friend opted out")
            return False
    else:
        to = advocate.email
    with translation.override(locale):
        what = reward_text(reward, locale)
    context = {
        **_base(advocate, locale),
        "portal_url": links.portal_url(advocate) if reward.recipient == "advocate" else "",
        "reward": reward,
        "reward_text": what,
        "is_friend": reward.recipient == RewardRecipient.FRIEND,
        "available_on": format_day(reward.available_at, locale),
        "fulfilment_code": reward.fulfilment_code,
    }
    if reward.recipient == RewardRecipient.FRIEND:
        context["opt_out_url"] = _opt_out_url(to, locale)
    return send_once(key=key, kind="reward_earned", to=to, locale=locale, context=context)


def friend_offer_code(*, reward_id: int) -> bool:
    """The friend's offer, issued before purchase: their code, to the address they gave, in the
    language of the page they asked from. Asked-for delivery, not marketing: sent whatever the
    program's friend-email setting, with the opt-out link all the same."""
    reward = Reward.objects.select_related("advocate__program", "referral").get(pk=reward_id)
    key = f"offer:{reward.public_id}"
    to = reward.referral.email if reward.referral is not None else ""
    if not to or not reward.fulfilment_code:
        mark_skipped(key, "reward_earned", "no friend address or no code")
        return False
    advocate = reward.advocate
    locale = _locale(advocate.program, reward.friend_locale or advocate.locale)
    with translation.override(locale):
        what = reward_text(reward, locale)
    context = {
        **_base(advocate, locale),
        "portal_url": "",
        "reward": reward,
        "reward_text": what,
        "is_friend": True,
        "available_on": "",
        "fulfilment_code": reward.fulfilment_code,
        "shop_url": links.safe_destination(advocate.program),
        "opt_out_url": _opt_out_url(to, locale),
    }
    return send_once(key=key, kind="reward_earned", to=to, locale=locale, context=context)


def tier_reached(*, reward_id: int) -> bool:
    reward = Reward.objects.select_related("advocate__program").get(pk=reward_id)
    advocate = reward.advocate
    program = advocate.program
    key = f"tier:{reward.public_id}"
    if reward.recipient != RewardRecipient.ADVOCATE or reward.tier < 1:
        mark_skipped(key, "tier_reached", "not a tier reward")
        return False
    locale = _locale(program, advocate.locale)
    config = program_config(program)
    tiers = config.tiers
    tier = tiers[min(reward.tier, len(tiers)) - 1] if tiers else None
    # The pipeline's own count; at least the tier just reached, whatever the order of commits.
    qualified = max(advocate.qualified_conversions, tier.threshold if tier else 0)
    with translation.override(locale):
        progress = tier_progress(config, qualified, locale)
        what = reward_text(reward, locale)
    context = {
        **_base(advocate, locale),
        "portal_url": links.portal_url(advocate),
        "reward_text": what,
        "threshold": tier.threshold if tier else reward.tier,
        "progress": progress,
        "fulfilment_code": reward.fulfilment_code,
    }
    return send_once(
        key=key, kind="tier_reached", to=advocate.email, locale=locale, context=context
    )


def friend_invitation(*, advocate_id: int, email: str) -> bool:
    advocate = Advocate.objects.select_related("program").get(pk=advocate_id)
    program = advocate.program
    # One invitation per friend and program, whichever advocates name them.
    key = f"invite:{program.public_id}:{email_key_hash(email)}"
    if not hosted_settings(program).friend_emails_enabled:
        mark_skipped(key, "friend_invitation", "friend emails are off")
        return False
    if friend_opted_out(email):
        mark_skipped(key, "friend_invitation", "friend opted out")
        return False
    locale = _locale(program, advocate.locale)
    config = program_config(program)
    with translation.override(locale):
        friend_offer = reward_phrase(config.friend_reward, locale) if config.friend_reward else ""
    context = {
        **_base(advocate, locale),
        "advocate_name": advocate.name or advocate.email.split("@")[0],
        "friend_offer": friend_offer,
        "opt_out_url": _opt_out_url(email, locale),
    }
    return send_once(key=key, kind="friend_invitation", to=email, locale=locale, context=context)


def _opt_out_url(email: str, locale: str) -> str:
    from django.urls import reverse

    token = links.opt_out_token(tenancy.get_current_merchant().pk, email)
    return links.absolute(reverse("hosted_opt_out", args=[token])) + f"?lang={locale}"
