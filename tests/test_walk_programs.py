"""The new merchant's walk through the program wizard and API (issue 12): per-language copy and
labels with a fallback, tiers added and removed without script, every error at once in merchant
words, long strings and links in terms, reported HTML removal, editable fraud settings, dates."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from programs.localized import localized_copy, localized_label, missing_translations
from programs.models import Program
from programs.services import program_config, program_create, program_update
from programs.specs import SpecError
from programs.summary import offer_headline, reward_phrase
from referral_saas import tenancy
from tests.conftest import World, make_key

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


# --- Finding 7: every error at once, in merchant words (services and API) --------------------


def test_locale_and_date_errors_are_in_merchant_words(world: World) -> None:
    errors = errors_of(
        world,
        locales=[],
        starts_at="2026-12-02T00:00:00Z",
        ends_at="2026-12-01T00:00:00Z",
    )
    assert errors["locales"] == "Choose at least one language: English, Italian, Romanian, Polish."
    assert errors["ends_at"] == "The end date must be after the start date."
    assert "starts_at" not in errors["ends_at"]
    unknown = errors_of(world, locales=["en", "xx"])["locales"]
    assert unknown.startswith("Unknown language 'xx': choose from English (en)")
    twice = errors_of(world, locales=["en", "it", "it"])["locales"]
    assert twice == "List each language once: Italian appears twice."
    default = errors_of(world, locales=["en", "it"], default_locale="pl")["default_locale"]
    assert default == (
        "The default language must be one of the program's languages (English, Italian)."
    )


def test_money_ranges_are_written_as_amounts_not_minor_units(world: World) -> None:
    errors = errors_of(world, rules={"budget_amount": 10**13, "min_order_amount": -5})
    assert errors["rules.budget_amount"] == "Enter an amount from €0.01 to €100,000,000."
    assert errors["rules.min_order_amount"] == "Enter an amount from €0 to €100,000,000."


def api_call(client: Any, method: str, path: str, key: str, body: Any) -> Any:
    return getattr(client, method)(
        path,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def test_api_lists_every_invalid_field_with_its_code(client: Any, world: World) -> None:
    key = make_key(world.acme).plaintext
    body = {**TIERED, "name": "", "locales": [], "ends_at": "not a date"}
    response = api_call(client, "post", "/api/v1/programs", key, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (error["errors"][0]["param"], "invalid")
    assert {(p["param"], p["code"]) for p in error["errors"]} == {
        ("name", "invalid"),
        ("locales", "invalid"),
        ("ends_at", "invalid"),
    }
    assert all(set(problem) == {"param", "message", "code"} for problem in error["errors"])


def test_drf_validation_errors_list_every_field(rf: Any) -> None:
    from rest_framework.exceptions import ValidationError

    from referral_saas.api.errors import exception_handler

    detail = {
        "email": ["Enter a valid email address."],
        "customer": {"id": ["This field is required."]},
        "items": [{}, {"amount": ["A valid integer is required."]}],
    }
    error = exception_handler(ValidationError(detail), {}).data["error"]
    assert (error["param"], error["message"]) == ("email", "Enter a valid email address.")
    assert [(p["param"], p["code"]) for p in error["errors"]] == [
        ("email", "invalid"),
        ("customer.id", "invalid"),
        ("items[1].amount", "invalid"),
    ]


# --- Finding 8: HTML removed from copy is reported ---------------------------------------------


def test_html_removed_from_copy_is_reported_in_the_api_response(client: Any, world: World) -> None:
    key = make_key(world.acme).plaintext
    body = {
        **TIERED,
        "copy": {
            "it": {"terms": "<b>Solo</b> ordini <script>alert(1)</script>pagati & spediti"},
            "en": {"headline": "Plain & simple"},
        },
    }
    response = api_call(client, "post", "/api/v1/programs", key, body)
    assert response.status_code == 201
    data = response.json()
    assert data["copy"]["it"]["terms"] == "Solo ordini pagati & spediti"
    assert data["copy"]["en"]["headline"] == "Plain & simple"
    assert data["warnings"] == [
        {
            "param": "copy.it.terms",
            "message": "We removed HTML from the terms (Italian): <b>, <script>. "
            "The page shows it as plain text.",
            "code": "html_removed",
        }
    ]
    fetched = client.get(
        f"/api/v1/programs/{data['id']}", HTTP_AUTHORIZATION=f"Bearer {key}"
    ).json()
    assert fetched["warnings"] == []


def test_labels_and_per_language_names_round_trip_through_the_api(
    client: Any, world: World
) -> None:
    key = make_key(world.acme).plaintext
    body = {**TIERED, "copy": {"it": {"name": "Club del caffè"}}}
    data = api_call(client, "post", "/api/v1/programs", key, body).json()
    assert data["tiers"][1]["reward"]["labels"] == {"it": "sacchetto della nostra miscela Roma"}
    assert data["copy"]["it"]["name"] == "Club del caffè"


# --- Dashboard: the wizard -------------------------------------------------------------------

from django.test import Client  # noqa: E402

from tests.test_program_dashboard import (  # noqa: E402
    basics,
    config_of,
    copy,
    create_draft,
    messages_of,
    reward,
    rules,
    text,
    tiers,
    url,
)


def test_add_tier_re_renders_with_one_more_row_and_keeps_what_was_typed(
    alice_client: Client, world: World
) -> None:
    program = create_draft(alice_client, world, "tiered")
    before = config_of(world.acme, program)
    data = tiers(
        {"threshold": 1, "kind": "account_credit", "amount": "10"},
        {"threshold": 5, "kind": "account_credit", "amount": "75"},
    )
    data["tiers-1-amount"] = "80"  # typed, not saved
    response = alice_client.post(
        url("program_edit_rewards", world.acme, program), {**data, "tier_add": "1"}
    )
    assert response.status_code == 200
    formset = response.context["tier_formset"]
    assert formset.total_form_count() == 3
    assert formset.forms[1]["amount"].value() == "80"
    assert formset.forms[2]["threshold"].value() in (None, "")
    assert 'name="tiers-2-threshold"' in text(response)
    assert "Tier added. Save to keep it." in text(response)
    assert config_of(world.acme, program) == before  # nothing saved


def test_remove_tier_renumbers_the_rows_and_saving_keeps_the_rest(
    alice_client: Client, world: World
) -> None:
    program = create_draft(alice_client, world, "tiered")
    data = tiers(
        {"threshold": 1, "kind": "account_credit", "amount": "10"},
        {"threshold": 3, "kind": "account_credit", "amount": "30"},
        {"threshold": 5, "kind": "account_credit", "amount": "75"},
    )
    response = alice_client.post(
        url("program_edit_rewards", world.acme, program), {**data, "tier_remove": "1"}
    )
    assert response.status_code == 200
    formset = response.context["tier_formset"]
    assert [form["threshold"].value() for form in formset.forms] == ["1", "5"]
    assert 'name="tier_remove" value="1"' in text(response)
    assert [t["threshold"] for t in config_of(world.acme, program)["tiers"]] == [1, 5]  # default

    # when the merchant saves the re-rendered rows
    posted = {
        key: value
        for key, value in response.context["tier_formset"].data.items()
        if key.startswith("tiers-")
    }
    saved = alice_client.post(url("program_edit_rewards", world.acme, program), posted)
    assert saved.status_code == 302
    assert [
        (t["threshold"], t["reward"]["amount"]) for t in config_of(world.acme, program)["tiers"]
    ] == [(1, 1000), (5, 7500)]


def test_the_rewards_step_shows_form_and_service_errors_at_once(
    alice_client: Client, world: World
) -> None:
    program = create_draft(alice_client, world, "two_sided")
    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        {
            **reward("advocate", "account_credit", amount="10.555"),
            **reward("friend", "percent_discount", percent="101"),
        },
    )
    assert response.status_code == 400
    assert response.context["advocate_form"].errors == {
        "amount": ["EUR takes at most 2 decimal places."]
    }
    assert response.context["friend_form"].errors == {"percent": ["Must be between 1 and 100."]}


def test_the_basics_step_shows_form_and_service_errors_at_once(
    alice_client: Client, world: World
) -> None:
    response = alice_client.post(
        url("program_create", world.acme),
        basics(
            locales=[],
            starts_at="not a date",
            destination_url="https://evil.example.net/",
            allowed_domains="shop.example.com",
        ),
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"locales", "starts_at", "destination_url"}
    assert errors["locales"] == [
        "Choose at least one language: English, Italian, Romanian, Polish."
    ]


def test_end_before_start_reads_as_dates_in_the_wizard(alice_client: Client, world: World) -> None:
    response = alice_client.post(
        url("program_create", world.acme),
        basics(starts_at="2026-12-02T10:00", ends_at="2026-12-01T10:00"),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["ends_at"] == [
        "The end date must be after the start date."
    ]


def test_reward_labels_per_language_in_the_wizard(alice_client: Client, world: World) -> None:
    program = create_draft(alice_client, world, "tiered")
    page = alice_client.get(url("program_edit_rewards", world.acme, program))
    assert 'name="tiers-0-label_it"' in text(page)
    assert 'name="tiers-0-label_en"' not in text(page)  # the default language is the label
    data = tiers(
        {"threshold": 1, "kind": "account_credit", "amount": "10"},
        {
            "threshold": 5,
            "kind": "free_product",
            "label": "bag of our Roma blend",
            "label_it": "sacchetto di miscela Roma",
            "label_pl": "",
        },
    )
    response = alice_client.post(url("program_edit_rewards", world.acme, program), data)
    assert response.status_code == 302
    spec = config_of(world.acme, program)["tiers"][1]["reward"]
    assert spec["labels"] == {"it": "sacchetto di miscela Roma"}
    again = alice_client.get(url("program_edit_rewards", world.acme, program))
    assert again.context["tier_formset"].forms[1]["label_it"].value() == (
        "sacchetto di miscela Roma"
    )


def test_fraud_settings_offered_are_editable(alice_client: Client, world: World) -> None:
    program = create_draft(alice_client, world, "two_sided")
    page = alice_client.get(url("program_edit_rules", world.acme, program))
    assert 'name="blocked_referring_domains"' in text(page)
    assert 'name="velocity_per_program_per_hour"' in text(page)
    response = alice_client.post(
        url("program_edit_rules", world.acme, program),
        rules(
            blocked_referring_domains="Coupons.example.net, deals.example.org",
            velocity_per_program_per_hour="40",
        ),
    )
    assert response.status_code == 302, response.context and response.context["form"].errors
    thresholds = config_of(world.acme, program)["fraud"]["thresholds"]
    assert thresholds["blocked_referring_domains"] == ["coupons.example.net", "deals.example.org"]
    assert thresholds["velocity_per_program_per_hour"] == 40
    # emptying the limit turns it off again
    response = alice_client.post(
        url("program_edit_rules", world.acme, program),
        rules(blocked_referring_domains="", velocity_per_program_per_hour=""),
    )
    thresholds = config_of(world.acme, program)["fraud"]["thresholds"]
    assert thresholds["velocity_per_program_per_hour"] is None
    assert thresholds["blocked_referring_domains"] == []
    bad = alice_client.post(
        url("program_edit_rules", world.acme, program),
        rules(blocked_referring_domains="not a domain!"),
    )
    assert bad.status_code == 400
    assert bad.context["form"].errors["blocked_referring_domains"]


def test_copy_step_reports_removed_html_and_saves_per_language_names(
    alice_client: Client, world: World
) -> None:
    program = create_draft(alice_client, world, "two_sided")
    response = alice_client.post(
        url("program_edit_copy", world.acme, program),
        copy(en_terms="<b>Only</b> paid orders", it_name="Primavera", pl_headline="Wiosna"),
        follow=True,
    )
    assert response.status_code == 200
    assert (
        "We removed HTML from the terms (English): <b>. The page shows it as plain text."
        in messages_of(response)
    )
    with tenancy.merchant_context(world.acme):
        assert localized_copy(program, "it").name == "Primavera"
        assert localized_copy(program, "en").terms == "Only paid orders"


def test_review_step_lists_what_is_missing_per_language(alice_client: Client, world: World) -> None:
    program = create_draft(alice_client, world, "two_sided", locales=["en", "it", "pl"])
    alice_client.post(
        url("program_edit_copy", world.acme, program),
        {
            **copy(en_headline="Spring", en_terms="Terms.", it_headline="Primavera"),
            "it_name": "Primavera",
        },
    )
    page = alice_client.get(url("program_detail", world.acme, program))
    body = text(page)
    assert "Italian: terms missing — the default language (English) text will be shown." in body
    assert (
        "Polish: name, headline, terms missing — the default language (English) text will be "
        "shown." in body
    )


# --- Finding 8: long strings, links in terms ----------------------------------------------------

from programs.richtext import linkify  # noqa: E402
from programs.services import program_activate  # noqa: E402


def test_linkify_links_only_http_urls_safely() -> None:
    html = linkify(
        "Full rules: https://shop.example.com/terms?a=1&b=2.\n"
        "Not links: javascript:alert(1) www.example.com data:text/html,x "
        '<script>alert(1)</script> "https://x.example/"><img src=x>'
    )
    assert (
        '<a href="https://shop.example.com/terms?a=1&amp;b=2" rel="nofollow noopener" '
        'target="_blank">https://shop.example.com/terms?a=1&amp;b=2</a>.<br>' in html
    )
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert html.count("<a ") == 2  # the second: https://x.example/ (quote ends it)
    assert 'href="https://x.example/"' in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs == ["https://shop.example.com/terms?a=1&amp;b=2", "https://x.example/"]


def test_landing_terms_fall_back_to_the_default_language_with_links(
    client: Client, world: World
) -> None:
    long_word = "x" * 5000
    program = create(
        world,
        copy={"en": {"terms": f"See https://shop.example.com/rules for details. {long_word}"}},
    )
    with tenancy.merchant_context(world.acme):
        program_activate(actor=world.alice, program=program)
    response = client.get(f"/p/acme/{program.slug}/?lang=pl")
    assert response.status_code == 200
    body = response.content.decode()
    assert (
        '<a href="https://shop.example.com/rules" rel="nofollow noopener" target="_blank">' in body
    )
    assert long_word in body


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_long_unbroken_text_never_widens_a_page(browser: Any, live_server: Any) -> None:
    from accounts.models import Merchant
    from tests.browser import MOBILE, PASSWORD
    from tests.factories import MerchantFactory, UserFactory, add_member

    merchant: Merchant = MerchantFactory(name="Acme Coffee Roasters", slug="acme")
    user = UserFactory(email="alice@example.com", password=PASSWORD)
    add_member(merchant, user, "owner")
    word = "Roma" * 30  # 120 characters, the longest name
    with tenancy.merchant_context(merchant):
        program = program_create(
            actor=user,
            data={
                **TIERED,
                "name": word,
                "copy": {"en": {"terms": "T" * 9000, "description": "D" * 1900}},
            },
        )
        program_activate(actor=user, program=program)
    context = browser.new_context(viewport=MOBILE)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/p/acme/{program.slug}/")
        assert page.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill("alice@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url("**/m/acme/", timeout=10_000)
        for path in ("", "edit/copy/", "edit/rewards/"):
            page.goto(f"{live_server.url}/m/acme/programs/{program.public_id}/{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= MOBILE["width"], (path, width)
    finally:
        context.close()


# --- Finding 13 (part): dates in the wizard as the page shows them --------------------------


def test_date_inputs_show_the_saved_time_as_the_program_page_does(
    alice_client: Client, world: World
) -> None:
    program = create_draft(
        alice_client, world, "two_sided", starts_at="2026-12-01T10:00", ends_at="2027-01-31T18:30"
    )
    page = alice_client.get(url("program_edit_basics", world.acme, program))
    body = text(page)
    assert 'type="datetime-local" name="starts_at" value="2026-12-01T10:00"' in body
    assert "Saved: 1 Dec 2026 10:00 UTC." in body
    assert "Saved: 31 Jan 2027 18:30 UTC." in body
    detail = text(alice_client.get(url("program_detail", world.acme, program)))
    assert "from 1 Dec 2026 10:00 UTC until 31 Jan 2027 18:30 UTC" in detail


@pytest.mark.parametrize(("currency", "step"), [("EUR", "0.01"), ("JPY", "1"), ("KWD", "0.001")])
def test_money_inputs_name_their_currency_and_step_by_its_minor_unit(
    currency: str, step: str
) -> None:
    from programs.forms import RewardFields, RulesForm

    rules = RulesForm(currency=currency)
    reward = RewardFields(currency=currency)

    for field in (rules["min_order_amount"], rules["budget_amount"], reward["amount"]):
        assert f"({currency})" in str(field.label)
        assert f'step="{step}"' in str(field)
