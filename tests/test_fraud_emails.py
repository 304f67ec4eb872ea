"""Email normalisation for the fraud rules, in Python and in SQL (they must agree), names, and
the disposable-domain check against the maintained list."""

from __future__ import annotations

import pytest
from disposable_email_domains import blocklist
from django.db import connection, models, transaction
from django.db.models import Value

from accounts.models import Merchant
from referral_saas import tenancy
from referral_saas.emails import (
    MAINSTREAM_PROVIDERS,
    NormalisedEmail,
    ascii_domain,
    disposable_match,
    matching_domain,
)
from rewards.fraud import is_disposable, normalise_email, normalise_name
from tests.conftest import World
from tracking.models import Conversion

CASES = [
    # case and surrounding whitespace
    ("Mario.Rossi@Libero.IT", "mario.rossi@libero.it"),
    ("  mario@libero.it  ", "mario@libero.it"),
    ("\tmario@libero.it\n", "mario@libero.it"),
    ("MARIA.BIANCHI@VIRGILIO.IT", "maria.bianchi@virgilio.it"),
    # plus-tags, everywhere
    ("mario.rossi+promo@libero.it", "mario.rossi@libero.it"),
    ("Mario.Rossi+X+Y@Libero.IT", "mario.rossi@libero.it"),
    ("jan.kowalski+sklep@wp.pl", "jan.kowalski@wp.pl"),
    ("ion.popescu+a@yahoo.ro", "ion.popescu@yahoo.ro"),
    ("a.b+c@outlook.com", "a.b@outlook.com"),
    ("first.last+news@icloud.com", "first.last@icloud.com"),
    ("X.Y+z@Proton.Me", "x.y@proton.me"),
    ("hans.muller+shop@gmx.de", "hans.muller@gmx.de"),
    ("MARIA.BIANCHI+1@HOTMAIL.IT", "maria.bianchi@hotmail.it"),
    ("a+b+c@example.com", "a@example.com"),
    ("+tag@example.com", "+tag@example.com"),  # nothing before the tag: kept whole
    # dots only on Gmail-like domains
    ("Mario.Rossi@Gmail.com", "mariorossi@gmail.com"),
    ("m.a.r.i.o.rossi@gmail.com", "mariorossi@gmail.com"),
    ("mario.rossi+promo@gmail.com", "mariorossi@gmail.com"),
    ("A.B+C.D@GMAIL.COM", "ab@gmail.com"),
    ("a..b@gmail.com", "ab@gmail.com"),
    (".a.@gmail.com", "a@gmail.com"),
    ("mario.rossi@googlemail.com", "mariorossi@gmail.com"),
    ("MarioRossi@GOOGLEMAIL.COM", "mariorossi@gmail.com"),
    ("mario@googlemail.com.", "mario@gmail.com"),
    ("mario.rossi@libero.it", "mario.rossi@libero.it"),
    ("jan.kowalski@o2.pl", "jan.kowalski@o2.pl"),
    ("ion.popescu@yahoo.ro", "ion.popescu@yahoo.ro"),
    ("first.last@icloud.com", "first.last@icloud.com"),
    ("m.ario@gmail.co", "m.ario@gmail.co"),
    ("m.ario@mail.gmail.com", "m.ario@mail.gmail.com"),
    ("m.ario@gmail.com.au", "m.ario@gmail.com.au"),
    # trailing dots of the domain
    ("mario.rossi@gmail.com.", "mariorossi@gmail.com"),
    ("mario@libero.it..", "mario@libero.it"),
    ("user@.", "user@"),
    # hyphens and other characters are part of the mailbox
    ("ion-popescu@yahoo.ro", "ion-popescu@yahoo.ro"),
    ("o'brien@example.ie", "o'brien@example.ie"),
    ("user_name@seznam.cz", "user_name@seznam.cz"),
    # internationalised addresses are lower-cased like any other
    ("mario@BÜCHER.de", "mario@bücher.de"),
    ("Łukasz@Interia.PL", "łukasz@interia.pl"),
    ("ŁUKASZ.NOWAK+x@ONET.PL", "łukasz.nowak@onet.pl"),
    ("ȘTEFAN@Yahoo.RO", "ștefan@yahoo.ro"),
    ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),
    # the domain starts after the last "@"
    ('"a@b"@example.com', '"a@b"@example.com'),
    # not addresses: lower-cased and trimmed, nothing else
    ("NoAtSign  ", "noatsign"),
    ("@gmail.com", "@gmail.com"),
    ("user@", "user@"),
    ("", ""),
]


@pytest.mark.parametrize(("given", "expected"), CASES)
def test_normalise_email(given: str, expected: str) -> None:
    assert normalise_email(given) == expected


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


def test_normalisation_is_idempotent() -> None:
    for given, expected in CASES:
        assert normalise_email(expected) == expected, given


def test_sql_normalisation_agrees_with_python_on_stored_rows(world: World) -> None:
    # given every case stored as a customer's email
    with tenancy.merchant_context(world.acme):
        Conversion.objects.bulk_create(
            Conversion(order_id=f"o{index}", amount=100, currency="EUR", customer_email=given)
            for index, (given, _) in enumerate(CASES)
        )
        # when the database normalises them in one query
        rows = dict(
            Conversion.objects.annotate(n=NormalisedEmail("customer_email")).values_list(
                "customer_email", "n"
            )
        )
    # then it says exactly what Python says
    assert rows == {given: expected for given, expected in CASES}


