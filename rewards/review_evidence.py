"""What a reviewer needs in front of them to decide a flagged conversion, computed from rows
already loaded (no queries): the advocate and the friend side by side (emails and their
normalised forms, names, customer ids, visitor cookie, network, browser), the click-to-order
timing, and every rule hit with its evidence laid out as label/value rows.

The IP address itself is never shown, not even its hash: only whether the friend's click or
order came from the address the advocate enrolled from (as the fraud rule compares it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from referral_saas.emails import is_disposable, normalise_email, normalise_name
from referral_saas.money import format_money, reader_locale
from tracking.models import Click, Conversion

SAME, DIFFERENT, UNKNOWN, INFO = "same", "different", "unknown", "info"
HIT_OUTCOMES = ("reject", "review", "score_only")
RULE_LABELS: dict[str, Any] = {
    "self_referral": _("Self-referral"),
    "disposable_email": _("Disposable email"),
    "velocity": _("Velocity"),
    "fast_conversion": _("Click to order too fast"),
    "duplicate_friend": _("Friend already referred"),
    "existing_customer": _("Existing customer"),
    "blocked_country": _("Blocked country"),
    "blocked_email_domain": _("Blocked email domain"),
    "blocked_referrer": _("Blocked referring site"),
    "same_ip_user_agent": _("Same network as the advocate"),
    "advocate_blocked": _("Advocate blocked"),
    "min_order_amount": _("Below minimum order"),
    "first_purchase_only": _("Not a first purchase"),
    "new_customers_only": _("Not a new customer"),
    "program_active": _("Program not active"),
    "program_dates": _("Outside program dates"),
    "attribution": _("Attribution"),
    "review": _("Review decision"),
    "tier": _("Tier milestone"),
    "budget": _("Budget"),
    "max_rewards_per_advocate": _("Reward cap"),
}


# Rules whose evidence holds amounts (minor units of the evidence's `currency`).
MONEY_EVIDENCE = {"min_order_amount": ("amount", "minimum"), "budget": ("budget", "spent")}


def _money(amount: Any, currency: str, locale: str) -> str:
    try:
        return format_money(int(amount), currency, locale, exact=True)
    except (TypeError, ValueError, LookupError):  # an unknown locale or currency: still readable
        return f"{amount} {currency}"


def money_detail(rule: str, evidence: Any, locale: str = "en") -> str | None:
    """The sentence of a rule about amounts, with the amounts as people read them in `locale`
    ("The order (€25.00) is below the minimum of €30.00."); None for other rules or evidence
    without its currency. The pipeline stores the English sentence as the reason's `detail`;
    the dashboard renders it again in the reader's locale from the same evidence."""
    if rule not in MONEY_EVIDENCE or not isinstance(evidence, dict):
        return None
    currency = evidence.get("currency")
    first, second = MONEY_EVIDENCE[rule]
    if not currency or first not in evidence or second not in evidence:
        return None
    one = _money(evidence[first], str(currency), locale)
    two = _money(evidence[second], str(currency), locale)
    if rule == "min_order_amount":
        after = " after refunds" if evidence.get("refunded") else ""
        return f"The order ({one}{after}) is below the minimum of {two}."
    recipient = evidence.get("recipient") or "new"
    return f"The program budget ({one}) is spent ({two}); no {recipient} reward."


@dataclass(frozen=True)
class Comparison:
    label: str
    advocate: str
    friend: str
    verdict: str  # same | different | unknown | info (no advocate side to compare)
    note: str = ""


@dataclass(frozen=True)
class RuleHit:
    rule: str
    label: str
    outcome: str
    detail: str
    score: int | None
    evidence: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_hit(self) -> bool:
        return self.outcome in HIT_OUTCOMES


