"""The advocate portal explains rejected orders in the advocate's words only: the pipeline's
merchant-facing `detail` (English, may name the friend) and its "info" lines never reach it."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from referral_saas import tenancy
from tests.conftest import World
from tests.factories import make_program
from tracking.links import portal_url
from tracking.models import Conversion, ConversionStatus
from tracking.services import advocate_enroll


@pytest.mark.django_db
def test_portal_shows_rule_sentences_never_the_merchant_detail(
    client: Client, world: World
) -> None:
    program = make_program(world.acme)
    with tenancy.merchant_context(world.acme):
        advocate = advocate_enroll(program=program, email="maria@example.com").advocate
        Conversion.objects.create(
            program=program,
            advocate=advocate,
            order_id="o-1",
            amount=5000,
            currency="EUR",
            customer_email="luca.secret@example.com",
            status=ConversionStatus.REJECTED,
            reasons=[
                {
                    "rule": "attribution",
                    "outcome": "info",
                    "detail": "Attributed to MARIA by code.",
                },
                {"rule": "disposable_email", "outcome": "reject", "detail": "luca.secret@x.test"},
                {"rule": "advocate_blocked", "outcome": "reject", "detail": "Blocked: fraud ring"},
            ],
        )
        url = portal_url(advocate)
    tenancy.clear()
    page = client.get(urlsplit(url).path)
    text = page.content.decode()
    assert page.status_code == 200
    assert "The friend used a disposable email address." in text
    assert "The order did not meet the program&#x27;s rules." in text
    for leaked in ("Attributed to MARIA", "luca.secret@x.test", "fraud ring"):
        assert leaked not in text