def test_sql_normalisation_of_a_parameter(world: World) -> None:
    # a parameter appears several times in the SQL: its value must be repeated as often
    for given, expected in CASES[:10]:
        value = (
            Merchant.objects.filter(pk=world.acme.pk)
            .annotate(n=NormalisedEmail(Value(given)))
            .values_list("n", flat=True)
            .get()
        )
        assert value == expected


@pytest.mark.django_db(transaction=False)
def test_sql_normalisation_can_back_an_expression_index(world: World) -> None:
    # The pipeline's hottest lookups can be indexed: PostgreSQL accepts only IMMUTABLE
    # expressions in an index, so this fails if the SQL ever uses a non-immutable function.
    index = models.Index("merchant", NormalisedEmail("customer_email"), name="fraud_test_idx")
    with transaction.atomic():
        with connection.schema_editor() as editor:
            editor.add_index(Conversion, index)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'fraud_test_idx'")
            assert cursor.fetchone() == (1,)
        transaction.set_rollback(True)


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Mario Rossi", "mario rossi"),
        ("Mario Rossi", "Rossi, Mario"),
        ("Mário  Rossí", "MARIO ROSSI"),
        ("Anna-Maria Kowalska", "kowalska anna maria"),
        ("Ștefan Popescu", "Stefan Popescu"),
    ],
)
def test_same_names(first: str, second: str) -> None:
    assert normalise_name(first) == normalise_name(second) != ""


@pytest.mark.parametrize("lonely", ["Mario", "  mario ", "", "M.", "-"])
def test_a_single_word_is_no_name_evidence(lonely: str) -> None:
    assert normalise_name(lonely) == ""


def test_different_names_differ() -> None:
    assert normalise_name("Mario Rossi") != normalise_name("Maria Rossi")


# --- domains -------------------------------------------------------------------------------

DISPOSABLE = [
    "mailinator.com",
    "yopmail.com",
    "guerrillamail.com",
    "10minutemail.com",
    "sharklasers.com",
    "temp-mail.org",
    "trashmail.com",
]


@pytest.mark.parametrize("domain", DISPOSABLE)
def test_domains_from_the_maintained_list_are_disposable(domain: str) -> None:
    assert domain in blocklist  # the package's list, not ours
    assert is_disposable(f"someone@{domain}")
    assert is_disposable(domain)
    assert is_disposable(f"Someone+x@{domain.upper()}.")


def test_subdomains_of_a_listed_domain_are_disposable() -> None:
    assert disposable_match("x@inbox.mailinator.com") == "mailinator.com"
    assert disposable_match("x@a.b.yopmail.com") == "yopmail.com"


MAINSTREAM = [
    "gmail.com",
    "libero.it",
    "wp.pl",
    "yahoo.ro",
    "outlook.com",
    "o2.pl",
    "interia.pl",
    "virgilio.it",
    "hotmail.it",
    "yahoo.com",
    "icloud.com",
    "proton.me",
    "gmx.de",
    "web.de",
    "seznam.cz",
    "onet.pl",
    "tiscali.it",
    "hotmail.com",
]


@pytest.mark.parametrize("domain", MAINSTREAM)
def test_mainstream_providers_are_not_disposable(domain: str) -> None:
    assert not is_disposable(f"mario.rossi@{domain}")
    assert not is_disposable(f"MARIO+shop@{domain.upper()}")


def test_no_allowlisted_provider_is_on_the_list_today() -> None:
    # If this fails the list made a mistake the allowlist is now covering: worth a look.
    assert sorted(MAINSTREAM_PROVIDERS & blocklist) == []


def test_the_allowlist_overrides_a_list_mistake(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a list update that wrongly lists two mainstream providers
    monkeypatch.setattr(
        "referral_saas.emails.blocklist", frozenset(blocklist) | {"libero.it", "wp.pl"}
    )
    # then they are still not disposable, and real throwaway domains still are
    assert not is_disposable("mario@libero.it")
    assert not is_disposable("jan@wp.pl")
    assert is_disposable("x@mailinator.com")


def test_unknown_and_odd_input_is_not_disposable() -> None:
    assert not is_disposable("")
    assert not is_disposable("no-at-sign")
    assert not is_disposable("x@com")
    assert not is_disposable("x@example.com")


def test_matching_domain_covers_subdomains_not_lookalikes() -> None:
    listed = ["competitor.example", "staff.shop.it"]
    assert matching_domain("competitor.example", listed) == "competitor.example"
    assert matching_domain("mail.competitor.example", listed) == "competitor.example"
    assert matching_domain("notcompetitor.example", listed) is None
    assert matching_domain("shop.it", listed) is None
    assert matching_domain("x.staff.shop.it", listed) == "staff.shop.it"


def test_idn_domains_compare_in_ascii() -> None:
    assert ascii_domain("BÜCHER.de.") == "xn--bcher-kva.de"
    assert matching_domain("mail.bücher.de", ["xn--bcher-kva.de"]) == "xn--bcher-kva.de"
