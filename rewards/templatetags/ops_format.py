"""Template filters for the operations pages (review queue, rewards, advocates)."""

from __future__ import annotations

from typing import Any

from django import template

from referral_saas.money import format_money, reader_locale

register = template.Library()


@register.filter
def money(amount: Any, currency: str) -> str:
    """Minor units and a currency as people read them, in the reader's language:
    `{{ 1050|money:"EUR" }}` → "€10.50" (English), "10,50 €" (Italian)."""
    if amount is None or amount == "":
        return "—"
    if not currency:
        return str(amount)
    try:
        return format_money(int(amount), str(currency), reader_locale())
    except (TypeError, ValueError, LookupError):
        return f"{amount} {currency}"


@register.filter
def words(value: Any) -> str:
    """A machine name as words: "generated_code" → "generated code"."""
    return str(value or "").replace("_", " ")


@register.filter
def kind_label(kind: Any) -> str:
    """A reward kind in the reader's language: "account_credit" → "Account credit"."""
    from programs.forms import KIND_LABELS  # the wizard's labels: one wording everywhere

    return str(KIND_LABELS.get(str(kind), words(kind)))
