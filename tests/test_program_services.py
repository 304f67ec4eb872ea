"""Programs: versions keep history honest, variants are sticky, lifecycle and branding rules."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.models import AuditEvent
from programs.models import Program, ProgramCopy, ProgramVersion
from programs.services import (
    program_activate,
    program_archive,
    program_config,
    program_copy,
    program_create,
    program_duplicate,
    program_pause,
    program_set_logo,
    program_update,
    variant_for,
)
from programs.specs import SpecError
from referral_saas import tenancy
from tests.conftest import World
from tracking.models import Conversion

TWO_SIDED: dict[str, Any] = {
    "name": "Give 10, get 10",
    "type": "two_sided",
    "currency": "EUR",
    "destination_url": "https://shop.example.com/",
    "allowed_domains": ["shop.example.com"],
    "advocate_reward": {"kind": "account_credit", "amount": 1000},
    "friend_reward": {"kind": "percent_discount", "percent": 15},
    "rules": {"hold_days": 30, "min_order_amount": 5000},
}


def create(world: World, **overrides: Any) -> Program:
    with tenancy.merchant_context(world.acme):
        return program_create(actor=world.alice, data={**TWO_SIDED, **overrides})


def errors_of(world: World, **overrides: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        create(world, **overrides)
    return caught.value.errors


def test_editing_a_live_programs_rules_keeps_the_old_decision_on_its_version(world: World) -> None:
    # given an active program and a conversion judged under version 1
    program = create(world)
    with tenancy.merchant_context(world.acme):
        program_activate(actor=world.alice, program=program)
        v1 = ProgramVersion.objects.get(program=program, number=1)
        conversion = Conversion.objects.create(
            program=program,
            program_version=v1,
            order_id="A1",
            amount=6000,
            currency="EUR",
            status="qualified",
        )

        # when the merchant raises the minimum order
        program = program_update(
            actor=world.alice, program=program, data={"rules": {"min_order_amount": 9000}}
        )

        # then new conversions use version 2, and the old decision still reads version 1
        assert program.version == 2
        assert program_config(program).rules.min_order_amount == 9000
        conversion.refresh_from_db()
        assert conversion.program_version_id == v1.pk
        old = program_config(program, conversion.program_version)
        assert old.rules.min_order_amount == 5000
        assert old.rules.hold_days == 30  # the merge kept the other rules
        assert ProgramVersion.objects.filter(program=program).count() == 2


def test_editing_a_draft_changes_its_only_version_in_place(world: World) -> None:
    program = create(world)
    with tenancy.merchant_context(world.acme):
        program = program_update(
            actor=world.alice,
            program=program,
            data={"friend_reward": {"kind": "percent_discount", "percent": 20}},
        )
        assert program.version == 1
        assert ProgramVersion.objects.filter(program=program).count() == 1
        assert program_config(program).friend_reward.percent == 20  # type: ignore[union-attr]


def test_renaming_a_live_program_adds_no_version(world: World) -> None:
    program = create(world)
    with tenancy.merchant_context(world.acme):
        program_activate(actor=world.alice, program=program)
        program = program_update(actor=world.alice, program=program, data={"name": "New name"})
        assert (program.name, program.version) == ("New name", 1)


def test_type_and_currency_are_fixed_once_live(world: World) -> None:
    program = create(world)
    with tenancy.merchant_context(world.acme):
        program_activate(actor=world.alice, program=program)
        with pytest.raises(SpecError) as caught:
            program_update(
                actor=world.alice, program=program, data={"currency": "PLN", "type": "one_sided"}
            )
        assert set(caught.value.errors) >= {"currency", "type"}
        program.refresh_from_db()
        assert (program.currency, program.type, program.version) == ("EUR", "two_sided", 1)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"friend_reward": {"kind": "percent_discount", "percent": 101}}, "friend_reward.percent"),
        ({"friend_reward": None}, "friend_reward"),
        ({"destination_url": "https://evil.example.net/"}, "destination_url"),
        (
            {"advocate_reward": {"kind": "cash", "amount": 500, "fulfilment": "stripe_transfer"}},
            "advocate_reward.fulfilment",
        ),
        ({"rules": {"hold_days": 91}}, "rules.hold_days"),
        ({"currency": "EURO"}, "currency"),
        ({"default_locale": "de"}, "default_locale"),
        ({"locales": ["en", "fr"]}, "locales"),
        ({"starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2026-12-02T00:00:00"}, "starts_at"),
        ({"branding": {"brand_color": "red"}}, "branding.brand_color"),
        ({"copy": {"de": {"headline": "Hallo"}}}, "copy.de"),
        ({"colour": "#fff"}, "colour"),
        ({"type": "three_sided"}, "type"),
        ({"slug": "Not A Slug"}, "slug"),
    ],
)
def test_invalid_programs_are_refused_with_the_field_named(
    world: World, overrides: dict[str, Any], path: str
) -> None:
    assert path in errors_of(world, **overrides)
    assert Program.unscoped_all_merchants.count() == 0


def test_stripe_methods_are_accepted_once_stripe_is_connected(world: World) -> None:
    world.acme.stripe_account_id = "acct_123"
    world.acme.save()
    program = create(
        world, advocate_reward={"kind": "cash", "amount": 500, "fulfilment": "stripe_transfer"}
    )
    with tenancy.merchant_context(world.acme):
        assert program_config(program).advocate_reward.fulfilment == "stripe_transfer"  # type: ignore[union-attr]


def test_every_error_is_reported_at_once(world: World) -> None:
    errors = errors_of(
        world,
        name="",
        friend_reward={"kind": "percent_discount", "percent": 0},
        rules={"hold_days": -1},
        destination_url="ftp://x",
    )
    assert set(errors) == {"name", "friend_reward.percent", "rules.hold_days", "destination_url"}


def test_subdomains_of_allowed_domains_are_allowed(world: World) -> None:
    program = create(
        world, destination_url="https://shop.example.com/spring", allowed_domains=["Example.com."]
    )
    assert program.allowed_domains == ["example.com"]


def test_copy_is_stripped_of_markup(world: World) -> None:
    program = create(
        world,
        copy={
            "en": {
                "headline": "<b>Give</b> <script>alert(1)</script>10",
                "description": '<img src=x onerror="alert(1)">Hi',
                "terms": "<a href='javascript:alert(1)'>terms</a>",
            }
        },
    )
    with tenancy.merchant_context(world.acme):
        assert program_copy(program) == {
            "en": {"headline": "Give 10", "description": "Hi", "terms": "terms"}
        }


def test_lifecycle_transitions_are_audited_and_invalid_ones_refused(world: World) -> None:
    program = create(world)
    with tenancy.merchant_context(world.acme):
        program = program_activate(actor=world.alice, program=program)
        program = program_pause(actor=world.alice, program=program)
        program = program_activate(actor=world.alice, program=program)
        program = program_archive(actor=world.alice, program=program)
        with pytest.raises(SpecError) as caught:
            program_activate(actor=world.alice, program=program)
        assert caught.value.errors == {"status": "A archived program cannot activate."}
        with pytest.raises(SpecError):
            program_update(actor=world.alice, program=program, data={"name": "x"})
        actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == [
        "program.created",
        "program.activated",
        "program.paused",
        "program.activated",
        "program.archived",
    ]


def test_duplicate_makes_a_draft_with_the_same_configuration_and_copy(world: World) -> None:
    program = create(world, copy={"it": {"headline": "Regala 10 €"}})
    with tenancy.merchant_context(world.acme):
        program_activate(actor=world.alice, program=program)
        program_update(actor=world.alice, program=program, data={"rules": {"hold_days": 7}})
        copy = program_duplicate(actor=world.alice, program=program)
        assert (copy.status, copy.version, copy.slug) == ("draft", 1, "give-10-get-10-copy")
        assert program_config(copy) == program_config(Program.objects.get(pk=program.pk))
        assert ProgramCopy.objects.get(program=copy, locale="it").headline == "Regala 10 €"


def test_variant_assignment_is_deterministic_and_follows_the_weights(world: World) -> None:
    program = create(
        world,
        variants=[
            {"key": "control", "weight": 75},
            {
                "key": "bigger",
                "weight": 25,
                "advocate_reward": {"kind": "account_credit", "amount": 1500},
                "copy": {"it": {"headline": "<i>Regala</i> 15 €"}},
            },
        ],
    )
    with tenancy.merchant_context(world.acme):
        config = program_config(program)
    people = [f"person{i}@example.com" for i in range(2000)]
    first = [variant_for(config, program=program, subject=p).key for p in people]  # type: ignore[union-attr]
    again = [variant_for(config, program=program, subject=p.upper()).key for p in people]  # type: ignore[union-attr]
    assert first == again  # same person, same variant (email case ignored)
    share = first.count("bigger") / len(first)
    assert 0.22 < share < 0.28
    assert config.variants[1].copy == {"it": {"headline": "Regala 15 €"}}
    assert config.variants[1].advocate_reward.amount == 1500  # type: ignore[union-attr]


def test_variant_rules(world: World) -> None:
    errors = errors_of(world, variants=[{"key": "a", "weight": 0}, {"key": "a", "weight": 0}])
    assert errors["variants[1].key"] == "Variant key 'a' is used twice."
    assert errors["variants"] == "At least one variant needs a weight above 0."
    assert "variants" in errors_of(world, variants=[{"key": "solo", "weight": 100}])


def _image(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_logo_images_are_stored(world: World, fmt: str, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    program = create(world)
    upload = SimpleUploadedFile("logo.bin", _image(fmt), content_type="application/octet-stream")
    with tenancy.merchant_context(world.acme):
        program_set_logo(actor=world.alice, program=program, upload=upload)
    assert program.logo.name.endswith({"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}[fmt])


@pytest.mark.parametrize(
    "content",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"GIF89a but not really",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 20,
    ],
)
def test_logo_that_is_not_a_safe_image_is_refused(world: World, content: bytes) -> None:
    program = create(world)
    upload = SimpleUploadedFile("logo.png", content, content_type="image/png")
    with tenancy.merchant_context(world.acme), pytest.raises(SpecError) as caught:
        program_set_logo(actor=world.alice, program=program, upload=upload)
    assert caught.value.errors == {"logo": "Upload a PNG, JPEG, WebP or GIF image."}
    program.refresh_from_db()
    assert not program.logo


def test_logo_over_one_megabyte_is_refused(world: World) -> None:
    program = create(world)
    upload = SimpleUploadedFile("big.png", b"\x00" * (1024 * 1024 + 1), content_type="image/png")
    with tenancy.merchant_context(world.acme), pytest.raises(SpecError) as caught:
        program_set_logo(actor=world.alice, program=program, upload=upload)
    assert caught.value.errors == {"logo": "The logo must be at most 1 MB."}


def test_slug_is_unique_per_merchant_only(world: World) -> None:
    create(world)
    assert errors_of(world) == {"slug": "Another program of yours already uses this slug."}
    with tenancy.merchant_context(world.globex):
        other = program_create(actor=world.charlie, data=TWO_SIDED)
    assert other.slug == "give-10-get-10"


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"name": "Give\x0010"}, "name"),
        ({"destination_url": "https://shop.example.com/\x00"}, "destination_url"),
        ({"destination_url": "https://shop.example.com/a b"}, "destination_url"),
        ({"friend_reward": {"kind": "free_product", "label": "mug\x00"}}, "friend_reward.label"),
    ],
)
def test_nul_and_control_characters_are_refused(
    world: World, overrides: dict[str, Any], path: str
) -> None:
    assert path in errors_of(world, **overrides)


def test_copy_loses_nul_characters(world: World) -> None:
    program = create(world, copy={"en": {"headline": "Give\x00 10"}})
    with tenancy.merchant_context(world.acme):
        assert program_copy(program)["en"]["headline"] == "Give 10"


def test_a_slug_taken_between_check_and_insert_is_a_field_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given another request inserted the same slug right after our uniqueness check
    create(world)
    real_filter = Program.objects.filter

    class _Nothing:
        def exists(self) -> bool:
            return False

    def filter_missing_the_race(*args: Any, **kwargs: Any) -> Any:
        return _Nothing() if "slug" in kwargs else real_filter(*args, **kwargs)

    with tenancy.merchant_context(world.acme):
        monkeypatch.setattr(
            type(Program.objects), "filter", lambda self, *a, **k: filter_missing_the_race(*a, **k)
        )
        with pytest.raises(SpecError) as caught:
            program_create(actor=world.alice, data=TWO_SIDED)
    assert caught.value.errors == {"slug": "Another program of yours already uses this slug."}


def test_a_name_with_underscores_gives_a_valid_slug(world: World) -> None:
    program = create(world, name="Spring one_sided __deal__")
    assert program.slug == "spring-one-sided-deal"


def test_archived_programs_take_no_logo(world: World) -> None:
    program = create(world)
    with tenancy.merchant_context(world.acme):
        program = program_archive(actor=world.alice, program=program)
        upload = SimpleUploadedFile("logo.png", _image("PNG"), content_type="image/png")
        with pytest.raises(SpecError):
            program_set_logo(actor=world.alice, program=program, upload=upload)


def test_variant_copy_is_held_to_the_programs_languages_and_limits(world: World) -> None:
    errors = errors_of(
        world,
        locales=["en", "it"],
        variants=[
            {"key": "a", "weight": 50, "copy": {"pl": {"headline": "Cześć"}}},
            {"key": "b", "weight": 50, "copy": {"it": {"headline": "x" * 201}}},
        ],
    )
    assert errors == {
        "variants[0].copy.pl": "Not one of the program's languages (English, Italian).",
        "variants[1].copy.it.headline": "At most 200 characters.",
    }
