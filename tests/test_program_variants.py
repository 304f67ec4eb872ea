"""A/B variants in the dashboard: the editor, its errors next to their fields, versions, roles,
the per-variant preview and the program page's list.

Every variant is judged by `programs.services.program_update` (the API's code); these tests check
that the editor sends it the right list, puts each refusal next to the field at fault and saves
nothing then.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from accounts.models import Merchant
from programs import services
from programs.dashboard import variant_shares
from programs.models import Program, ProgramVersion
from programs.specs import RewardSpec, Variant
from programs.summary import offer_headline
from referral_saas import tenancy
from tests.browser import DESKTOP, MOBILE, shot
from tests.conftest import World, login
from tests.factories import make_program
from tests.test_browser_programs import owner, sign_in
from tests.test_program_dashboard import audit_actions, copy, messages_of, reward, text, url

pytestmark = pytest.mark.django_db

__all__ = ["owner"]  # a fixture shared with the browser tests of the wizard

LOCALES = ["en", "it", "ro", "pl"]
CREDIT_15 = {"kind": "account_credit", "amount": "15"}


# --- Helpers ---------------------------------------------------------------------------------


def variants(*rows: dict[str, Any], total: int = 5) -> dict[str, Any]:
    """The editor's POST: `rows` filled in, the rest of the five rows left empty. A row may hold
    `advocate` / `friend` (reward values; ticks the override), `delete`, and copy fields such as
    `it_headline`."""
    data: dict[str, Any] = {
        "variants-TOTAL_FORMS": str(total),
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "5",
    }
    for index in range(total):
        row = dict(rows[index]) if index < len(rows) else {}
        prefix = f"variants-{index}"
        for side in ("advocate", "friend"):
            values = row.pop(side, None)
            data.update(reward(f"{prefix}-{side}", **(values or {})))
            if values is not None:
                data[f"{prefix}-{side}_override"] = "on"
        if row.pop("delete", False):
            data[f"{prefix}-DELETE"] = "on"
        fields: dict[str, Any] = {"key": "", "name": "", "weight": ""}
        fields.update(
            {f"{loc}_{key}": "" for loc in LOCALES for key in ("headline", "description")}
        )
        fields.update({key: str(value) for key, value in row.items()})
        data.update({f"{prefix}-{key}": value for key, value in fields.items()})
    return data


def variants_of(merchant: Merchant, program: Program) -> tuple[Variant, ...]:
    with tenancy.merchant_context(merchant):
        program.refresh_from_db()
        return services.program_config(program).variants


def stored_config(merchant: Merchant, program: Program) -> dict[str, Any]:
    with tenancy.merchant_context(merchant):
        program.refresh_from_db()
        return ProgramVersion.objects.get(program=program, number=program.version).config


def error_next_to(response: Any, field: str, message: str) -> bool:
    """The message is rendered in the error list of the field named `field` (its html name)."""
    return f'id="id_{field}_error"><li>{escape(message)}</li>' in response.content.decode()


def save(client: Client, world: World, program: Program, *rows: dict[str, Any]) -> Any:
    return client.post(url("program_edit_variants", world.acme, program), variants(*rows))


TWO = (
    {"key": "a", "name": "Control", "weight": 30},
    {
        "key": "b",
        "name": "Richer advocate",
        "weight": 70,
        "advocate": CREDIT_15,
        "it_headline": "Regala 10 €, ricevi 15 €",
        "it_description": "Per un mese soltanto.",
    },
)


# --- Saving ------------------------------------------------------------------------------------


def test_save_two_variants_with_an_offer_override_and_italian_copy(
    alice_client: Client, world: World
) -> None:
    program = make_program(world.acme, status="draft")

    response = save(alice_client, world, program, *TWO)

    assert response.status_code == 302, response.context and response.context["formset"].errors
    assert response["Location"] == url("program_detail", world.acme, program)
    credit = RewardSpec(
        kind="account_credit", fulfilment="generated_code", amount=1500, currency="EUR"
    )
    assert variants_of(world.acme, program) == (
        Variant(key="a", name="Control", weight=30),
        Variant(
            key="b",
            name="Richer advocate",
            weight=70,
            advocate_reward=credit,
            copy={
                "it": {
                    "headline": "Regala 10 €, ricevi 15 €",
                    "description": "Per un mese soltanto.",
                }
            },
        ),
    )
    assert program.version == 1  # a draft is edited in place
    assert audit_actions(world.acme) == ["program.updated"]

    detail = alice_client.get(url("program_detail", world.acme, program))
    assert messages_of(detail) == ["2 variants saved."]
    rows = detail.context["variants"]
    assert [(r["variant"].key, r["share"]) for r in rows] == [("a", "30%"), ("b", "70%")]
    assert rows[0]["changes"] == ["Nothing: the program's offer and copy (a control)"]
    assert rows[1]["changes"] == ["Advocate: €15 account credit", "Own copy in IT"]
    assert rows[1]["headline"] == "Give €10 off, get €15 credit"
    page = text(detail)
    assert "data-share>70%</span>" in page
    assert 'value="70" max="100"' in page  # the split bar

    # the editor shows what is stored, with the split
    editor = alice_client.get(url("program_edit_variants", world.acme, program))
    assert [share for _form, share in editor.context["rows"]] == ["30%", "70%", "", "", ""]
    second = editor.context["formset"].forms[1]
    assert second["advocate_override"].value() is True
    assert str(second.advocate["amount"].value()) == "15"
    assert second["it_headline"].value() == "Regala 10 €, ricevi 15 €"


def test_split_is_weights_as_shares_of_their_sum() -> None:
    assert variant_shares([1, 2]) == ["33.3%", "66.7%"]
    assert variant_shares([50, 50, None]) == ["50%", "50%", ""]
    assert variant_shares([0, 0]) == ["–", "–"]  # noqa: RUF001


def test_removed_and_empty_rows_are_not_sent(alice_client: Client, world: World) -> None:
    program = make_program(world.acme, status="draft")
    response = save(
        alice_client,
        world,
        program,
        {"key": "a", "weight": 1},
        {"key": "gone", "weight": 5, "delete": True},
        {},
        {"key": "c", "weight": 1},
    )
    assert response.status_code == 302
    assert [(v.key, v.name, v.weight) for v in variants_of(world.acme, program)] == [
        ("a", "a", 1),
        ("c", "c", 1),
    ]


def test_headline_with_markup_is_stored_as_plain_text(alice_client: Client, world: World) -> None:
    program = make_program(world.acme, status="draft")
    response = save(
        alice_client,
        world,
        program,
        {"key": "a", "weight": 50},
        {"key": "b", "weight": 50, "it_headline": "<b>Porta</b> un <script>alert(1)</script>amico"},
    )
    assert response.status_code == 302
    assert variants_of(world.acme, program)[1].copy == {"it": {"headline": "Porta un amico"}}


# --- Refusals: the message next to the field, nothing saved -------------------------------------


REFUSALS = [
    pytest.param(
        "two_sided",
        ({"key": "a", "weight": 50}, {"key": "A", "weight": 50}),
        "variants-1-key",
        "Variant key 'a' is used twice.",
        id="duplicate key",
    ),
    pytest.param(
        "two_sided",
        ({"key": "a", "weight": 0}, {"key": "b", "weight": 0}),
        None,
        "At least one variant needs a weight above 0.",
        id="all weights 0",
    ),
    pytest.param(
        "two_sided",
        ({"key": "solo", "weight": 100},),
        None,
        "Give 2 to 5 variants (or none).",
        id="one variant only",
    ),
    pytest.param(
        "one_sided",
        ({"key": "a", "weight": 50}, {"key": "b", "weight": 50, "friend": CREDIT_15}),
        "variants-1-friend-kind",
        "A one-sided program has no friend reward to vary.",
        id="friend override on a one-sided program",
    ),
    pytest.param(
        "two_sided",
        ({"key": "a", "weight": 150}, {"key": "b", "weight": 50}),
        "variants-0-weight",
        "Must be between 0 and 100.",
        id="weight over 100",
    ),
    pytest.param(
        "two_sided",
        ({"key": "a", "weight": 50}, {"key": "b", "weight": 50, "advocate": {"kind": "cash"}}),
        "variants-1-advocate-amount",
        "This field is required.",
        id="advocate override without an amount",
    ),
    pytest.param(
        "two_sided",
        ({"key": "a", "weight": 50}, {"key": "b", "weight": 50, "it_headline": "x" * 201}),
        "variants-1-it_headline",
        "At most 200 characters.",
        id="italian headline too long",
    ),
    pytest.param(
        "two_sided",
        ({"key": "Not ok!", "weight": 50}, {"key": "b", "weight": 50}),
        "variants-0-key",
        "Lowercase letters, digits, - and _ (up to 30).",
        id="key with spaces",
    ),
]


@pytest.mark.parametrize(("program_type", "rows", "field", "message"), REFUSALS)
def test_refusals_are_shown_next_to_the_field_and_save_nothing(
    alice_client: Client,
    world: World,
    program_type: str,
    rows: tuple[dict[str, Any], ...],
    field: str | None,
    message: str,
) -> None:
    program = make_program(world.acme, type=program_type)
    before = stored_config(world.acme, program)

    response = save(alice_client, world, program, *rows)

    assert response.status_code == 400
    if field is None:  # about the list as a whole: shown above it
        assert response.context["list_errors"].non_field_errors() == [message]
        assert f"<p>{escape(message)}</p>" in text(response).split("data-variants-errors")[1]
    else:
        assert error_next_to(response, field, message), text(response)
    assert response.context["step_errors"].non_field_errors() == []  # nothing left unplaced
    assert stored_config(world.acme, program) == before
    assert program.version == 1
    assert audit_actions(world.acme) == []


def test_friend_override_on_one_sided_program_is_offered_only_when_sent(
    alice_client: Client, world: World
) -> None:
    program = make_program(world.acme, type="one_sided")
    page = text(alice_client.get(url("program_edit_variants", world.acme, program)))
    assert "Change the advocate reward" in page
    assert "Change the friend reward" not in page
    tiered = make_program(world.acme, type="tiered", slug="ladder")
    page = text(alice_client.get(url("program_edit_variants", world.acme, tiered)))
    assert "Change the advocate reward" not in page  # tiers vary through versions
    assert "Change the friend reward" in page


def test_amount_with_too_many_decimals_is_refused_before_the_service(
    alice_client: Client, world: World
) -> None:
    program = make_program(world.acme, status="draft")
    before = stored_config(world.acme, program)
    response = save(
        alice_client,
        world,
        program,
        {"key": "a", "weight": 50},
        {"key": "b", "weight": 50, "advocate": {"kind": "cash", "amount": "1.005"}},
    )
    assert response.status_code == 400
    assert error_next_to(
        response, "variants-1-advocate-amount", "EUR takes at most 2 decimal places."
    )
    assert stored_config(world.acme, program) == before


# --- Turning off, versions -----------------------------------------------------------------------


def test_turning_ab_testing_off_saves_no_variants(alice_client: Client, world: World) -> None:
    program = make_program(world.acme, status="draft")
    save(alice_client, world, program, *TWO)
    assert len(variants_of(world.acme, program)) == 2

    response = alice_client.post(
        url("program_edit_variants", world.acme, program), {"turn_off": "1"}, follow=True
    )

    assert response.redirect_chain == [(url("program_detail", world.acme, program), 302)]
    assert messages_of(response)[-1] == "A/B testing is off."
    assert variants_of(world.acme, program) == ()
    assert response.context["variants"] == []
    assert "A/B testing is off" in text(response)


def test_saving_on_an_active_program_adds_a_version(alice_client: Client, world: World) -> None:
    program = make_program(world.acme)  # active
    editor = alice_client.get(url("program_edit_variants", world.acme, program))
    assert "Saving creates version 2 of this program" in text(editor)
    assert "Advocates keep the variant they were assigned" in text(editor)

    response = save(alice_client, world, program, *TWO)

    assert response.status_code == 302
    program.refresh_from_db()
    assert program.version == 2
    with tenancy.merchant_context(world.acme):
        first = ProgramVersion.objects.get(program=program, number=1)
    assert first.config["variants"] == []  # earlier advocates' version is untouched
    assert [v.key for v in variants_of(world.acme, program)] == ["a", "b"]
    # the same list again changes nothing, so no new version
    save(alice_client, world, program, *TWO)
    program.refresh_from_db()
    assert program.version == 2


def test_draft_editor_has_no_version_note_and_suggests_an_even_split(
    alice_client: Client, world: World
) -> None:
    program = make_program(world.acme, status="draft")
    response = alice_client.get(url("program_edit_variants", world.acme, program))
    assert response.status_code == 200
    assert "data-version-note" not in text(response)
    assert "Turn A/B testing off" not in text(response)
    forms = response.context["formset"].forms
    assert [(f["key"].value(), f["weight"].value()) for f in forms[:3]] == [
        ("a", 50),
        ("b", 50),
        (None, None),
    ]
    assert [f.is_empty_row() for f in forms] == [False, False, True, True, True]


def test_archived_program_variants_cannot_be_edited(alice_client: Client, world: World) -> None:
    program = make_program(world.acme, status="archived")
    response = alice_client.post(
        url("program_edit_variants", world.acme, program), variants(*TWO), follow=True
    )
    assert response.redirect_chain == [(url("program_detail", world.acme, program), 302)]
    assert messages_of(response) == ["An archived program cannot be edited; duplicate it instead."]
    assert variants_of(world.acme, program) == ()


# --- Roles -------------------------------------------------------------------------------------


def test_viewer_reads_variants_on_the_program_page_but_cannot_edit(
    client: Client, world: World
) -> None:
    program = make_program(world.acme, status="draft")
    login(client, world.alice)
    save(client, world, program, *TWO)
    before = stored_config(world.acme, program)
    events = audit_actions(world.acme)
    login(client, world.bob)

    editor = url("program_edit_variants", world.acme, program)
    assert client.get(editor).status_code == 403
    assert (
        client.post(
            editor, variants({"key": "x", "weight": 1}, {"key": "y", "weight": 1})
        ).status_code
        == 403
    )
    assert client.post(editor, {"turn_off": "1"}).status_code == 403

    detail = client.get(url("program_detail", world.acme, program))
    assert [r["share"] for r in detail.context["variants"]] == ["30%", "70%"]
    assert editor not in text(detail)  # no edit link for a viewer
    assert stored_config(world.acme, program) == before
    assert audit_actions(world.acme) == events


def test_outsider_gets_404(client: Client, world: World) -> None:
    program = make_program(world.acme, status="draft")
    login(client, world.charlie)
    editor = url("program_edit_variants", world.acme, program)
    assert client.get(editor).status_code == 404
    assert client.post(editor, variants(*TWO)).status_code == 404
    assert client.get(url("program_preview", world.acme, program) + "?variant=b").status_code == 404
    assert variants_of(world.acme, program) == ()


# --- Preview -----------------------------------------------------------------------------------


def test_preview_renders_a_variants_copy_and_offer(alice_client: Client, world: World) -> None:
    program = make_program(world.acme, status="draft")
    alice_client.post(
        url("program_edit_copy", world.acme, program),
        copy(en_headline="Share the coffee", en_description="Our beans, your friends."),
    )
    save(
        alice_client,
        world,
        program,
        {"key": "a", "weight": 50, "en_description": "Only this week."},
        *TWO[1:],
    )
    preview = url("program_preview", world.acme, program)

    italian_b = text(alice_client.get(preview + "?variant=b&lang=it"))
    assert (
        '<h1 class="landing-headline" id="offer" data-headline>Regala 10 €, ricevi 15 €</h1>'
        in italian_b
    )
    assert "Per un mese soltanto." in italian_b
    assert "Richer advocate" in italian_b  # named on the preview ribbon
    assert "?lang=pl&amp;variant=b" in italian_b  # its language links keep the variant

    # English has no copy of its own: b changes the offer, so its headline is written from it
    with tenancy.merchant_context(world.acme):
        config = services.program_config(program)
    offer = dataclasses.replace(config, advocate_reward=config.variants[1].advocate_reward)
    english_b = text(alice_client.get(preview + "?variant=b&lang=en"))
    assert f"data-headline>{offer_headline(offer, 'en')}</h1>" in english_b
    assert offer_headline(offer, "en") == "Give €10 off, get €15 credit"
    assert "Our beans, your friends." in english_b  # the program's description still applies

    # a copy-only variant keeps the program's headline; an unknown key is the base page
    english_a = text(alice_client.get(preview + "?variant=a&lang=en"))
    assert "data-headline>Share the coffee</h1>" in english_a
    assert "Only this week." in english_a
    unknown = text(alice_client.get(preview + "?variant=zzz&lang=en"))
    assert "data-headline>Share the coffee</h1>" in unknown
    assert "Our beans, your friends." in unknown
    assert "<script" not in italian_b
    assert "style=" not in italian_b


def test_program_page_offers_a_variant_switcher_next_to_the_languages(
    alice_client: Client, world: World
) -> None:
    program = make_program(world.acme, status="draft")
    detail = text(alice_client.get(url("program_detail", world.acme, program)))
    assert "Preview variant" not in detail  # no variants, no switcher
    save(alice_client, world, program, *TWO)

    detail = text(alice_client.get(url("program_detail", world.acme, program)))

    preview = url("program_preview", world.acme, program)
    assert 'aria-label="Preview variant"' in detail
    assert f'href="{preview}?lang=en&amp;variant=b"' in detail
    assert f'data-preview-base="{preview}"' in detail
    assert f'src="{preview}?lang=en"' in detail
    assert url("program_edit_variants", world.acme, program) in detail


# --- In a real browser ---------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_add_two_variants_and_preview_b_in_italian(
    browser: Any, live_server: Any, owner: Merchant
) -> None:
    for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        program = make_program(owner, name="Give 10, get 10", slug=f"give-{label}", status="draft")
        base = f"{live_server.url}/m/acme/programs/{program.public_id}/"
        context, page, console_errors = sign_in(browser, live_server, viewport)
        page.goto(f"{base}edit/variants/")
        # two rows suggested, the spare ones behind "Add a variant"
        rows = page.locator("fieldset[data-variant]")
        assert [rows.nth(i).is_visible() for i in range(5)] == [True, True, False, False, False]
        page.get_by_role("button", name="Add a variant").click()
        assert rows.nth(2).is_visible()
        third = rows.nth(2)
        third.get_by_label("Weight (%)").fill("0")
        assert third.locator("[data-variant-share]").inner_text() == "0%"
        third.get_by_label("Remove this variant").check()
        shot(page, f"variants-editor-{label}")

        second = rows.nth(1)
        second.get_by_label("Name").fill("Richer advocate")
        second.get_by_label("Weight (%)").fill("150" if label == "desktop" else "75")
        advocate = second.locator("[data-override]", has_text="Change the advocate reward")
        assert not advocate.get_by_label("Amount (EUR)").is_visible()
        advocate.get_by_label("Change the advocate reward").check()
        advocate.get_by_label("Reward", exact=True).select_option("account_credit")
        advocate.get_by_label("Amount (EUR)").fill("15")
        second.locator("summary", has_text="Headline and description").click()
        second.get_by_label("Headline (Italiano)").fill("Regala 10 €, ricevi 15 €")
        page.get_by_role("button", name="Save variants").click()
        if label == "desktop":
            # refused by the service, explained next to the weight
            error = second.locator("[data-field='variants-1-weight'] .errorlist")
            assert error.inner_text() == "Must be between 0 and 100."
            shot(page, f"variants-error-{label}")
            second.get_by_label("Weight (%)").fill("75")
            assert rows.nth(0).locator("[data-variant-share]").inner_text() == "40%"
            page.get_by_role("button", name="Save variants").click()
        page.wait_for_url(f"**/programs/{program.public_id}/")
        assert page.locator("[data-variant='b'] [data-share]").inner_text() == "60%"

        # the preview of variant b, in Italian
        page.get_by_role("navigation", name="Preview variant").get_by_role(
            "link", name="b", exact=True
        ).click()
        page.get_by_role("navigation", name="Preview language").get_by_role(
            "link", name="IT"
        ).click()
        frame = page.frame_locator("iframe[name='program-preview']")
        headline = frame.locator("html[lang='it'] [data-headline]")
        headline.wait_for()
        assert headline.inner_text() == "Regala 10 €, ricevi 15 €"
        shot(page, f"variants-detail-{label}")
        page.goto(f"{base}preview/?lang=it&variant=b")
        shot(page, f"variants-preview-b-it-{label}")
        expected = (
            ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
            if label == "desktop"
            else []
        )
        assert console_errors == expected
        context.close()
        with tenancy.merchant_context(owner):
            program.refresh_from_db()
            assert [v.weight for v in services.program_config(program).variants] == [50, 75]
