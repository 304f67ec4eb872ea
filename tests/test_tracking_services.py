"""Tracking services: enrolment, clicks without raw IPs, first referrer wins, conversions and
refunds that stay consistent under retries and concurrency."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.db import connection

from programs.specs import SpecError
from referral_saas import tenancy
from tests.conftest import World
from tests.factories import MerchantFactory, make_program
from tracking.models import Advocate, Click, Conversion, Referral, Refund
from tracking.services import (
    advocate_enroll,
    click_record,
    conversion_record,
    referral_record,
    refund_record,
)

ORDER = {
    "order_id": "A-1",
    "amount": 5000,
    "currency": "EUR",
    "customer": {"email": "friend@example.com"},
}


def test_enrolling_twice_returns_the_same_advocate_with_a_friendly_code(world: World) -> None:
    program = make_program(world.acme)
    with tenancy.merchant_context(world.acme):
        first = advocate_enroll(program=program, email="Giulia.Rossi@Example.com", name="Giulia")
        again = advocate_enroll(program=program, email="giulia.rossi@example.com")
        assert (first.created, again.created) == (True, False)
        assert again.advocate.pk == first.advocate.pk
        assert re.fullmatch(r"GIULIA-[23456789A-HJ-NP-Z]{6}", first.advocate.code)
        assert Advocate.objects.count() == 1


def test_enrolment_needs_an_active_program_and_a_valid_email(world: World) -> None:
    draft = make_program(world.acme, slug="draft", status="draft")
    active = make_program(world.acme, slug="live")
    with tenancy.merchant_context(world.acme):
        with pytest.raises(SpecError) as caught:
            advocate_enroll(program=draft, email="a@example.com")
        assert caught.value.errors == {"program": "This program is not active."}
        with pytest.raises(SpecError) as caught:
            advocate_enroll(program=active, email="not-an-email")
        assert list(caught.value.errors) == ["email"]
        with pytest.raises(SpecError) as caught:
            advocate_enroll(program=active, email="a@example.com", locale="de")
        assert list(caught.value.errors) == ["locale"]
        assert Advocate.objects.count() == 0


def test_advocates_are_assigned_their_variant_once(world: World) -> None:
    variants = {
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "advocate_reward": {"kind": "account_credit", "amount": 1000},
        "friend_reward": {"kind": "fixed_discount", "amount": 1000},
    }
    from programs.specs import parse_config

    config = parse_config(
        variants, program_type="two_sided", currency="EUR", stripe_connected=False
    ).to_dict()
    program = make_program(world.acme, config=config)
    with tenancy.merchant_context(world.acme):
        keys = {
            advocate_enroll(program=program, email=f"p{i}@example.com").advocate.variant_key
            for i in range(40)
        }
    assert keys == {"a", "b"}


def test_clicks_store_a_keyed_hash_and_a_prefix_never_the_ip(world: World) -> None:
    program = make_program(world.acme)
    with tenancy.merchant_context(world.acme):
        advocate = advocate_enroll(program=program, email="adv@example.com").advocate
        click = click_record(code=advocate.code.lower(), ip="203.0.113.77", user_agent="UA")
    assert click.ip_prefix == "203.0.113.0/24"
    assert len(click.ip_hash) == 64
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(t)::text FROM tracking_click t")
        assert "203.0.113.77" not in cursor.fetchone()[0]


def test_the_first_referrer_of_a_friend_wins(world: World) -> None:
    program = make_program(world.acme)
    with tenancy.merchant_context(world.acme):
        one = advocate_enroll(program=program, email="one@example.com").advocate
        two = advocate_enroll(program=program, email="two@example.com").advocate
        first = referral_record(code=one.code, email="Friend@example.com")
        second = referral_record(code=two.code, email="friend@example.com")
        assert (first.created, second.created) == (True, False)
        assert second.referral.advocate_id == one.pk
        with pytest.raises(SpecError) as caught:
            referral_record(code=one.code, email="ONE@example.com")
        assert caught.value.errors == {"email": "An advocate cannot refer themselves."}
        assert Referral.objects.count() == 1


def test_a_repeated_order_returns_the_first_conversion(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        first = conversion_record(**ORDER)
        again = conversion_record(**{**ORDER, "amount": 9999})
        assert (first.created, again.created) == (True, False)
        assert again.conversion.pk == first.conversion.pk
        assert again.conversion.amount == 5000
        assert Conversion.objects.count() == 1
    with tenancy.merchant_context(world.globex):  # order ids are per merchant
        assert conversion_record(**ORDER).created


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"amount": -1}, "amount"),
        ({"amount": "10"}, "amount"),
        ({"amount": True}, "amount"),
        ({"currency": "EURO"}, "currency"),
        ({"customer": {"email": "nope"}}, "customer.email"),
        ({"customer": {"email": "a@example.com", "phone": "1"}}, "customer.phone"),
        ({"order_id": "has space"}, "order_id"),
        ({"occurred_at": "2026-11-01T10:00:00"}, "occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"code": "x"}, "code"),
        ({"metadata": [1]}, "metadata"),
        ({"metadata": {"big": "x" * 9000}}, "metadata"),
        ({"new_customer": "yes"}, "new_customer"),
    ],
)
def test_bad_orders_name_the_field_and_write_nothing(
    world: World, overrides: dict[str, Any], path: str
) -> None:
    with tenancy.merchant_context(world.acme):
        with pytest.raises(SpecError) as caught:
            conversion_record(**{**ORDER, **overrides})
        assert list(caught.value.errors) == [path]
        assert Conversion.objects.count() == 0


def test_refunds_partial_then_full_never_more_than_the_order(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        conversion = conversion_record(**ORDER).conversion
        refund_record(conversion=conversion, amount=2000)
        with pytest.raises(SpecError) as caught:
            refund_record(conversion=conversion, amount=3001)
        assert caught.value.errors == {
            "amount": "At most 3000 can still be refunded on this order."
        }
        rest = refund_record(conversion=conversion)
        assert rest.refund.amount == 3000
        conversion.refresh_from_db()
        assert (conversion.refunded_amount, conversion.status) == (5000, "refunded")
        with pytest.raises(SpecError):
            refund_record(conversion=conversion, amount=1)
        assert Refund.objects.count() == 2


def test_a_refund_reported_twice_is_one_refund(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        conversion = conversion_record(**ORDER).conversion
        first = refund_record(conversion=conversion, amount=1000, external_id="re_1")
        again = refund_record(conversion=conversion, amount=1000, external_id="re_1")
        assert (first.created, again.created) == (True, False)
        assert again.refund.pk == first.refund.pk
        conversion.refresh_from_db()
        assert conversion.refunded_amount == 1000


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_order() -> None:
    merchant = MerchantFactory(slug="race")
    with tenancy.merchant_context(merchant):
        conversion = conversion_record(**ORDER).conversion
    outcomes: list[str] = []

    def refund() -> None:
        try:
            with tenancy.merchant_context(merchant):
                refund_record(conversion=conversion, amount=2000)
            outcomes.append("ok")
        except SpecError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=refund) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "ok", "refused", "refused", "refused", "refused"]
    with tenancy.merchant_context(merchant):
        conversion.refresh_from_db()
        assert conversion.refunded_amount == 4000
        assert Refund.objects.count() == 2
    assert Click.unscoped_all_merchants.count() == 0


def test_a_refund_id_cannot_be_reused_on_another_order(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        first = conversion_record(**ORDER).conversion
        second = conversion_record(**{**ORDER, "order_id": "A-2"}).conversion
        refund_record(conversion=first, amount=1000, external_id="re_1")
        with pytest.raises(SpecError) as caught:
            refund_record(conversion=second, amount=1000, external_id="re_1")
        assert caught.value.errors == {
            "external_id": "This refund id was already used for another order."
        }
        second.refresh_from_db()
        assert second.refunded_amount == 0
