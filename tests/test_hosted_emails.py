"""Advocate and friend emails sent by workers: each exactly once, friends only when allowed."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from hosted.models import FriendOptOut, HostedSettings, SentEmail
from hosted.tasks import (
    email_advocate_welcome_task,
    email_reward_earned_task,
    email_tier_reached_task,
)
from programs.models import Program
from referral_saas import tenancy
from referral_saas.workers import MissingMerchantId
from rewards.models import Reward
from tests.conftest import World
from tests.factories import make_program
from tracking.models import Advocate, Conversion
from tracking.services import advocate_enroll


@pytest.fixture
def tiered(world: World) -> Program:
    return make_program(world.acme, type="tiered", slug="tiers")


def enrol(program: Program, locale: str = "pl") -> Advocate:
    with tenancy.merchant_context(program.merchant):
        return advocate_enroll(
            program=program, email="maria@example.com", name="Maria", locale=locale
        ).advocate


def reward(advocate: Advocate, **fields: Any) -> Reward:
    with tenancy.merchant_context(advocate.merchant):
        conversion = Conversion.objects.create(
            program=advocate.program,
            advocate=advocate,
            order_id=f"o-{fields.get('tier', 0)}-{fields.get('recipient', 'a')}",
            amount=5000,
            currency="EUR",
            customer_email="luca@example.com",
            status="qualified",
        )
        values = {
            "recipient": "advocate",
            "advocate": advocate,
            "conversion": conversion,
            "kind": "account_credit",
            "amount": 1000,
            "currency": "EUR",
            "fulfilment_method": "generated_code",
            "fulfilment_code": "THANKS-7Q2X",
            "status": "issued",
        }
        values.update(fields)
        return Reward.objects.create(**values)


def sent_keys(world: World) -> list[tuple[str, str]]:
    with tenancy.merchant_context(world.acme):
        return list(SentEmail.objects.order_by("key").values_list("key", "status"))


def test_welcome_email_is_sent_once_in_the_advocates_language(
    world: World, tiered: Program
) -> None:
    advocate = enrol(tiered, locale="pl")
    email_advocate_welcome_task(merchant_id=world.acme.pk, advocate_id=advocate.pk)
    email_advocate_welcome_task(merchant_id=world.acme.pk, advocate_id=advocate.pk)  # redelivered

    [email] = mail.outbox
    assert email.to == ["maria@example.com"]
    assert email.extra_headers["Content-Language"] == "pl"
    assert email.from_email.startswith("Acme <")
    assert advocate.code in email.body
    assert "/portal/" in email.body
    html = str(email.alternatives[0][0])
    assert '<html lang="pl">' in html
    assert f"/r/{advocate.code}/qr.png" in html
    assert sent_keys(world) == [(f"welcome:{advocate.public_id}", "sent")]


def test_a_failed_send_is_retried_not_lost(world: World, tiered: Program, monkeypatch: Any) -> None:
    advocate = enrol(tiered)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("SMTP down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    with pytest.raises(OSError, match="SMTP down"):
        email_advocate_welcome_task.run(merchant_id=world.acme.pk, advocate_id=advocate.pk)
    assert sent_keys(world) == []  # the claim is released for the retry
    monkeypatch.undo()
    email_advocate_welcome_task(merchant_id=world.acme.pk, advocate_id=advocate.pk)
    assert len(mail.outbox) == 1


def test_reward_earned_goes_to_the_advocate_once_with_the_code(
    world: World, tiered: Program
) -> None:
    advocate = enrol(tiered, locale="it")
    earned = reward(advocate)
    email_reward_earned_task(merchant_id=world.acme.pk, reward_id=earned.pk)
    email_reward_earned_task(merchant_id=world.acme.pk, reward_id=earned.pk)
    [email] = mail.outbox
    assert email.to == ["maria@example.com"]
    assert "THANKS-7Q2X" in email.body
    assert "10" in email.subject
    assert "€" in email.subject


def test_friend_reward_email_only_when_friend_emails_are_on_and_not_opted_out(
    world: World, tiered: Program
) -> None:
    advocate = enrol(tiered)
    off = reward(advocate, recipient="friend", tier=0)
    email_reward_earned_task(merchant_id=world.acme.pk, reward_id=off.pk)
    assert mail.outbox == []

    with tenancy.merchant_context(world.acme):
        HostedSettings.objects.create(program=tiered, friend_emails_enabled=True)
    on = reward(advocate, recipient="friend", tier=1)
    email_reward_earned_task(merchant_id=world.acme.pk, reward_id=on.pk)
    [email] = mail.outbox
    assert email.to == ["luca@example.com"]
    assert "/opt-out/" in email.body
    assert "/portal/" not in email.body  # the advocate's portal is not the friend's

    with tenancy.merchant_context(world.acme):
        FriendOptOut.objects.create(email="LUCA@example.com")
    opted_out = reward(advocate, recipient="friend", tier=2)
    email_reward_earned_task(merchant_id=world.acme.pk, reward_id=opted_out.pk)
    assert len(mail.outbox) == 1
    assert sent_keys(world) == sorted(
        [
            (f"reward:{off.public_id}", "skipped"),
            (f"reward:{on.public_id}", "sent"),
            (f"reward:{opted_out.public_id}", "skipped"),
        ]
    )


def test_tier_reached_email_names_the_tier_and_the_next_one(world: World, tiered: Program) -> None:
    advocate = enrol(tiered, locale="en")
    first = reward(advocate, tier=1)
    email_tier_reached_task(merchant_id=world.acme.pk, reward_id=first.pk)
    email_tier_reached_task(merchant_id=world.acme.pk, reward_id=first.pk)
    [email] = mail.outbox
    text = email.body.replace("\xa0", " ")
    assert "1 friend who ordered" in text
    assert "4 more friends to €75 account credit" in text
    assert email.subject == "1 friend! You reached a new reward level"


def test_emails_fail_closed_without_a_merchant_and_stay_inside_it(
    world: World, tiered: Program
) -> None:
    advocate = enrol(tiered)
    with pytest.raises(MissingMerchantId):
        email_advocate_welcome_task(advocate_id=advocate.pk)  # type: ignore[call-arg]
    with pytest.raises(Advocate.DoesNotExist):
        email_advocate_welcome_task(merchant_id=world.globex.pk, advocate_id=advocate.pk)
    assert mail.outbox == []
