"""The new merchant's walk through the program wizard and API (issue 12): per-language copy and
labels with a fallback, tiers added and removed without script, every error at once in merchant
words, long strings and links in terms, reported HTML removal, editable fraud settings, dates."""

from __future__ import annotations

from typing import Any

import pytest

from programs.localized import localized_copy, localized_label, missing_translations
from programs.models import Program
from programs.services import program_config, program_create, program_update
from programs.specs import SpecError
from programs.summary import offer_headline, reward_phrase
from referral_saas import tenancy
from tests.conftest import World

TIERED: dict[str, Any] = {
    "name": "Coffee club",
    "type": "tiered",
    "currency": "EUR",
    "locales": ["en", "it", "pl"],
    "default_locale": "en",
    "destination_url": "https://shop.example.com/",
    "allowed_domains": ["shop.example.com"],
    "tiers": [
        {"threshold": 1, "reward": {"kind": "account_credit", "amount": 1000}},
        {
            "threshold": 5,
            "reward": {
                "kind": "free_product",
                "label": "bag of our Roma blend",
                "labels": {"it": "sacchetto della nostra miscela Roma"},
            },
        },
    ],
}


def create(world: World, **overrides: Any) -> Program:
    with tenancy.merchant_context(world.acme):
        return program_create(actor=world.alice, data={**TIERED, **overrides})


def errors_of(world: World, **overrides: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        create(world, **overrides)
    return caught.value.errors


# --- Finding 3: per-language copy, name and labels ------------------------------------------


def test_a_label_is_shown_in_the_page_language_with_the_default_as_fallback(world: World) -> None:
    program = create(world)
    with tenancy.merchant_context(world.acme):
        spec = program_config(program).tiers[1].reward
    assert spec.labels == {"it": "sacchetto della nostra miscela Roma"}
    assert localized_label(spec, "it") == "sacchetto della nostra miscela Roma"
    assert localized_label(spec, "pl") == "bag of our Roma blend"
    with tenancy.merchant_context(world.acme):
        config = program_config(program)
    assert "Roma blend" not in offer_headline(config, "it")
    assert "miscela Roma" in reward_phrase(spec, "it")
    assert "bag of our Roma blend" in reward_phrase(spec, "en")


def test_labels_name_each_bad_language_by_its_path(world: World) -> None:
    tiers = [
        {
            "threshold": 1,
            "reward": {
                "kind": "free_product",
                "label": "a mug",
                "labels": {"ro": "o cană", "it": 5},
            },
        }
    ]
    errors = errors_of(world, tiers=tiers)
    assert set(errors) == {"tiers[0].reward.labels.ro", "tiers[0].reward.labels.it"}
    assert "English, Italian, Polish" in errors["tiers[0].reward.labels.ro"]


def test_labels_only_on_labelled_kinds(world: World) -> None:
    tiers = [
        {
            "threshold": 1,
            "reward": {"kind": "account_credit", "amount": 500, "labels": {"it": "credito"}},
        }
    ]
    assert "tiers[0].reward.labels" in errors_of(world, tiers=tiers)


def test_stored_configuration_without_labels_is_unchanged(world: World) -> None:
    program = create(world, tiers=[TIERED["tiers"][0]])
    with tenancy.merchant_context(world.acme):
        config = program_config(program).to_dict()
    assert "labels" not in config["tiers"][0]["reward"]


def test_copy_falls_back_to_the_default_language_per_field(world: World) -> None:
    copy = {
        "en": {"headline": "Share the coffee", "terms": "Terms in English."},
        "it": {"name": "Club del caffè", "headline": "Condividi il caffè"},
    }
    program = create(world, copy=copy)
    with tenancy.merchant_context(world.acme):
        italian = localized_copy(program, "it")
        polish = localized_copy(program, "pl")
        english = localized_copy(program, "en")
        missing = missing_translations(program, program_config(program))
    assert (italian.name, italian.headline, italian.terms) == (
        "Club del caffè",
        "Condividi il caffè",
        "Terms in English.",
    )
    assert italian.fallbacks == {"terms"}
    assert polish.name == "Coffee club"
    assert polish.fallbacks == {"name", "headline", "terms"}
    assert english.fallbacks == frozenset()
    assert [(m.locale, m.fields) for m in missing] == [
        ("it", ("terms",)),
        ("pl", ("name", "headline", "terms", "tier 2 reward label")),
    ]
    assert missing[1].message == (
        "Polish: name, headline, terms, tier 2 reward label missing — the default language "
        "(English) text will be shown."
    )


def test_a_per_language_name_is_saved_and_returned(world: World) -> None:
    program = create(world)
    with tenancy.merchant_context(world.acme):
        program_update(
            actor=world.alice, program=program, data={"copy": {"pl": {"name": "Klub kawy"}}}
        )
        assert localized_copy(program, "pl").name == "Klub kawy"
