"""Commissions in the dashboard's program wizard (issue 16): the rewards step edits a share of
the order with its cap and its recurring months, keeps them on a save that changes nothing,
names the field of a bad value without losing what was typed, and the live preview describes
the commission in each of the program's languages, as the friend's page offers a friend's."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from hosted.offer import friend_offer
from programs.forms import RewardFields
from programs.models import Program
from programs.specs import parse_config
from tests.conftest import World
from tests.factories import make_program
from tests.test_program_dashboard import config_of, reward, text, url

pytestmark = pytest.mark.django_db

COMMISSION = {"kind": "cash", "percent": 10, "max_amount": 5000, "recurring_months": 12}


def commission_program(world: World) -> Program:
    return make_program(world.acme, type="one_sided", status="draft", slug="share")


def commission_post(**values: Any) -> dict[str, Any]:
    fields = {"value_type": "percent", "percent": "10", "max_amount": "50"}
    fields.update(recurring_months="12", fulfilment="payout", code_length="")
    return reward("advocate", "cash", **{**fields, **values})


def shown_values(form: RewardFields) -> dict[str, Any]:
    """What the rewards page shows in each advocate field, posted back unchanged."""
    values = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value not in (None, "", False):
            values[form.add_prefix(name)] = field.widget.format_value(value) or value
    return values


def test_a_commission_is_saved_and_round_trips_through_the_wizard(
    alice_client: Client, world: World
) -> None:
    program = commission_program(world)
    step = url("program_edit_rewards", world.acme, program)

    saved = alice_client.post(step, commission_post())

    assert saved.status_code == 302, saved.context and saved.context["advocate_form"].errors
    stored = config_of(world.acme, program)["advocate_reward"]
    assert {key: stored.get(key) for key in (*COMMISSION, "amount")} == {
        **COMMISSION,
        "amount": None,
    }

    # given the page as the merchant sees it, when saved unchanged, then nothing is lost
    page = alice_client.get(step)
    form = page.context["advocate_form"]
    assert (form["value_type"].value(), form["max_amount"].value()) == ("percent", 50)
    # every field of a spec is either shown by the form or carried from the stored spec
    assert set(stored) <= form.owned_keys() | {"recurring_months"}
    again = alice_client.post(step, shown_values(form))

    assert again.status_code == 302
    assert config_of(world.acme, program)["advocate_reward"] == stored


def test_a_spec_field_the_form_does_not_show_is_carried(world: World) -> None:
    form = RewardFields(
        {"a-kind": "cash", "a-value_type": "percent", "a-percent": "12", "a-fulfilment": "payout"},
        prefix="a",
        recurs=False,  # a friend's reward: no recurring months field
        initial={"stored_spec": {**COMMISSION, "fulfilment": "payout", "future_key": 3}},
    )

    assert form.is_valid(), form.errors
    assert form.to_spec() == {
        "kind": "cash",
        "fulfilment": "payout",
        "percent": 12,
        "recurring_months": 12,  # not shown here: kept as stored (the service judges it)
        "future_key": 3,
    }


def test_bad_commission_values_name_their_fields_and_keep_what_was_typed(
    alice_client: Client, world: World
) -> None:
    program = commission_program(world)
    before = config_of(world.acme, program)

    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        commission_post(max_amount="10.555", recurring_months="0"),
    )

    assert response.status_code == 400
    assert response.context["advocate_form"].errors == {
        "max_amount": ["EUR takes at most 2 decimal places."],
        "recurring_months": ["A whole number of months, from 1 to 120."],
    }
    html = text(response)
    cap = html.split('data-field="advocate-max_amount"')[1].split('data-field="advocate-')[0]
    assert "Up to (EUR)" in cap
    assert "EUR takes at most 2 decimal places." in cap
    assert 'value="10.555"' in cap
    months = html.split('data-field="advocate-recurring_months"')[1]
    assert "Pays again on a subscription" in months.split("</div>")[0]
    assert "A whole number of months, from 1 to 120." in months
    assert 'value="0"' in months
    assert 'value="percent" selected' in html
    assert config_of(world.acme, program) == before


def test_the_preview_describes_the_commission_in_every_language(
    alice_client: Client, world: World
) -> None:
    program = commission_program(world)
    saved = alice_client.post(url("program_edit_rewards", world.acme, program), commission_post())
    assert saved.status_code == 302
    preview = url("program_preview", world.acme, program)

    headlines = {
        lang: text(alice_client.get(f"{preview}?lang={lang}")) for lang in ("en", "it", "ro", "pl")
    }

    assert (
        "Get 10% of each order in cash, up to €50, and of each renewal for 12 months "
        "for every friend you refer" in headlines["en"]
    )
    assert (
        "10% di ogni ordine in denaro, fino a 50 €, e di ogni rinnovo per 12 mesi"
        in (headlines["it"])
    )
    assert (
        "10% din fiecare comandă în numerar, până la 50 EUR, și din fiecare reînnoire "
        "timp de 12 luni" in headlines["ro"]
    )
    assert (
        "10% każdego zamówienia w gotówce, maksymalnie 50 € oraz każdego odnowienia przez "
        "12 miesięcy" in headlines["pl"]
    )


def test_a_friends_commission_is_offered_in_their_words_in_every_language() -> None:
    spec = parse_config(
        {
            "advocate_reward": {"kind": "account_credit", "amount": 1000},
            "friend_reward": {"kind": "cash", "percent": 10, "max_amount": 5000},
        },
        program_type="two_sided",
        currency="EUR",
        stripe_connected=False,
    ).friend_reward
    assert spec is not None
    credit = replace(spec, kind="account_credit", max_amount=None, currency=None)

    offers = {}
    for lang in ("en", "it", "ro", "pl"):
        with translation.override(lang):
            offers[lang] = friend_offer(spec, lang).replace("\xa0", " ")
    with translation.override("pl"):
        in_credit = friend_offer(credit, "pl", first_order=False)

    assert offers == {
        "en": "Get 10% back on your first order, up to €50",
        "it": "Ricevi il 10% di rimborso sul tuo primo ordine, fino a 50 €",
        "ro": "Primești înapoi 10% din prima ta comandă, până la 50 EUR",
        "pl": "Odbierz 10% zwrotu za pierwsze zamówienie, maksymalnie 50 €",
    }
    assert in_credit == "Odbierz 10% zamówienia w kredycie"
