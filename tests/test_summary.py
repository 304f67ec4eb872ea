"""Plain-language offer headlines and rule summaries, in every supported language.

Expected strings are exact: babel separates amount and symbol with a no-break space (NBSP).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from programs.specs import ProgramConfig, RewardSpec, parse_config
from programs.summary import offer_headline, program_summary, reward_phrase

NBSP = "\xa0"


def config(data: dict[str, Any], program_type: str) -> ProgramConfig:
    return parse_config(data, program_type=program_type, currency="EUR", stripe_connected=False)


# (1) Two-sided: €10 account credit for the advocate, 15% off for the friend, €50 minimum order,
# first purchase only, 30-day hold.
TWO_SIDED = {
    "advocate_reward": {"kind": "account_credit", "amount": 1000},
    "friend_reward": {"kind": "percent_discount", "percent": 15},
    "rules": {"min_order_amount": 5000, "first_purchase_only": True, "hold_days": 30},
}
# (2) One-sided: €20 cash paid manually, at most 5 a month per advocate, €1,000 budget that pauses.
ONE_SIDED = {
    "advocate_reward": {"kind": "cash", "amount": 2000, "fulfilment": "manual"},
    "rules": {
        "max_rewards_per_advocate": 5,
        "max_rewards_period": "month",
        "budget_amount": 100000,
        "budget_action": "pause_program",
    },
}
# (3) Tiered: 1 → €10 credit, 5 → €75 credit, 10 → a free year of premium, repeating.
TIERED = {
    "tiers": [
        {"threshold": 1, "reward": {"kind": "account_credit", "amount": 1000}},
        {"threshold": 5, "reward": {"kind": "account_credit", "amount": 7500}},
        {
            "threshold": 10,
            "reward": {"kind": "free_product", "label": "year of premium"},
            "repeat": True,
        },
    ]
}


# --- Example 1: two-sided ----------------------------------------------------------------------


def test_two_sided_english() -> None:
    program = config(TWO_SIDED, "two_sided")
    assert offer_headline(program, "en") == "Give 15% off, get €10 credit"
    assert program_summary(program, "en") == (
        "Advocates get €10 account credit after each friend's first order of at least €50, "
        "released 30 days after the order; friends get 15% off their first order. "
        "Friends must be new customers and order within 30 days of clicking the referral link."
    )


def test_two_sided_italian() -> None:
    program = config(TWO_SIDED, "two_sided")
    assert offer_headline(program, "it") == f"Regala 15% di sconto, ricevi 10{NBSP}€ di credito"
    assert program_summary(program, "it") == (
        f"Chi invita riceve 10{NBSP}€ di credito sul conto per ogni amico il cui primo ordine è "
        f"di almeno 50{NBSP}€, con erogazione 30 giorni dopo l'ordine; gli amici ricevono uno "
        "sconto del 15% sul primo ordine. Gli amici devono essere nuovi clienti e ordinare entro "
        "30 giorni dal clic sul link di invito."
    )


def test_two_sided_romanian() -> None:
    program = config(TWO_SIDED, "two_sided")
    assert offer_headline(program, "ro") == f"Oferă 15% reducere, primește 10{NBSP}EUR credit"
    assert program_summary(program, "ro") == (
        f"Cine recomandă primește un credit de 10{NBSP}EUR în cont pentru fiecare prieten a cărui "
        f"primă comandă are cel puțin 50{NBSP}EUR, recompensa fiind acordată la 30 de zile după "
        "comandă; prietenii primesc o reducere de 15% la prima comandă. Prietenii trebuie să fie "
        "clienți noi și să comande în cel mult 30 de zile de la clicul pe linkul de recomandare."
    )


def test_two_sided_polish() -> None:
    program = config(TWO_SIDED, "two_sided")
    assert offer_headline(program, "pl") == f"Podaruj 15% rabatu, odbierz 10{NBSP}€ na zakupy"
    assert program_summary(program, "pl") == (
        f"Polecający otrzymują 10{NBSP}€ środków na koncie za każdego znajomego, którego pierwsze "
        f"zamówienie wynosi co najmniej 50{NBSP}€, a nagroda jest przyznawana 30 dni po "
        "zamówieniu; znajomi otrzymują 15% rabatu na pierwsze zamówienie. Znajomi muszą być "
        "nowymi klientami i złożyć zamówienie w ciągu 30 dni od kliknięcia linku polecającego."
    )


# --- Example 2: one-sided with a cap and a budget ----------------------------------------------


def test_one_sided_english() -> None:
    program = config(ONE_SIDED, "one_sided")
    assert offer_headline(program, "en") == "Get €20 for every friend you refer"
    assert program_summary(program, "en") == (
        "Advocates get €20 cash after each friend's first order, released 30 days after the "
        "order. Friends must be new customers and order within 30 days of clicking the referral "
        "link. Limits: up to 5 rewards per advocate per month; the program pauses once rewards "
        "total €1,000."
    )


def test_one_sided_other_languages() -> None:
    program = config(ONE_SIDED, "one_sided")
    assert offer_headline(program, "it") == f"Ricevi 20{NBSP}€ per ogni amico che inviti"
    assert program_summary(program, "it") == (
        f"Chi invita riceve 20{NBSP}€ in denaro per il primo ordine di ogni amico, con erogazione "
        "30 giorni dopo l'ordine. Gli amici devono essere nuovi clienti e ordinare entro 30 "
        "giorni dal clic sul link di invito. Limiti: al massimo 5 premi al mese per ogni persona "
        f"che invita; il programma va in pausa quando i premi raggiungono in totale 1.000{NBSP}€."
    )
    assert offer_headline(program, "ro") == (
        f"Primește 20{NBSP}EUR pentru fiecare prieten pe care îl recomanzi"
    )
    assert program_summary(program, "ro") == (
        f"Cine recomandă primește 20{NBSP}EUR în numerar pentru prima comandă a fiecărui prieten, "
        "recompensa fiind acordată la 30 de zile după comandă. Prietenii trebuie să fie clienți "
        "noi și să comande în cel mult 30 de zile de la clicul pe linkul de recomandare. Limite: "
        "cel mult 5 recompense pe lună pentru fiecare persoană care recomandă; programul se "
        f"suspendă când recompensele ajung în total la 1.000{NBSP}EUR."
    )
    assert offer_headline(program, "pl") == f"Odbierz 20{NBSP}€ za każdego poleconego znajomego"
    assert program_summary(program, "pl") == (
        f"Polecający otrzymują 20{NBSP}€ w gotówce za pierwsze zamówienie każdego znajomego, a "
        "nagroda jest przyznawana 30 dni po zamówieniu. Znajomi muszą być nowymi klientami i "
        "złożyć zamówienie w ciągu 30 dni od kliknięcia linku polecającego. Limity: maksymalnie "
        "5 nagród miesięcznie na polecającego; program zostaje wstrzymany, gdy łączna wartość "
        f"nagród osiągnie 1{NBSP}000{NBSP}€."
    )


# --- Example 3: tiered ------------------------------------------------------------------------


def test_tiered_english() -> None:
    program = config(TIERED, "tiered")
    # The headline sells the top tier; the summary lists them all.
    assert offer_headline(program, "en") == "Refer 10 friends, get a free year of premium"
    assert program_summary(program, "en") == (
        "Advocates get €10 account credit at 1 qualified friend, €75 account credit at 5, and a "
        "free year of premium at 10 (then again for every 10 more), each released 30 days after "
        "the qualifying order. A friend qualifies with their first order. Friends must be new "
        "customers and order within 30 days of clicking the referral link."
    )


def test_tiered_other_languages() -> None:
    program = config(TIERED, "tiered")
    assert offer_headline(program, "it") == "Invita 10 amici, ricevi year of premium in omaggio"
    assert program_summary(program, "it") == (
        f"Chi invita riceve 10{NBSP}€ di credito sul conto con 1 amico presentato, 75{NBSP}€ di "
        "credito sul conto con 5 e year of premium in omaggio con 10 (poi di nuovo ogni 10 amici "
        "in più), con erogazione di ogni premio 30 giorni dopo l'ordine valido. Un amico viene "
        "conteggiato quando effettua il primo ordine. Gli amici devono essere nuovi clienti e "
        "ordinare entro 30 giorni dal clic sul link di invito."
    )
    assert offer_headline(program, "ro") == "Recomandă 10 prieteni, primește year of premium gratis"
    assert program_summary(program, "ro") == (
        f"Cine recomandă primește un credit de 10{NBSP}EUR în cont la 1 prieten recomandat, un "
        f"credit de 75{NBSP}EUR în cont la 5 și year of premium gratis la 10 (apoi din nou la "
        "fiecare 10 prieteni în plus), fiecare recompensă fiind acordată la 30 de zile după "
        "comanda validă. Un prieten se califică prin prima comandă. Prietenii trebuie să fie "
        "clienți noi și să comande în cel mult 30 de zile de la clicul pe linkul de recomandare."
    )
    assert offer_headline(program, "pl") == "Poleć 10 znajomych, odbierz year of premium gratis"
    assert program_summary(program, "pl") == (
        f"Polecający otrzymują 10{NBSP}€ środków na koncie za 1 poleconego znajomego, 75{NBSP}€ "
        "środków na koncie za 5 i year of premium gratis za 10 (a potem ponownie za każdych "
        "kolejnych 10 znajomych), a każda nagroda jest przyznawana 30 dni po kwalifikującym się "
        "zamówieniu. Znajomy jest liczony, gdy złoży pierwsze zamówienie. Znajomi muszą być "
        "nowymi klientami i złożyć zamówienie w ciągu 30 dni od kliknięcia linku polecającego."
    )


# --- Plurals ----------------------------------------------------------------------------------


def tier_of(threshold: int) -> ProgramConfig:
    reward = {"kind": "points", "points": threshold}
    return config({"tiers": [{"threshold": threshold, "reward": reward}]}, "tiered")


@pytest.mark.parametrize(
    ("count", "headline"),
    [
        (1, "Poleć 1 znajomego, odbierz 1 punkt"),
        (2, "Poleć 2 znajomych, odbierz 2 punkty"),
        (5, "Poleć 5 znajomych, odbierz 5 punktów"),
        (12, "Poleć 12 znajomych, odbierz 12 punktów"),
        (22, "Poleć 22 znajomych, odbierz 22 punkty"),
    ],
)
def test_polish_plural_forms(count: int, headline: str) -> None:
    assert offer_headline(tier_of(count), "pl") == headline


def test_polish_plural_forms_in_the_tier_list() -> None:
    for count, friends in [
        (1, "1 poleconego znajomego"),
        (2, "2 poleconych znajomych"),
        (5, "5 poleconych znajomych"),
    ]:
        assert f" za {friends}, " in program_summary(tier_of(count), "pl")


@pytest.mark.parametrize(
    ("count", "headline"),
    [
        (1, "Recomandă 1 prieten, primește 1 punct"),
        (2, "Recomandă 2 prieteni, primește 2 puncte"),
        (19, "Recomandă 19 prieteni, primește 19 puncte"),
        (20, "Recomandă 20 de prieteni, primește 20 de puncte"),
        (101, "Recomandă 101 prieteni, primește 101 puncte"),
    ],
)
def test_romanian_plural_forms(count: int, headline: str) -> None:
    assert offer_headline(tier_of(count), "ro") == headline


def test_day_plurals() -> None:
    program = config(
        {
            "advocate_reward": {"kind": "cash", "amount": 1000, "fulfilment": "manual"},
            "rules": {"hold_days": 1, "attribution_window_days": 1},
        },
        "one_sided",
    )
    assert program_summary(program, "en") == (
        "Advocates get €10 cash after each friend's first order, released 1 day after the "
        "order. Friends must be new customers and order within 1 day of clicking the referral "
        "link."
    )
    summary = program_summary(program, "pl")
    assert "przyznawana 1 dzień po zamówieniu" in summary
    assert "w ciągu 1 dnia od kliknięcia" in summary
    assert "la 1 zi după comandă" in program_summary(program, "ro")


# --- Reward phrases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "english"),
    [
        (RewardSpec("account_credit", "manual", amount=1000, currency="EUR"), "€10 account credit"),
        (RewardSpec("percent_discount", "manual", percent=15), "15% off"),
        (RewardSpec("fixed_discount", "manual", amount=1000, currency="EUR"), "a €10 discount"),
        (RewardSpec("fixed_discount", "manual", amount=800, currency="EUR"), "an €8 discount"),
        (RewardSpec("fixed_discount", "manual", amount=1850, currency="EUR"), "an €18.50 discount"),
        (RewardSpec("cash", "manual", amount=2000, currency="EUR"), "€20 cash"),
        (RewardSpec("points", "manual", points=500), "500 points"),
        (RewardSpec("points", "manual", points=1), "1 point"),
        (RewardSpec("points", "manual", points=12500), "12,500 points"),
        (RewardSpec("free_product", "manual", label="Coffee grinder"), "a free Coffee grinder"),
        (
            RewardSpec(
                "charity_donation", "manual", amount=500, currency="EUR", label="Save the Children"
            ),
            "a €5 donation to Save the Children",
        ),
    ],
)
def test_reward_phrase_english(spec: RewardSpec, english: str) -> None:
    assert reward_phrase(spec, "en") == english


def test_reward_phrase_translated() -> None:
    credit = RewardSpec("account_credit", "manual", amount=1000, currency="EUR")
    donation = RewardSpec(
        "charity_donation", "manual", amount=500, currency="EUR", label="Save the Children"
    )
    assert reward_phrase(credit, "it") == f"10{NBSP}€ di credito sul conto"
    assert reward_phrase(credit, "ro") == f"un credit de 10{NBSP}EUR în cont"
    assert reward_phrase(credit, "pl") == f"10{NBSP}€ środków na koncie"
    assert reward_phrase(donation, "it") == f"una donazione di 5{NBSP}€ a Save the Children"
    assert reward_phrase(donation, "ro") == f"o donație de 5{NBSP}EUR pentru Save the Children"
    assert reward_phrase(donation, "pl") == f"5{NBSP}€ darowizny na rzecz Save the Children"
    points = RewardSpec("points", "manual", points=12500)
    assert reward_phrase(points, "ro") == "12.500 de puncte"
    assert reward_phrase(points, "pl") == f"12{NBSP}500 punktów"


def test_reward_phrase_expiry_is_opt_in() -> None:
    spec = RewardSpec(
        "account_credit", "manual", amount=1000, currency="EUR", expires_after_days=90
    )
    assert reward_phrase(spec, "en") == "€10 account credit"
    assert reward_phrase(spec, "en", with_expiry=True) == "€10 account credit (valid for 90 days)"
    assert reward_phrase(spec, "it", with_expiry=True) == (
        f"10{NBSP}€ di credito sul conto (validità 90 giorni)"
    )
    assert reward_phrase(spec, "ro", with_expiry=True) == (
        f"un credit de 10{NBSP}EUR în cont (valabilitate 90 de zile)"
    )
    assert reward_phrase(spec, "pl", with_expiry=True) == (
        f"10{NBSP}€ środków na koncie (ważność 90 dni)"
    )
    one_day = RewardSpec("percent_discount", "manual", percent=10, expires_after_days=1)
    assert reward_phrase(one_day, "en", with_expiry=True) == "10% off (valid for 1 day)"
    assert reward_phrase(one_day, "pl", with_expiry=True) == "10% rabatu (ważność 1 dzień)"


# --- Other shapes -----------------------------------------------------------------------------


def test_same_kind_money_on_both_sides_drops_the_kind() -> None:
    program = config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "account_credit", "amount": 1000},
        },
        "two_sided",
    )
    assert offer_headline(program, "en") == "Give €10, get €10"
    assert offer_headline(program, "it") == f"Regala 10{NBSP}€, ricevi 10{NBSP}€"


def test_headline_short_forms() -> None:
    program = config(
        {
            "advocate_reward": {
                "kind": "charity_donation",
                "amount": 500,
                "label": "Save the Children",
            },
            "friend_reward": {"kind": "fixed_discount", "amount": 1000},
        },
        "two_sided",
    )
    assert offer_headline(program, "en") == "Give €10 off, get €5 to Save the Children"
    points = config({"advocate_reward": {"kind": "points", "points": 500}}, "one_sided")
    assert offer_headline(points, "en") == "Get 500 points for every friend you refer"


def test_a_single_repeating_tier_at_one_friend_reads_one_sided() -> None:
    program = config(
        {
            "tiers": [
                {
                    "threshold": 1,
                    "repeat": True,
                    "reward": {"kind": "account_credit", "amount": 1000},
                }
            ]
        },
        "tiered",
    )
    assert offer_headline(program, "en") == "Get €10 credit for every friend you refer"
    assert program_summary(program, "en").startswith(
        "Advocates get €10 account credit at 1 qualified friend (then again for every further "
        "friend), each released 30 days after the qualifying order."
    )


def test_tiered_with_friend_reward_and_minimum() -> None:
    program = config(
        {
            "tiers": [
                {"threshold": 3, "reward": {"kind": "cash", "amount": 1000, "fulfilment": "manual"}}
            ],
            "friend_reward": {"kind": "percent_discount", "percent": 10},
            "rules": {"min_order_amount": 1000, "first_purchase_only": False, "hold_days": 0},
        },
        "tiered",
    )
    assert offer_headline(program, "en") == "Give 10% off; refer 3 friends, get €10"
    assert program_summary(program, "en") == (
        "Advocates get €10 cash at 3 qualified friends, each released immediately; friends get "
        "10% off every qualifying order. A friend qualifies with any order of at least €10. "
        "Friends must be new customers and order within 30 days of clicking the referral link."
    )


def test_every_order_immediate_lifetime_cap_and_stop_budget() -> None:
    program = config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "account_credit", "amount": 1000, "expires_after_days": 60},
            "rules": {
                "hold_days": 0,
                "first_purchase_only": False,
                "new_customers_only": False,
                "max_rewards_per_advocate": 1,
                "max_rewards_period": "lifetime",
                "budget_amount": 50050,
                "budget_action": "stop_rewards",
            },
        },
        "two_sided",
    )
    assert program_summary(program, "en") == (
        "Advocates get €10 account credit for every order a friend places, released immediately; "
        "friends get €10 account credit with every qualifying order (valid for 60 days). Friends "
        "must order within 30 days of clicking the referral link. Limits: up to 1 reward per "
        "advocate in total; rewards stop once they total €500.50."
    )
    assert program_summary(program, "pl") == (
        f"Polecający otrzymują 10{NBSP}€ środków na koncie za każde zamówienie złożone przez "
        f"znajomego, a nagroda jest przyznawana od razu; znajomi otrzymują 10{NBSP}€ środków na "
        "koncie przy każdym kwalifikującym się zamówieniu (ważność 60 dni). Znajomi muszą złożyć "
        "zamówienie w ciągu 30 dni od kliknięcia linku polecającego. Limity: maksymalnie 1 "
        "nagroda łącznie na polecającego; nagrody przestają być przyznawane, gdy ich łączna "
        f"wartość osiągnie 500,50{NBSP}€."
    )


def test_minimum_order_with_only_percent_rewards_uses_the_currency_given() -> None:
    program = config(
        {
            "advocate_reward": {"kind": "percent_discount", "percent": 20},
            "rules": {"min_order_amount": 10000},
        },
        "one_sided",
    )
    assert program_summary(program, "pl", currency="PLN").startswith(
        f"Polecający otrzymują 20% rabatu za każdego znajomego, którego pierwsze zamówienie "
        f"wynosi co najmniej 100{NBSP}zł, "
    )
    with pytest.raises(ValueError, match="currency"):
        program_summary(program, "en")


def test_the_active_language_is_left_alone() -> None:
    program = config(TWO_SIDED, "two_sided")
    with translation.override("ro"):
        offer_headline(program, "pl")
        program_summary(program, "it")
        assert translation.get_language() == "ro"


def test_unknown_locale_falls_back_to_english() -> None:
    program = config(TWO_SIDED, "two_sided")
    assert offer_headline(program, "xx") == "Give 15% off, get €10 credit"
