"""Merchants' own subject and body for an email kind in one locale (`EmailTemplateOverride`).

Merchant text is never rendered as a Django template: it may only name a fixed set of
placeholders per kind, written `{{ name }}`, which one regex substitutes with values from the
same context `render_email` gets. Anything else in the text (`{% ... %}`, single braces) stays
literal. The HTML version escapes the whole substituted text; our layout and footer wrap it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from django.utils import translation

from tracking import links

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
SUBJECT_MAX = 200
BODY_MAX = 5000


def _name(value: Any) -> str:
    return str(getattr(value, "name", "") or "") if value is not None else ""


def _advocate_name(context: dict[str, Any]) -> str:
    return str(context.get("advocate_name") or _name(context.get("advocate")))


Getter = Callable[[dict[str, Any]], str]

_VALUES: dict[str, tuple[str, Getter]] = {
    "merchant": ("the shop's name", lambda c: _name(c.get("merchant"))),
    "program": ("the program's name", lambda c: _name(c.get("program"))),
    "advocate_name": ("the advocate's name", _advocate_name),
    "referral_link": ("the advocate's personal link", lambda c: str(c.get("referral_url", ""))),
    "code": ("the advocate's referral code", lambda c: str(c.get("code", ""))),
    "offer": ("the program's offer in one line", lambda c: str(c.get("headline", ""))),
    "portal_link": (
        "the link to the advocate's rewards page",
        lambda c: str(c.get("portal_url", "")),
    ),
    "reward": ("the reward, e.g. €10 account credit", lambda c: str(c.get("reward_text", ""))),
    "reward_code": (
        "the reward's code, when it has one",
        lambda c: str(c.get("fulfilment_code") or ""),
    ),
    "tier": ("the number of friends the level needs", lambda c: str(c.get("threshold", ""))),
    "friend_reward": ("what the friend gets", lambda c: str(c.get("friend_offer", ""))),
    "opt_out_link": ("the friend's opt-out link", lambda c: str(c.get("opt_out_url", ""))),
}

_COMMON = ("merchant", "program", "advocate_name", "referral_link", "code", "offer")
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "welcome": (*_COMMON, "portal_link"),
    "portal_link": (*_COMMON, "portal_link"),
    "reward_earned": (*_COMMON, "portal_link", "reward", "reward_code"),
    "tier_reached": (*_COMMON, "portal_link", "reward", "reward_code", "tier"),
    "friend_invitation": (*_COMMON, "friend_reward", "opt_out_link"),
}


def placeholder_help(kind: str) -> list[tuple[str, str]]:
    """(placeholder as written, what it becomes) for the dashboard."""
    return [("{{ " + name + " }}", _VALUES[name][0]) for name in PLACEHOLDERS[kind]]


def unknown_placeholders(kind: str, text: str) -> list[str]:
    allowed = PLACEHOLDERS[kind]
    found = [match.group(1) for match in PLACEHOLDER.finditer(text)]
    return list(dict.fromkeys(name for name in found if name not in allowed))


def substitute(kind: str, text: str, context: dict[str, Any]) -> str:
    """`text` with each known `{{ name }}` replaced by its plain value; unknown ones stay as
    written (validation refuses them before they are saved)."""
    allowed = PLACEHOLDERS[kind]

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return _VALUES[name][1](context) if name in allowed else match.group(0)

    return PLACEHOLDER.sub(value, text)


def validate(kind: str, subject: str, body: str) -> dict[str, str]:
    """Field name -> error message; empty when the override can be saved."""
    errors: dict[str, str] = {}
    for field, text, limit in (("subject", subject, SUBJECT_MAX), ("body", body, BODY_MAX)):
        label = field.capitalize()
        if not text.strip():
            errors[field] = f"{label}: this field is required."
        elif len(text) > limit:
            errors[field] = f"{label}: at most {limit} characters (it has {len(text)})."
        elif "\n" in text and field == "subject":
            errors[field] = f"{label}: one line only."
        else:
            unknown = unknown_placeholders(kind, text)
            if unknown:
                names = ", ".join("{{ " + name + " }}" for name in unknown)
                errors[field] = f"{label}: unknown placeholder {names}."
    return errors


def sample_context(kind: str, locale: str, merchant: Any, program: Any) -> dict[str, Any]:
    """A context shaped like hosted.notifications' for previews: made-up advocate and reward."""
    from programs.services import program_config
    from programs.summary import offer_headline, reward_phrase

    config = program_config(program)
    with translation.override(locale):
        headline = offer_headline(config, locale)
        spec = config.advocate_reward or config.friend_reward
        reward_text = reward_phrase(spec, locale) if spec else "€10"
        friend_offer = reward_phrase(config.friend_reward, locale) if config.friend_reward else ""
    example = links.absolute
    return {
        "merchant": merchant,
        "program": program,
        "advocate": SimpleNamespace(name="Maria", email="maria@example.com"),
        "advocate_name": "Maria",
        "headline": headline,
        "referral_url": example("/r/MARIA10"),
        "code": "MARIA10",
        "qr_png_url": example("/r/MARIA10/qr.png"),
        "landing_url": example(f"/p/{merchant.slug}/{program.slug}/"),
        "privacy_url": merchant.privacy_policy_url,
        "portal_url": example("/portal/example/"),
        "reward": SimpleNamespace(status="issued"),
        "reward_text": reward_text,
        "is_friend": False,
        "available_on": "",
        "fulfilment_code": "THANKS-7Q2X" if kind in ("reward_earned", "tier_reached") else "",
        "threshold": 3,
        "progress": None,
        "friend_offer": friend_offer,
        "opt_out_url": example("/opt-out/example") if kind == "friend_invitation" else "",
    }