def mask_email(email: str) -> str:
    """ "j•••@example.com": enough to recognise someone, not to harvest addresses (the same
    mask as the advocate portal's, `hosted.selectors.mask_email`, which sits above us)."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def rule_label(rule: str) -> str:
    return str(RULE_LABELS.get(rule, rule.replace("_", " ").capitalize()))


def _verdict(left: str, right: str) -> str:
    if not left or not right:
        return UNKNOWN
    return SAME if left == right else DIFFERENT


def _click(conversion: Conversion) -> Click | None:
    referral = conversion.referral
    return referral.click if referral is not None else None


def _elapsed(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "order before the click"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def comparisons(conversion: Conversion) -> list[Comparison]:
    """The advocate and the friend side by side. Needs `advocate`, `referral` and
    `referral__click` selected with the conversion."""
    advocate = conversion.advocate
    if advocate is None:
        return []
    referral = conversion.referral
    friend_email = conversion.customer_email or (referral.email if referral else "")
    friend_name = conversion.customer_name or (referral.name if referral else "")
    friend_customer = conversion.customer_id or (referral.customer_id if referral else "")
    click = _click(conversion)
    advocate_normal, friend_normal = normalise_email(advocate.email), normalise_email(friend_email)
    rows = [
        Comparison(
            gettext("Email"),
            advocate.email,
            friend_email,
            _verdict(advocate.email.lower(), friend_email.lower()),
            gettext("disposable domain") if friend_email and is_disposable(friend_email) else "",
        ),
        Comparison(
            gettext("Email, normalised"),
            advocate_normal,
            friend_normal,
            _verdict(advocate_normal, friend_normal),
            gettext("case, plus-tags and Gmail dots ignored"),
        ),
        Comparison(
            gettext("Name"),
            advocate.name,
            friend_name,
            _verdict(normalise_name(advocate.name), normalise_name(friend_name)),
        ),
        Comparison(
            gettext("Customer id"),
            advocate.customer_id,
            friend_customer,
            _verdict(advocate.customer_id, friend_customer),
        ),
        Comparison(
            gettext("Visitor cookie"),
            gettext("recorded") if advocate.visitor_id else "",
            gettext("recorded") if conversion.visitor_id or (click and click.visitor_id) else "",
            _verdict(
                advocate.visitor_id, conversion.visitor_id or (click.visitor_id if click else "")
            ),
        ),
    ]
    rows += _network(conversion, click)
    return rows


def _network(conversion: Conversion, click: Click | None) -> list[Comparison]:
    advocate = conversion.advocate
    assert advocate is not None
    joined = gettext("address they joined from") if advocate.ip_hash else ""
    rows = []
    for where, ip_hash in (
        ("order", conversion.ip_hash),
        ("click", click.ip_hash if click else ""),
    ):
        rows.append(
            Comparison(
                gettext("IP address (order)")
                if where == "order"
                else gettext("IP address (click)"),
                joined,
                (
                    gettext("address of the order")
                    if where == "order"
                    else gettext("address of the click")
                )
                if ip_hash
                else "",
                _verdict(advocate.ip_hash, ip_hash),
            )
        )
    # Not an advocate-vs-friend comparison: the friend's own browser on the click and on the
    # order. The same one is normal for an honest friend; it only strengthens an IP match.
    click_agent = click.user_agent if click else ""
    if click_agent and conversion.user_agent:
        same = click_agent == conversion.user_agent
        friend = (
            f"same on click and order: {click_agent}"
            if same
            else f"click: {click_agent} · order: {conversion.user_agent}"
        )
    else:
        friend = conversion.user_agent or click_agent
    rows.append(
        Comparison(
            gettext("Friend's browser"),
            "",
            friend,
            INFO,
            gettext("compared between the friend's click and order"),
        )
    )
    return rows


def timing(conversion: Conversion) -> dict[str, Any] | None:
    """Click → order: when each happened and how long between them."""
    click = _click(conversion)
    if click is None:
        return None
    return {
        "clicked_at": click.created_at,
        "ordered_at": conversion.occurred_at,
        "elapsed": _elapsed(conversion.occurred_at - click.created_at),
    }


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    if isinstance(value, dict) and {"limit", "count", "threshold"} <= value.keys():
        # A velocity limit: "advocate per day: 12 (limit 10)".
        return f"{_key(value['limit'])}: {value['count']} (limit {value['threshold']})"
    if isinstance(value, dict):
        return ", ".join(f"{_key(k)}: {_format(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(_format(item) for item in value) or "—"
    return str(value)


def _key(name: Any) -> str:
    return str(name).replace("_", " ")


def evidence_rows(evidence: Any) -> list[tuple[str, str]]:
    """A rule's evidence dict as (label, value) rows; nested lists and dicts become one line
    each (a velocity hit: "limit: advocate per day, count: 12, threshold: 10")."""
    if not isinstance(evidence, dict):
        return [("evidence", _format(evidence))] if evidence else []
    rows: list[tuple[str, str]] = []
    for name, value in evidence.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            rows += [(_key(name).capitalize(), _format(item)) for item in value]
        else:
            rows.append((_key(name).capitalize(), _format(value)))
    return rows


def _with_money(rule: str, evidence: Any, currency: str, locale: str) -> Any:
    """Evidence of a money rule with its amounts formatted (reasons stored before the evidence
    carried its currency take `currency`, the order's or program's)."""
    if rule not in MONEY_EVIDENCE or not isinstance(evidence, dict):
        return evidence
    money = str(evidence.get("currency") or currency)
    if not money:
        return evidence
    shown = {
        name: value for name, value in evidence.items() if name not in ("currency", "refunded")
    }
    for name in MONEY_EVIDENCE[rule]:
        if name in shown:
            shown[name] = _money(shown[name], money, locale)
    return shown


def _from_old_detail(rule: str, detail: str) -> dict[str, Any]:
    """What reasons stored before their evidence said it is only in their sentence."""
    if rule == "min_order_amount":
        return {"refunded": "after refunds" in detail}
    found = re.search(r"no (advocate|friend) reward", detail) if rule == "budget" else None
    return {"recipient": found.group(1)} if found else {}


def rule_hits(reasons: Any, *, currency: str = "") -> list[RuleHit]:
    """Every stored reason, in order, with its evidence laid out. Hits (reject, review,
    score only) are marked so the template can put them first. Amounts read in the reader's
    locale; `currency` is the one of reasons that do not name theirs."""
    locale = reader_locale()
    hits = []
    for reason in reasons if isinstance(reasons, list) else []:
        if not isinstance(reason, dict):
            continue
        rule = str(reason.get("rule", ""))
        score = reason.get("score")
        evidence = reason.get("evidence")
        detail = str(reason.get("detail", ""))
        if isinstance(evidence, dict) and currency and "currency" not in evidence:
            evidence = {**evidence, "currency": currency, **_from_old_detail(rule, detail)}
        hits.append(
            RuleHit(
                rule=rule,
                label=rule_label(rule),
                outcome=str(reason.get("outcome", "")),
                detail=money_detail(rule, evidence, locale) or detail,
                score=score if isinstance(score, int) else None,
                evidence=evidence_rows(_with_money(rule, evidence, currency, locale)),
            )
        )
    return hits
