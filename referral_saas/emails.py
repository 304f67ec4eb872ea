"""Email, domain and name normalisation: who is the same person (fraud rules, friend offers).

Two addresses are the same person's when they normalise equal: case and surrounding whitespace
ignored, plus-tags dropped everywhere (`mario+promo@libero.it` is `mario@libero.it`), dots in the
local part dropped on Gmail (`m.ario@gmail.com`; `googlemail.com` is Gmail too), trailing dots of
the domain dropped. Dots are kept elsewhere: on most providers `m.rossi` and `mrossi` are two
different mailboxes, and treating them as one would refuse real friends.

`NormalisedEmail` is the same function in SQL, so rules compare stored rows with a Python value
in the query itself; `tests/test_fraud_emails.py` checks both agree case by case. All its SQL
functions are IMMUTABLE, so it can back an expression index
(`models.Index("merchant", NormalisedEmail("customer_email"), name=...)`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from disposable_email_domains import blocklist
from django.db.models import CharField, Func

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
WHITESPACE = " \t\n\r\x0b\x0c"

# Mainstream mailbox providers are never "disposable", whatever a list update says: refusing
# every libero.it friend because a volunteer list made a mistake would cost a merchant dearly.
MAINSTREAM_PROVIDERS = frozenset(
    {
        # global
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "tutanota.com",
        "tuta.io",
        "fastmail.com",
        "zoho.com",
        "mail.com",
        "gmx.com",
        "gmx.net",
        # Italy
        "libero.it",
        "virgilio.it",
        "hotmail.it",
        "outlook.it",
        "live.it",
        "yahoo.it",
        "tiscali.it",
        "alice.it",
        "tim.it",
        "email.it",
        "inwind.it",
        "fastwebnet.it",
        "pec.it",
        # Romania
        "yahoo.ro",
        "gmail.ro",
        # Poland
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "interia.eu",
        "onet.pl",
        "op.pl",
        "vp.pl",
        "poczta.onet.pl",
        "gazeta.pl",
        "tlen.pl",
        # Central Europe and elsewhere
        "gmx.de",
        "web.de",
        "t-online.de",
        "seznam.cz",
        "centrum.cz",
        "email.cz",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "yandex.ru",
        "mail.ru",
    }
)


def normalise_email(email: str) -> str:
    """The canonical form of an address for "same person" comparisons (see the module doc).
    Not for sending mail: a dropped plus-tag or dot can matter to a mail server."""
    value = email.strip(WHITESPACE).lower()
    local, at, domain = value.rpartition("@")
    if not at:
        return value
    domain = domain.rstrip(".")
    base = local.split("+", 1)[0] or local
    if domain in GMAIL_DOMAINS:
        return base.replace(".", "") + "@gmail.com"
    return f"{base}@{domain}"


def email_domain(email_or_domain: str) -> str:
    """The lower-case, ASCII (IDNA) domain of an address, or of a bare domain."""
    value = email_or_domain.strip(WHITESPACE).lower()
    return ascii_domain(value.rpartition("@")[2])


def ascii_domain(domain: str) -> str:
    """`bücher.de` → `xn--bcher-kva.de`, so lists of ASCII domains match internationalised
    ones; anything that is not a valid IDN stays as it was."""
    domain = domain.strip(WHITESPACE).lower().rstrip(".")
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def parent_domains(domain: str) -> list[str]:
    """`a.b.example.com` → [`a.b.example.com`, `b.example.com`, `example.com`] (never a bare
    TLD): a rule about a domain covers its subdomains."""
    labels = [label for label in domain.split(".") if label]
    return [".".join(labels[index:]) for index in range(max(len(labels) - 1, 1))]


def matching_domain(domain: str, listed: Iterable[str]) -> str | None:
    """The entry of `listed` that `domain` is, or is a subdomain of; None when none is."""
    entries = {ascii_domain(entry) for entry in listed}
    for candidate in parent_domains(ascii_domain(domain)):
        if candidate in entries:
            return candidate
    return None


def is_disposable(email_or_domain: str) -> bool:
    """True when the domain (or a parent of it) is on the maintained `disposable-email-domains`
    list and is not a mainstream provider. The most specific match wins, so an allowlisted
    provider stays allowed even if a parent were ever listed."""
    return disposable_match(email_or_domain) is not None


def disposable_match(email_or_domain: str) -> str | None:
    """The listed domain that makes an address disposable, or None."""
    for candidate in parent_domains(email_domain(email_or_domain)):
        if candidate in MAINSTREAM_PROVIDERS:
            return None
        if candidate in blocklist:
            return candidate
    return None


_NOT_LETTER = re.compile(r"[^\w]+|_")


def normalise_name(name: str) -> str:
    """A name for "same person" comparisons: accents, case, punctuation and word order ignored
    ("Rossi, Mário" is "mario rossi"). Empty unless it has at least two words: a lone first name
    is shared by too many people to be evidence of anything."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    words = sorted(word for word in _NOT_LETTER.split(plain) if word)
    return " ".join(words) if len(words) >= 2 else ""


# --- The same normalisation in SQL ---------------------------------------------------------

# E: the trimmed lower-case address; D0: after its last "@" (reverse + split_part: plain string
# functions, several times cheaper per row than regular expressions); L0: before it; D: without
# trailing dots; L: without the plus-tag (unless nothing is left). Mirrors `normalise_email`.
_E = "lower(btrim({x}, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)))"
_D0 = "reverse(split_part(reverse({e}), '@', 1))"
_L0 = "left({e}, length({e}) - length({d0}) - 1)"
_D = "rtrim({d0}, '.')"
_L = "coalesce(nullif(split_part({l0}, '+', 1), ''), {l0})"
_TEMPLATE = (
    "(CASE WHEN strpos({e}, '@') = 0 THEN {e} "
    "WHEN {d} IN ('gmail.com', 'googlemail.com') THEN replace({l}, '.', '') || '@gmail.com' "
    "ELSE {l} || '@' || {d} END)"
)


_MARK = "\x00column\x00"
_E_SQL = _E.format(x=f"({_MARK})")
_D0_SQL = _D0.format(e=_E_SQL)
_SQL = _TEMPLATE.format(
    e=_E_SQL, d=_D.format(d0=_D0_SQL), l=_L.format(l0=_L0.format(e=_E_SQL, d0=_D0_SQL))
)
_REPEATS = _SQL.count(_MARK)


class NormalisedEmail(Func):
    """`normalise_email(<expression>)` computed by the database (PostgreSQL; SQLite, used by
    `make run`, calls the Python function itself)."""

    arity = 1
    output_field = CharField()

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        column_sql, params = compiler.compile(self.source_expressions[0])
        # The argument appears several times in the SQL: its parameters repeat as often.
        return _SQL.replace(_MARK, column_sql), list(params) * _REPEATS

    def as_sqlite(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        connection.ensure_connection()
        connection.connection.create_function(
            "referral_normalise_email",
            1,
            lambda value: None if value is None else normalise_email(value),
            deterministic=True,
        )
        column_sql, params = compiler.compile(self.source_expressions[0])
        return f"referral_normalise_email({column_sql})", list(params)
