"""Reads for the advocate portal and the emails: an advocate's clicks, friends, conversions,
rewards and tier progress, formatted for one locale (money and dates through babel)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from babel.dates import format_date
from django.utils import translation
from django.utils.translation import gettext, ngettext
from ua_parser import parse as parse_user_agent

from hosted.ladder import tier_ladder
from programs.models import Program
from programs.services import program_config
from programs.specs import ProgramConfig, RewardSpec, Tier
from programs.summary import reward_phrase
from referral_saas.money import format_money
from rewards.models import Reward, RewardRecipient, RewardStatus
from tracking.models import Advocate, Click, Conversion, ConversionStatus, Referral

RECENT = 50


def format_day(value: datetime | None, locale: str) -> str:
    return format_date(value, format="medium", locale=_babel(locale)) if value else ""


def _babel(locale: str) -> str:
    return translation.to_locale(locale)


def reward_text(reward: Reward, locale: str) -> str:
    """What the reward is, in words: "€10 account credit", "15% off", "500 points"."""
    spec = RewardSpec(
        kind=reward.kind,
        fulfilment=reward.fulfilment_method or "manual",
        amount=reward.amount,
        currency=reward.currency or None,
        percent=reward.percent,
        points=reward.points,
        label=reward.label,
    )
    try:
        return reward_phrase(spec, locale)
    except (ValueError, KeyError):
        return reward.label or reward.kind


def device_text(user_agent: str) -> str:
    """ "Chrome Mobile on Android" from a stored user agent, for the advocate's click list."""
    if not user_agent:
        return ""
    parsed = parse_user_agent(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else ""
    system = parsed.os.family if parsed.os else ""
    if browser and system and system != "Other":
        with_os: str = gettext("%(browser)s on %(system)s") % {"browser": browser, "system": system}
        return with_os
    return browser if browser and browser != "Other" else ""


def is_bot(user_agent: str) -> bool:
    """Link-preview fetchers (WhatsApp, Facebook, Slack, X...) and crawlers: a shared link is
    fetched by them before any friend sees it, and those fetches are not visits."""
    if not user_agent:
        return False
    if PREVIEW_FETCHERS.search(user_agent):
        return True
    device = parse_user_agent(user_agent).device
    return device is not None and device.family == "Spider"


# Preview fetchers the user-agent database misses: Facebook's and iMessage's wear a browser's
# user agent with their name appended, Skype's is not listed. Only the fetchers' own names: an
# in-app browser (Facebook's FBAV, Instagram, Pinterest) carries a real person.
PREVIEW_FETCHERS = re.compile(
    r"facebookexternalhit|Facebot|Twitterbot|iMessageLinkPreviewer|SkypeUriPreview"
    r"|TelegramBot|Slackbot-LinkExpanding|Discordbot|redditbot|Embedly",
    re.IGNORECASE,
)


# Why a referral did not count, in the advocate's words (rules from the pipeline and the fraud
# registry); other rules get a general sentence, never the merchant-facing detail.
def rule_text(rule: str) -> str:
    texts = {
        "self_referral": gettext("You cannot refer yourself."),
        "disposable_email": gettext("The friend used a disposable email address."),
        "velocity": gettext("Too many referrals in a short time; it is being checked."),
        "fast_conversion": gettext("The order came too quickly after the click."),
        "duplicate_friend": gettext("This friend was already referred by someone else."),
        "existing_customer": gettext("This friend was already a customer."),
        "blocked_country": gettext("Orders from this country do not qualify."),
        "blocked_email_domain": gettext("The friend's email domain does not qualify."),
        "same_ip_user_agent": gettext("The order came from the same device as yours."),
        "min_order_amount": gettext("The order was below the minimum amount."),
        "currency": gettext("The order was paid in a currency this program does not accept."),
        "first_purchase_only": gettext("Only a friend's first order counts."),
        "new_customers_only": gettext("Only new customers count."),
        "attribution_window": gettext("The order came after the referral period ended."),
        "one_referrer_per_friend": gettext("This friend was already referred by someone else."),
        "max_rewards_per_advocate": gettext("You reached the maximum number of rewards for now."),
        "budget": gettext("The program's reward budget is used up."),
        "program_dates": gettext("The order was placed outside the program's dates."),
        "refunded": gettext("The order was refunded."),
        "manual": gettext("Reviewed by the shop."),
    }
    return texts.get(rule, "")


@dataclass(frozen=True)
class TierProgress:
    qualified: int
    next_threshold: int | None
    next_reward: str
    remaining: int
    message: str
    percent: int
    reached: list[str] = field(default_factory=list)


def tier_progress(config: ProgramConfig, qualified: int, locale: str) -> TierProgress | None:
    """ "2 more friends to €75" for tiered programs; None for the others."""
    if not config.tiers:
        return None
    reached = [reward_phrase(t.reward, locale) for t in config.tiers if t.threshold <= qualified]
    upcoming: Tier | None = next((t for t in config.tiers if t.threshold > qualified), None)
    last = config.tiers[-1]
    if upcoming is None and last.repeat:
        # A repeating top tier: the next one is at the next multiple past the threshold.
        steps = (qualified - last.threshold) // last.threshold + 1
        threshold = last.threshold + steps * last.threshold
        upcoming = Tier(threshold=threshold, reward=last.reward, repeat=True)
    if upcoming is None:
        return TierProgress(
            qualified=qualified,
            next_threshold=None,
            next_reward="",
            remaining=0,
            message=gettext("You reached every reward level. Thank you!"),
            percent=100,
            reached=reached,
        )
    remaining = upcoming.threshold - qualified
    reward = reward_phrase(upcoming.reward, locale)
    message = ngettext(
        "%(count)s more friend to %(reward)s",
        "%(count)s more friends to %(reward)s",
        remaining,
    ) % {"count": remaining, "reward": reward}
    return TierProgress(
        qualified=qualified,
        next_threshold=upcoming.threshold,
        next_reward=reward,
        remaining=remaining,
        message=message,
        percent=min(100, int(100 * qualified / upcoming.threshold)),
        reached=reached,
    )


def mask_email(email: str) -> str:
    """ "l•••@example.com": enough for an advocate to recognise a friend, not to harvest them."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def friend_label(name: str, email: str) -> str:
    if name.strip():
        parts = name.split()
        return parts[0] if len(parts) == 1 else f"{parts[0]} {parts[-1][:1]}."
    return mask_email(email)


def conversion_status_text(status: str) -> str:
    texts = {
        "received": gettext("Being checked"),
        "qualified": gettext("Qualified"),
        "rejected": gettext("Did not qualify"),
        "review": gettext("Under review"),
        "refunded": gettext("Refunded"),
        "unattributed": gettext("Not linked to you"),
    }
    return texts.get(status, status)


def reward_status_text(status: str) -> str:
    texts: dict[str, str] = {
        RewardStatus.PENDING: gettext("Pending"),
        RewardStatus.HELD: gettext("Under review"),
        RewardStatus.APPROVED: gettext("Approved"),
        RewardStatus.ISSUED: gettext("Issued"),
        RewardStatus.REJECTED: gettext("Rejected"),
        RewardStatus.VOIDED: gettext("Cancelled (order refunded)"),
        RewardStatus.CLAWED_BACK: gettext("Withdrawn (order refunded)"),
        RewardStatus.FAILED: gettext("Delayed: the shop is looking into it"),
        RewardStatus.REDEEMED: gettext("Used on an order"),
        RewardStatus.EXPIRED: gettext("Expired"),
    }
    return texts.get(status, status)


def portal_data(advocate: Advocate, program: Program, locale: str) -> dict[str, Any]:
    """Everything the portal shows, already in `locale` (call inside translation.override)."""
    config = program_config(program)
    clicks = Click.objects.filter(advocate=advocate)
    recent_clicks = list(clicks.order_by("-created_at")[:RECENT])
    referrals = list(Referral.objects.filter(advocate=advocate).order_by("-created_at")[:RECENT])
    conversions = list(
        Conversion.objects.filter(advocate=advocate).order_by("-occurred_at")[:RECENT]
    )
    rewards = list(
        Reward.objects.filter(advocate=advocate, recipient=RewardRecipient.ADVOCATE).order_by(
            "-created_at"
        )[:RECENT]
    )
    qualified = Conversion.objects.filter(
        advocate=advocate, status=ConversionStatus.QUALIFIED
    ).count()
    return {
        "stats": {
            "clicks": clicks.count(),
            "friends": Referral.objects.filter(advocate=advocate).count(),
            "qualified": qualified,
            "rewards": Reward.objects.filter(
                advocate=advocate,
                recipient=RewardRecipient.ADVOCATE,
                status=RewardStatus.ISSUED,
            ).count(),
        },
        "clicks": [
            {"when": format_day(c.created_at, locale), "device": device_text(c.user_agent)}
            for c in recent_clicks
        ],
        "friends": friend_rows(referrals, locale),
        "conversions": [_conversion_row(c, locale) for c in conversions],
        "rewards": [_reward_row(r, locale) for r in rewards],
        # Tiers count what the pipeline counts (its counter, kept under the advocate's lock).
        "tiers": tier_progress(config, advocate.qualified_conversions, locale),
        "ladder": tier_ladder(config, locale, advocate.qualified_conversions),
    }


def offer_status_text(status: str) -> str:
    """A friend's offer (their own code, issued before purchase), as the advocate sees it."""
    texts: dict[str, str] = {
        RewardStatus.ISSUED: gettext("Took the gift code"),
        RewardStatus.APPROVED: gettext("Took the gift code"),
        RewardStatus.HELD: gettext("Gift being checked"),
        RewardStatus.REDEEMED: gettext("Used the gift on an order"),
        RewardStatus.EXPIRED: gettext("Gift expired unused"),
    }
    return texts.get(status, "")


def friend_rows(referrals: list[Referral], locale: str) -> list[dict[str, Any]]:
    """Each friend with their state: the offer they took, their latest order and the reward it
    earned the advocate; never the friend's address (a first name or a masked email). Three
    queries for the page, whatever its length."""
    offers = dict(
        Reward.objects.filter(referral__in=referrals)
        .exclude(friend_key="")
        .values_list("referral_id", "status")
    )
    orders: dict[int, Conversion] = {}
    for conversion in Conversion.objects.filter(referral__in=referrals).order_by("occurred_at"):
        if conversion.referral_id is not None:
            orders[conversion.referral_id] = conversion
    earned = dict(
        Reward.objects.filter(
            conversion__in=list(orders.values()), recipient=RewardRecipient.ADVOCATE, tier=0
        ).values_list("conversion_id", "status")
    )
    rows = []
    for referral in referrals:
        order = orders.get(referral.pk)
        reward_status = earned.get(order.pk, "") if order is not None else ""
        rows.append(
            {
                "label": friend_label(referral.name, referral.email),
                "when": format_day(referral.created_at, locale),
                "offer": offer_status_text(offers.get(referral.pk, "")),
                "order": conversion_status_text(order.status) if order is not None else "",
                "reward": reward_status_text(reward_status) if reward_status else "",
            }
        )
    return rows


def _conversion_row(conversion: Conversion, locale: str) -> dict[str, Any]:
    reasons: list[str] = []
    if conversion.status in {ConversionStatus.REJECTED, ConversionStatus.REVIEW}:
        for reason in conversion.reasons or []:
            # Only the rules that decided (the pipeline's "info" lines are not reasons), and
            # never the merchant-facing `detail`: it is English and may name the friend.
            if not isinstance(reason, dict) or reason.get("outcome") not in {"reject", "review"}:
                continue
            text = rule_text(str(reason.get("rule", ""))) or gettext(
                "The order did not meet the program's rules."
            )
            if text and text not in reasons:
                reasons.append(text)
    return {
        "friend": friend_label(conversion.customer_name, conversion.customer_email),
        "when": format_day(conversion.occurred_at, locale),
        "amount": format_money(conversion.amount, conversion.currency, _babel(locale)),
        "status": conversion.status,
        "status_text": conversion_status_text(conversion.status),
        "reasons": reasons,
    }


def _reward_row(reward: Reward, locale: str) -> dict[str, Any]:
    shows_code = reward.status in {RewardStatus.ISSUED, RewardStatus.APPROVED}
    return {
        "what": reward_text(reward, locale),
        "status": reward.status,
        "status_text": reward_status_text(reward.status),
        "created": format_day(reward.created_at, locale),
        "available": format_day(reward.available_at, locale)
        if reward.status == RewardStatus.PENDING
        else "",
        "issued": format_day(reward.issued_at, locale),
        "code": reward.fulfilment_code if shows_code else "",
        "tier": reward.tier,
    }
