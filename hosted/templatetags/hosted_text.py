"""Small text filters for the hosted pages and emails."""

from __future__ import annotations

from django import template

register = template.Library()

_END = (".", "!", "?", "…", ":", ";")


@register.filter
def as_sentence(text: object) -> str:
    """A headline ("Give €10, get €10") as a sentence in running text: a full stop added
    unless it already ends with punctuation the merchant typed ("Get €10!")."""
    value = str(text or "").strip()
    return value if not value or value.endswith(_END) else f"{value}."
