"""Program dashboard: the list, the create/edit wizard, the live preview and lifecycle actions.

Each wizard step is judged by `programs.services` (the API's code), so these tests check that
every refusal shows its message next to the field at fault and that nothing wrong was saved.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.models import AuditEvent, Merchant
from programs import services
from programs.forms import Placed, place_errors
from programs.models import Program, ProgramCopy, ProgramVersion
from programs.summary import offer_headline
from referral_saas import tenancy
from tests.conftest import World, login
from tests.factories import make_program
from tracking.models import Advocate, Click

pytestmark = pytest.mark.django_db

LOCALES = ["en", "it", "ro", "pl"]


# --- Helpers ---------------------------------------------------------------------------------


def url(name: str, merchant: Merchant, program: Program | None = None) -> str:
    kwargs: dict[str, Any] = {"merchant_slug": merchant.slug}
    if program is not None:
        kwargs["program_id"] = program.public_id
    return reverse(name, kwargs=kwargs)


def programs_of(merchant: Merchant) -> list[Program]:
    with tenancy.merchant_context(merchant):
        return list(Program.objects.order_by("pk"))


def config_of(merchant: Merchant, program: Program) -> dict[str, Any]:
    with tenancy.merchant_context(merchant):
        program.refresh_from_db()
        return ProgramVersion.objects.get(program=program, number=program.version).config


def audit_actions(merchant: Merchant) -> list[str]:
    with tenancy.merchant_context(merchant):
        return list(
            AuditEvent.objects.order_by("created_at", "pk").values_list("action", flat=True)
        )


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def text(response: Any) -> str:
    """The page with non-breaking spaces (babel puts them in "10 €") made plain."""
    return str(response.content.decode()).replace("\xa0", " ")


def basics(program_type: str = "two_sided", **overrides: Any) -> dict[str, Any]:
    data = {
        "name": f"Spring {program_type.replace('_', '-')}",
        "type": program_type,
        "currency": "EUR",
        "locales": LOCALES,
        "default_locale": "en",
        "destination_url": "https://shop.example.com/spring",
        "allowed_domains": "shop.example.com, example.com",
        "starts_at": "",
        "ends_at": "",
    }
    data.update(overrides)
    return data


def reward(prefix: str, kind: str = "", **values: Any) -> dict[str, Any]:
    fields = {
        "kind": kind,
        "amount": "",
        "percent": "",
        "points": "",
        "label": "",
        "fulfilment": "generated_code",
        "expires_after_days": "",
        "code_prefix": "",
        "code_length": "10",
        "code_pool": "",
    }
    fields.update(values)
    return {f"{prefix}-{key}": value for key, value in fields.items()}


def tiers(*rows: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tiers-TOTAL_FORMS": str(len(rows)),
        "tiers-INITIAL_FORMS": "0",
        "tiers-MIN_NUM_FORMS": "0",
        "tiers-MAX_NUM_FORMS": "20",
    }
    for index, row in enumerate(rows):
        row = dict(row)
        threshold = row.pop("threshold")
        repeat = row.pop("repeat", False)
        data.update(reward(f"tiers-{index}", **row))
        data[f"tiers-{index}-threshold"] = str(threshold)
        if repeat:
            data[f"tiers-{index}-repeat"] = "on"
    return data


def rules(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "attribution_window_days": "30",
        "min_order_amount": "",
        "first_purchase_only": "on",
        "new_customers_only": "on",
        "one_referrer_per_friend": "on",
        "hold_days": "30",
        "max_rewards_per_advocate": "",
        "max_rewards_period": "month",
        "budget_amount": "",
        "budget_action": "pause_program",
        "velocity_per_advocate_per_day": "10",
        "velocity_per_ip_per_day": "5",
        "min_seconds_click_to_conversion": "30",
        "blocked_countries": "",
        "blocked_email_domains": "",
        "fraud_self_referral": "reject",
        "fraud_disposable_email": "review",
        "fraud_velocity": "review",
        "fraud_fast_conversion": "review",
        "fraud_duplicate_friend": "reject",
        "fraud_existing_customer": "reject",
        "fraud_blocked_country": "reject",
        "fraud_blocked_email_domain": "reject",
        "fraud_same_ip_user_agent": "score_only",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def copy(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"brand_color": "#3b2fc9", "accent_color": "#0f7b5f"}
    for locale in LOCALES:
        for key in ("headline", "description", "terms"):
            data[f"{locale}_{key}"] = ""
    data.update(overrides)
    return data


def png(size: tuple[int, int] = (40, 20)) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = "logo.png"
    return buffer


def create_draft(client: Client, world: World, program_type: str, **overrides: Any) -> Program:
    response = client.post(url("program_create", world.acme), basics(program_type, **overrides))
    assert response.status_code == 302, response.context and (
        response.context["form"].errors,
        response.context["step_errors"].errors,
    )
    program = programs_of(world.acme)[-1]
    assert response["Location"] == url("program_edit_rewards", world.acme, program)
    return program


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


# --- Creating each type through the wizard ------------------------------------------------------


def test_create_one_sided_program_through_every_step(alice_client: Client, world: World) -> None:
    # step 1: basics makes a draft with a valid default offer
    program = create_draft(alice_client, world, "one_sided", starts_at="2030-01-01T09:00")
    assert (program.type, program.status, program.currency) == ("one_sided", "draft", "EUR")
    assert program.allowed_domains == ["example.com", "shop.example.com"]
    assert program.starts_at is not None
    assert program.starts_at.isoformat() == "2030-01-01T09:00:00+00:00"

    # step 2: rewards, amount in major units stored in minor units
    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        reward(
            "advocate",
            "account_credit",
            amount="15.50",
            expires_after_days="90",
            code_prefix="spring",
        ),
    )
    assert response["Location"] == url("program_edit_rules", world.acme, program)
    advocate = config_of(world.acme, program)["advocate_reward"]
    assert advocate == {
        "kind": "account_credit",
        "amount": 1550,
        "currency": "EUR",
        "fulfilment": "generated_code",
        "code_prefix": "SPRING",
        "code_length": 10,
        "expires_after_days": 90,
    }
    assert config_of(world.acme, program)["friend_reward"] is None

    # step 3: rules and fraud
    response = alice_client.post(
        url("program_edit_rules", world.acme, program),
        rules(
            hold_days="14",
            min_order_amount="50",
            max_rewards_per_advocate="5",
            max_rewards_period="week",
            budget_amount="1000",
            budget_action="stop_rewards",
            first_purchase_only=None,
            fraud_disposable_email="reject",
            fraud_same_ip_user_agent="off",
            blocked_countries="ru, kp",
            velocity_per_ip_per_day="3",
        ),
    )
    assert response["Location"] == url("program_edit_copy", world.acme, program)
    config = config_of(world.acme, program)
    assert config["rules"] == {
        "attribution_window_days": 30,
        "min_order_amount": 5000,
        "first_purchase_only": False,
        "new_customers_only": True,
        "one_referrer_per_friend": True,
        "hold_days": 14,
        "max_rewards_per_advocate": 5,
        "max_rewards_period": "week",
        "budget_amount": 100000,
        "budget_action": "stop_rewards",
        "enrol_buyers": False,  # issue 14's rules, off by default
        "ask_friend_name": False,
    }
    assert config["fraud"]["disposable_email"] == "reject"
    assert config["fraud"]["same_ip_user_agent"] == "off"
    assert config["fraud"]["thresholds"]["blocked_countries"] == ["KP", "RU"]
    assert config["fraud"]["thresholds"]["velocity_per_ip_per_day"] == 3

    # step 4: copy per locale and colours
    response = alice_client.post(
        url("program_edit_copy", world.acme, program),
        copy(
            it_headline="Porta un amico",
            it_terms="Valido <b>fino</b> a giugno.",
            brand_color="#112233",
        ),
    )
    assert response["Location"] == url("program_detail", world.acme, program)
    with tenancy.merchant_context(world.acme):
        it = ProgramCopy.objects.get(program=program, locale="it")
        program.refresh_from_db()
    assert (it.headline, it.terms) == ("Porta un amico", "Valido fino a giugno.")
    assert program.brand_color == "#112233"

    # step 5: review shows the summary in words, then activate
    response = alice_client.get(url("program_detail", world.acme, program))
    assert response.status_code == 200
    summary = response.context["summary"]
    assert "€15.50 account credit" in summary
    assert "€50" in summary
    assert "up to 5 rewards per advocate per week" in summary
    response = alice_client.post(url("program_activate", world.acme, program), follow=True)
    assert messages_of(response) == ["“Spring one-sided” is live."]
    program.refresh_from_db()
    assert program.status == "active"
    assert program.version == 1  # a draft's configuration is edited in place


def test_create_two_sided_program(alice_client: Client, world: World) -> None:
    program = create_draft(alice_client, world, "two_sided")
    assert config_of(world.acme, program)["friend_reward"]["kind"] == "fixed_discount"

    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        {
            **reward("advocate", "cash", amount="20", fulfilment="manual"),
            **reward("friend", "percent_discount", percent="15"),
        },
    )

    assert response.status_code == 302
    config = config_of(world.acme, program)
    assert config["advocate_reward"]["amount"] == 2000
    assert config["advocate_reward"]["fulfilment"] == "manual"
    assert config["friend_reward"]["percent"] == 15
    assert "amount" not in config["friend_reward"]


def test_create_tiered_program_with_a_friend_reward(alice_client: Client, world: World) -> None:
    program = create_draft(alice_client, world, "tiered")
    assert [t["threshold"] for t in config_of(world.acme, program)["tiers"]] == [1, 5]

    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        {
            **tiers(
                {"threshold": 1, "kind": "account_credit", "amount": "10"},
                {"threshold": "", "kind": ""},  # a blank row is skipped
                {"threshold": 5, "kind": "points", "points": "500", "fulfilment": "webhook"},
                {
                    "threshold": 10,
                    "kind": "free_product",
                    "label": "year of premium",
                    "repeat": True,
                },
            ),
            **reward("friend", "percent_discount", percent="10"),
        },
    )

    assert response.status_code == 302, response.context["step_errors"].errors
    config = config_of(world.acme, program)
    assert [(t["threshold"], t["reward"]["kind"], t["repeat"]) for t in config["tiers"]] == [
        (1, "account_credit", False),
        (5, "points", False),
        (10, "free_product", True),
    ]
    assert config["tiers"][2]["reward"]["label"] == "year of premium"
    assert config["advocate_reward"] is None
    assert config["friend_reward"]["percent"] == 10
    detail = alice_client.get(url("program_detail", world.acme, program))
    assert (
        detail.context["headline"] == "Give 10% off; refer 10 friends, get a free year of premium"
    )


def test_removing_a_tier_with_its_delete_box(alice_client: Client, world: World) -> None:
    program = create_draft(alice_client, world, "tiered")
    data = tiers(
        {"threshold": 1, "kind": "account_credit", "amount": "10"},
        {"threshold": 5, "kind": "account_credit", "amount": "75"},
    )
    data["tiers-1-DELETE"] = "on"
    response = alice_client.post(url("program_edit_rewards", world.acme, program), data)
    assert response.status_code == 302
    assert [t["threshold"] for t in config_of(world.acme, program)["tiers"]] == [1]


# --- Validation explains itself, next to the field, and saves nothing ---------------------------


def test_percent_over_100_is_refused_next_to_the_percent(
    alice_client: Client, world: World
) -> None:
    program = create_draft(alice_client, world, "two_sided")
    before = config_of(world.acme, program)

    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        {
            **reward("advocate", "account_credit", amount="10"),
            **reward("friend", "percent_discount", percent="150"),
        },
    )

    assert response.status_code == 400
    assert response.context["friend_form"].errors == {"percent": ["Must be between 1 and 100."]}
    assert response.context["advocate_form"].errors == {}
    html = response.content.decode()
    field = html.split('data-field="friend-percent"')[1].split('data-field="friend-points"')[0]
    assert "Must be between 1 and 100." in field
    assert 'aria-invalid="true"' in field
    assert config_of(world.acme, program) == before


def test_tiers_must_increase(alice_client: Client, world: World) -> None:
    program = create_draft(alice_client, world, "tiered")
    before = config_of(world.acme, program)

    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        tiers(
            {"threshold": 5, "kind": "account_credit", "amount": "10"},
            {"threshold": 3, "kind": "account_credit", "amount": "75"},
        ),
    )

    assert response.status_code == 400
    forms = response.context["tier_formset"].forms
    assert forms[0].errors == {}
    assert forms[1].errors == {"threshold": ["Tiers must strictly increase: 3 is not above 5."]}
    assert config_of(world.acme, program) == before


def test_two_sided_needs_a_friend_reward(alice_client: Client, world: World) -> None:
    program = create_draft(alice_client, world, "two_sided")
    before = config_of(world.acme, program)

    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        {**reward("advocate", "account_credit", amount="10"), **reward("friend", "")},
    )

    assert response.status_code == 400
    assert response.context["friend_form"].errors == {
        "kind": ["A two-sided program needs a friend reward."]
    }
    assert config_of(world.acme, program) == before


def test_destination_outside_allowed_domains_creates_nothing(
    alice_client: Client, world: World
) -> None:
    response = alice_client.post(
        url("program_create", world.acme),
        basics(destination_url="https://evil.example.net/", allowed_domains="shop.example.com"),
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "destination_url": ["evil.example.net is not among the allowed domains (shop.example.com)."]
    }
    assert programs_of(world.acme) == []
    assert audit_actions(world.acme) == []


def test_stripe_fulfilment_needs_stripe_connected(alice_client: Client, world: World) -> None:
    assert not world.acme.stripe_connected
    program = create_draft(alice_client, world, "one_sided")
    before = config_of(world.acme, program)

    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        reward("advocate", "account_credit", amount="10", fulfilment="stripe_customer_balance"),
    )

    assert response.status_code == 400
    assert response.context["advocate_form"].errors == {
        "fulfilment": ["Connect your Stripe account before using a Stripe fulfilment method."]
    }
    assert config_of(world.acme, program) == before


def test_rules_errors_land_on_their_fields(alice_client: Client, world: World) -> None:
    program = create_draft(alice_client, world, "one_sided")
    before = config_of(world.acme, program)

    response = alice_client.post(
        url("program_edit_rules", world.acme, program),
        rules(hold_days="120", blocked_email_domains="not a domain!", velocity_per_ip_per_day="0"),
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "hold_days": ["Must be between 0 and 90."],
        "blocked_email_domains": ["Not valid: a, domain!, not."],
        "velocity_per_ip_per_day": ["Must be between 1 and 10000."],
    }
    assert config_of(world.acme, program) == before


def test_amount_with_too_many_decimals_is_refused_before_the_service(
    alice_client: Client, world: World
) -> None:
    program = create_draft(alice_client, world, "one_sided")
    before = config_of(world.acme, program)
    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        reward("advocate", "cash", amount="10.555", fulfilment="manual"),
    )
    assert response.status_code == 400
    assert response.context["advocate_form"].errors == {
        "amount": ["EUR takes at most 2 decimal places."]
    }
    assert config_of(world.acme, program) == before


def test_basics_errors_and_duplicate_slug(alice_client: Client, world: World) -> None:
    make_program(world.acme, name="Spring two-sided", slug="spring-two-sided")
    response = alice_client.post(
        url("program_create", world.acme),
        basics(currency="XYZ", locales=[], allowed_domains=""),
    )
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "currency": ["Must be an ISO-4217 currency code such as EUR."],
        "locales": ["Choose at least one language: English, Italian, Romanian, Polish."],
        "allowed_domains": ["List the domains referral links may redirect to."],
    }
    response = alice_client.post(url("program_create", world.acme), basics())
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "slug": ["Another program of yours already uses this slug."]
    }
    assert len(programs_of(world.acme)) == 1


def test_paths_no_field_shows_become_step_errors() -> None:
    from django import forms

    form = forms.Form(data={})
    form.is_valid()
    holder = forms.Form(data={})
    holder.is_valid()
    place_errors(
        {"variants[0].weight": "Must be between 0 and 100."},
        lambda path: Placed(form, "nope") if path else None,
        fallback=holder,
    )
    assert holder.non_field_errors() == ["Variants 1 › weight: Must be between 0 and 100."]  # noqa: RUF001


def test_logo_upload_checks_the_image_and_keeps_copy_unchanged(
    alice_client: Client, world: World, media: Any
) -> None:
    program = create_draft(alice_client, world, "one_sided")
    fake = io.BytesIO(b"<svg onload='alert(1)'></svg>")
    fake.name = "logo.png"
    response = alice_client.post(
        url("program_edit_copy", world.acme, program),
        {**copy(en_headline="Refused with the logo"), "logo": fake},
    )
    assert response.status_code == 400
    assert response.context["form"].errors == {"logo": ["Upload a PNG, JPEG, WebP or GIF image."]}
    with tenancy.merchant_context(world.acme):
        assert not ProgramCopy.objects.filter(program=program).exists()
        program.refresh_from_db()
    assert not program.logo

    response = alice_client.post(
        url("program_edit_copy", world.acme, program), {**copy(), "logo": png()}
    )
    assert response.status_code == 302
    program.refresh_from_db()
    assert program.logo.name.endswith(f"{program.public_id}.png")
    preview = alice_client.get(url("program_preview", world.acme, program))
    assert 'src="data:image/png;base64,' in preview.content.decode()
    assert "program.logo_changed" in audit_actions(world.acme)


# --- Editing a live program --------------------------------------------------------------------


def test_editing_an_active_program_adds_a_version_and_fixes_type(
    alice_client: Client, world: World
) -> None:
    program = make_program(world.acme)
    response = alice_client.get(url("program_edit_basics", world.acme, program))
    assert response.context["form"].fields["type"].disabled
    response = alice_client.post(
        url("program_edit_rewards", world.acme, program),
        {
            **reward("advocate", "account_credit", amount="12"),
            **reward("friend", "fixed_discount", amount="10"),
        },
    )
    assert response.status_code == 302
    program.refresh_from_db()
    assert program.version == 2
    assert config_of(world.acme, program)["advocate_reward"]["amount"] == 1200

    response = alice_client.post(
        url("program_edit_basics", world.acme, program),
        basics("one_sided", name="Renamed", currency="USD"),
    )
    program.refresh_from_db()
    assert response.status_code == 302  # disabled fields keep their stored values
    assert (program.name, program.type, program.currency) == ("Renamed", "two_sided", "EUR")


def test_archived_program_cannot_be_edited(alice_client: Client, world: World) -> None:
    program = make_program(world.acme, status="archived")
    response = alice_client.get(url("program_edit_rules", world.acme, program), follow=True)
    assert response.redirect_chain == [(url("program_detail", world.acme, program), 302)]
    assert messages_of(response) == ["An archived program cannot be edited; duplicate it instead."]
    assert response.context["actions"] == []
    assert response.context["may_duplicate"] is True


# --- Roles ---------------------------------------------------------------------------------------


def test_viewer_sees_the_list_and_program_but_cannot_change_anything(
    client: Client, world: World
) -> None:
    program = make_program(world.acme, status="draft")
    before = config_of(world.acme, program)
    login(client, world.bob)

    assert client.get(url("program_list", world.acme)).status_code == 200
    detail = client.get(url("program_detail", world.acme, program))
    assert detail.status_code == 200
    assert detail.context["actions"] == []
    assert detail.context["may_edit"] is False
    assert "Activate" not in detail.content.decode()
    assert client.get(url("program_preview", world.acme, program)).status_code == 200

    assert client.get(url("program_create", world.acme)).status_code == 403
    assert client.post(url("program_create", world.acme), basics()).status_code == 403
    edits = {
        "program_edit_basics": basics(),
        "program_edit_rewards": reward("advocate", "cash", amount="99", fulfilment="manual"),
        "program_edit_rules": rules(hold_days="1"),
        "program_edit_copy": copy(en_headline="Bob was here"),
    }
    for name, data in edits.items():
        assert client.get(url(name, world.acme, program)).status_code == 403, name
        assert client.post(url(name, world.acme, program), data).status_code == 403, name
    for action in ("activate", "pause", "archive", "duplicate"):
        assert client.post(url(f"program_{action}", world.acme, program)).status_code == 403

    program.refresh_from_db()
    assert (program.status, program.name, program.version) == ("draft", "Give 10, get 10", 1)
    assert config_of(world.acme, program) == before
    assert len(programs_of(world.acme)) == 1
    assert audit_actions(world.acme) == []


# --- Lifecycle actions ----------------------------------------------------------------------------


def test_activate_pause_archive_duplicate_are_audited(alice_client: Client, world: World) -> None:
    program = make_program(world.acme, status="draft", name="Summer")
    detail = alice_client.get(url("program_detail", world.acme, program))
    assert detail.context["actions"] == ["activate", "archive"]

    for action, status, event in (
        ("activate", "active", "program.activated"),
        ("pause", "paused", "program.paused"),
        ("activate", "active", "program.activated"),
        ("archive", "archived", "program.archived"),
    ):
        response = alice_client.post(url(f"program_{action}", world.acme, program))
        assert response["Location"] == url("program_detail", world.acme, program)
        program.refresh_from_db()
        assert program.status == status
        assert audit_actions(world.acme)[-1] == event

    response = alice_client.post(url("program_duplicate", world.acme, program))
    copy_ = programs_of(world.acme)[-1]
    assert response["Location"] == url("program_edit_basics", world.acme, copy_)
    assert (copy_.name, copy_.status, copy_.slug) == ("Summer (copy)", "draft", "give-10-copy")
    assert audit_actions(world.acme) == [
        "program.activated",
        "program.paused",
        "program.activated",
        "program.archived",
        "program.duplicated",
    ]
    with tenancy.merchant_context(world.acme):
        event = AuditEvent.objects.order_by("-pk").first()
    assert event is not None
    assert (event.actor_user, event.target_id, event.data) == (
        world.alice,
        copy_.public_id,
        {"from": program.public_id},
    )


def test_an_action_the_status_forbids_is_a_message_not_a_change(
    alice_client: Client, world: World
) -> None:
    program = make_program(world.acme, status="draft")
    response = alice_client.post(url("program_pause", world.acme, program), follow=True)
    assert messages_of(response) == ["A draft program cannot pause."]
    program.refresh_from_db()
    assert program.status == "draft"
    assert audit_actions(world.acme) == []
    assert alice_client.get(url("program_pause", world.acme, program)).status_code == 405


def test_activation_refused_by_the_service_names_the_field(
    alice_client: Client, world: World
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    program = make_program(world.acme, status="draft", ends_at=timezone.now() - timedelta(days=1))
    response = alice_client.post(url("program_activate", world.acme, program), follow=True)
    assert messages_of(response) == [
        "Ends at: This program's end date has passed; change it first."
    ]
    program.refresh_from_db()
    assert program.status == "draft"


# --- List ----------------------------------------------------------------------------------------


def _with_traffic(merchant: Merchant, program: Program, advocates: int, clicks: int) -> None:
    with tenancy.merchant_context(merchant):
        made = [
            Advocate.objects.create(
                program=program, email=f"a{i}@{program.slug}.test", code=f"{program.slug}-{i}"
            )
            for i in range(advocates)
        ]
        for i in range(clicks):
            Click.objects.create(program=program, advocate=made[i % len(made)])


def test_list_shows_status_numbers_and_summary_in_a_fixed_number_of_queries(
    alice_client: Client, world: World, django_assert_num_queries: Any
) -> None:
    made = [
        make_program(world.acme, slug=f"p{i}", name=f"Program {i}", type=kind, status=status)
        for i, (kind, status) in enumerate(
            [
                ("one_sided", "draft"),
                ("two_sided", "active"),
                ("tiered", "paused"),
                ("two_sided", "archived"),
                ("one_sided", "active"),
            ]
        )
    ]
    _with_traffic(world.acme, made[1], advocates=3, clicks=7)
    _with_traffic(world.acme, made[4], advocates=1, clicks=2)
    make_program(world.globex, slug="theirs", name="Not Acme's")
    alice_client.get(url("program_list", world.acme))  # warm the session

    # session, user, merchant, membership, programs, current versions, advocates per program,
    # clicks per program, the merchant switcher (no session save: the merchant did not change)
    with django_assert_num_queries(9):
        response = alice_client.get(url("program_list", world.acme))

    assert response.status_code == 200
    rows = {row["program"].name: row for row in response.context["rows"]}
    assert set(rows) == {f"Program {i}" for i in range(5)}
    assert (rows["Program 1"]["advocates"], rows["Program 1"]["clicks"]) == (3, 7)
    assert (rows["Program 4"]["advocates"], rows["Program 4"]["clicks"]) == (1, 2)
    assert (rows["Program 0"]["advocates"], rows["Program 0"]["clicks"]) == (0, 0)
    assert rows["Program 2"]["badge"] == "badge-warning"
    assert rows["Program 1"]["summary"].startswith("Advocates get €10 account credit")
    html = response.content.decode()
    assert "Not Acme" not in html
    assert 'data-status="archived"' in html


def test_list_query_count_does_not_grow_with_programs(
    alice_client: Client, world: World, django_assert_num_queries: Any
) -> None:
    make_program(world.acme, slug="only")
    alice_client.get(url("program_list", world.acme))
    with django_assert_num_queries(9):
        alice_client.get(url("program_list", world.acme))


def test_empty_list_invites_admins_to_create(alice_client: Client, world: World) -> None:
    response = alice_client.get(url("program_list", world.acme))
    assert "Create your first program" in response.content.decode()


# --- Live preview and the landing page -------------------------------------------------------


def test_preview_renders_the_landing_page_in_each_locale(
    alice_client: Client, world: World
) -> None:
    program = make_program(world.acme, status="draft")
    with tenancy.merchant_context(world.acme):
        config = services.program_config(program)

    italian = alice_client.get(url("program_preview", world.acme, program) + "?lang=it")

    assert italian.status_code == 200
    assert next(t.name for t in italian.templates) == "programs/landing.html"
    html = italian.content.decode().replace("\xa0", " ")
    assert (
        offer_headline(config, "it").replace("\xa0", " ")
        == "Regala 10 € di sconto, ricevi 10 € di credito"
    )
    assert "Regala 10 € di sconto, ricevi 10 € di credito" in html
    assert '<html lang="it">' in html
    assert italian["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in italian["Content-Security-Policy"]
    assert "style=" not in html
    assert "<style" not in html
    assert "<script" not in html
    polish = alice_client.get(url("program_preview", world.acme, program) + "?lang=pl")
    assert "Podaruj 10 € rabatu" in polish.content.decode().replace("\xa0", " ")
    # a language the program does not speak falls back to its default
    other = alice_client.get(url("program_preview", world.acme, program) + "?lang=de")
    assert '<html lang="en">' in other.content.decode()
    # the dashboard pages themselves may not be framed
    detail = alice_client.get(url("program_detail", world.acme, program))
    assert detail["X-Frame-Options"] == "DENY"
    assert 'src="' + url("program_preview", world.acme, program) + '?lang=en"' in (
        detail.content.decode()
    )


def test_preview_uses_merchant_copy_and_brand_css(alice_client: Client, world: World) -> None:
    program = make_program(world.acme, status="draft")
    alice_client.post(
        url("program_edit_copy", world.acme, program),
        copy(
            it_headline="Porta un amico",
            it_description="Sconti per tutti",
            it_terms="Solo in Italia",
            brand_color="#ffcc00",
        ),
    )
    html = alice_client.get(url("program_preview", world.acme, program) + "?lang=it")
    text = html.content.decode()
    assert "Porta un amico" in text
    assert "Sconti per tutti" in text
    assert "Solo in Italia" in text
    css = alice_client.get(url("program_preview_css", world.acme, program))
    assert css["Content-Type"] == "text/css; charset=utf-8"
    body = css.content.decode()
    assert "--brand: #ffcc00;" in body
    assert "--brand-contrast: #111111;" in body  # dark text on yellow


def test_public_landing_page_speaks_the_visitors_language(client: Client, world: World) -> None:
    make_program(world.acme, slug="give-10")
    english = client.get("/p/acme/give-10/")
    assert "Give €10 off, get €10 credit" in text(english)
    italian = client.get("/p/acme/give-10/", HTTP_ACCEPT_LANGUAGE="it-IT,it;q=0.9")
    assert "Regala 10 € di sconto" in text(italian)
    assert italian["Content-Language"] == "it"
    romanian = client.get("/p/acme/give-10/?lang=ro", HTTP_ACCEPT_LANGUAGE="it")
    assert "Oferă 10 EUR reducere" in text(romanian)
    css = client.get("/p/acme/give-10/brand.css")
    assert css.status_code == 200
    assert "--brand: #3b2fc9;" in css.content.decode()
    assert client.get("/p/acme/give-10/logo").status_code == 404
    assert client.get("/p/globex/give-10/brand.css").status_code == 404


def test_public_logo_is_served_for_a_live_program(
    alice_client: Client, world: World, media: Any
) -> None:
    program = make_program(world.acme, slug="give-10")
    alice_client.post(url("program_edit_copy", world.acme, program), {**copy(), "logo": png()})
    response = alice_client.get("/p/acme/give-10/logo")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert 'src="/p/acme/give-10/logo"' in alice_client.get("/p/acme/give-10/").content.decode()
