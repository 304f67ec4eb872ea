"""Money: integer minor units plus an ISO-4217 currency; formatting per locale with babel."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel.core import Locale, get_global
from babel.numbers import format_currency, get_currency_precision, get_territory_currencies


@lru_cache(maxsize=1)
def active_currencies() -> frozenset[str]:
    """ISO-4217 codes some territory uses as legal tender today (no funds, metals, test codes)."""
    today = date.today()
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, start_date=today, tender=True))
    return frozenset(codes)


def is_currency(code: str) -> bool:
    return code in active_currencies()


def minor_units(currency: str) -> int:
    """How many decimal places the currency has (EUR 2, JPY 0, KWD 3)."""
    return int(get_currency_precision(currency))


def to_major(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-minor_units(currency))


def major_text(amount: int, currency: str) -> str:
    """Minor units as a plain major-units number with the currency's decimals, for files a
    spreadsheet reads (CSV): `3000, "EUR"` → "30.00", `3000, "JPY"` → "3000". No grouping, a
    dot for the decimals, whatever the locale."""
    return f"{to_major(int(amount), currency):f}"


def format_money(amount: int, currency: str, locale: str = "en", *, exact: bool = False) -> str:
    """`1000, "EUR", "it"` → "10 €". Whole amounts drop zero decimals ("€10", not "€10.00"),
    unless `exact` (amounts compared with each other: "€29.99 is below €30.00")."""
    major = to_major(amount, currency)
    if exact or major != major.to_integral_value():
        return str(format_currency(major, currency, locale=locale))
    pattern = Locale.parse(locale).currency_formats["standard"].pattern
    whole = pattern.split(";")[0].replace(".00", "")
    return str(format_currency(major, currency, format=whole, locale=locale, currency_digits=False))


def reader_locale() -> str:
    """The babel locale of whoever reads the page now (the active Django language)."""
    from django.utils import translation

    return (translation.get_language() or "en").replace("-", "_")
