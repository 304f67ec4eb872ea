"""CSV exports: streamed over a server-side cursor, defused against formula injection, only the
merchant's own rows, admin+ only and audited."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, Role
from referral_saas import tenancy
from rewards.exports import csv_cell
from rewards.models import Reward
from tests.conftest import World, login
from tests.factories import UserFactory, add_member, make_program
from tracking.models import Advocate, Conversion, Referral
from tracking.services import conversion_record

pytestmark = pytest.mark.django_db


def read_csv(response: Any) -> list[list[str]]:
    assert response.streaming, "exports must stream"
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


@pytest.fixture
def acme_data(world: World) -> dict[str, Any]:
    with tenancy.merchant_context(world.acme):
        program = make_program(world.acme)
        other = make_program(world.acme, slug="other", name="Other")
        maria = Advocate.objects.create(
            program=program, email="maria@example.com", name="=1+2", code="MARIA1"
        )
        Advocate.objects.create(program=other, email="ugo@example.com", name="Ugo", code="UGO1")
        Referral.objects.create(program=program, advocate=maria, email="@friend@example.com")
        conversion = conversion_record(
            order_id="-ORDER-1",
            amount=5000,
            currency="EUR",
            customer={"email": "friend@example.com", "name": "+SUM(A1)"},
            code="MARIA1",
        ).conversion
        Conversion.objects.filter(pk=conversion.pk).update(program=program, advocate=maria)
        reward = Reward.objects.create(
            recipient="advocate",
            advocate=maria,
            conversion=conversion,
            program=program,
            kind="account_credit",
            amount=1000,
            currency="EUR",
            fulfilment_method="manual",
        )
    with tenancy.merchant_context(world.globex):
        globex_program = make_program(world.globex)
        Advocate.objects.create(
            program=globex_program, email="spy@globex.example", name="Spy", code="SPY1"
        )
    return {"program": program, "other": other, "maria": maria, "reward": reward}


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain = text", "plain = text"),
        (None, ""),
        (True, "true"),
        (1500, "1500"),
        (-5, "'-5"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
    ],
)
def test_cells_are_defused(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_each_export_streams_the_merchants_rows_defused(
    client: Client, world: World, acme_data: dict[str, Any]
) -> None:
    login(client, world.alice)
    advocates = read_csv(client.get("/m/acme/exports/advocates.csv"))
    assert advocates[0][:4] == ["advocate_id", "program_id", "email", "name"]
    assert sorted(row[2] for row in advocates[1:]) == ["maria@example.com", "ugo@example.com"]
    assert "'=1+2" in [row[3] for row in advocates[1:]]
    referrals = read_csv(client.get("/m/acme/exports/referrals.csv"))
    assert [row[4] for row in referrals[1:]] == ["'@friend@example.com"]
    conversions = read_csv(client.get("/m/acme/exports/conversions.csv"))
    assert [(row[4], row[9]) for row in conversions[1:]] == [("'-ORDER-1", "'+SUM(A1)")]
    rewards = read_csv(client.get("/m/acme/exports/rewards.csv"))
    assert [(row[0], row[9], row[12]) for row in rewards[1:]] == [
        (acme_data["reward"].public_id, "10.00", "EUR")  # major units, with the currency
    ]
    body = "".join(str(row) for row in advocates + referrals + conversions + rewards)
    assert "globex" not in body
    assert "Spy" not in body


def test_globex_export_has_none_of_acme_rows(
    client: Client, world: World, acme_data: dict[str, Any]
) -> None:
    login(client, world.charlie)
    rows = read_csv(client.get("/m/globex/exports/advocates.csv"))
    assert [row[2] for row in rows[1:]] == ["spy@globex.example"]
    assert read_csv(client.get("/m/globex/exports/rewards.csv"))[1:] == []
    assert client.get("/m/acme/exports/advocates.csv").status_code == 404


def test_filters_by_program_and_dates_and_refuses_bad_ones(
    client: Client, world: World, acme_data: dict[str, Any]
) -> None:
    login(client, world.alice)
    other = acme_data["other"].public_id
    rows = read_csv(client.get(f"/m/acme/exports/advocates.csv?program={other}"))
    assert [row[2] for row in rows[1:]] == ["ugo@example.com"]
    with tenancy.merchant_context(world.acme):
        Advocate.objects.filter(email="ugo@example.com").update(
            created_at=timezone.now() - timedelta(days=40)
        )
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    rows = read_csv(client.get(f"/m/acme/exports/advocates.csv?since={since}"))
    assert [row[2] for row in rows[1:]] == ["maria@example.com"]
    for query in ("since=yesterday", "program=prg_nope", "since=2026-02-01&until=2026-01-01"):
        response = client.get(f"/m/acme/exports/advocates.csv?{query}")
        assert response.status_code == 400, query
    with tenancy.merchant_context(world.acme):
        exports = list(
            AuditEvent.objects.filter(action="export.advocates").values_list("data", flat=True)
        )
    # refused exports are not recorded; the two that ran are, with their filters
    assert exports == [
        {"program": other, "since": "", "until": ""},
        {"program": "", "since": since, "until": ""},
    ]


def test_exports_are_admin_only(client: Client, world: World, acme_data: dict[str, Any]) -> None:
    reviewer = UserFactory(email="rita@example.com")
    add_member(world.acme, reviewer, Role.REVIEWER)
    for user in (world.bob, reviewer):
        login(client, user)
        assert client.get("/m/acme/exports/").status_code == 403
        for kind in ("advocates", "referrals", "conversions", "rewards"):
            assert client.get(f"/m/acme/exports/{kind}.csv").status_code == 403
    with tenancy.merchant_context(world.acme):
        assert not AuditEvent.objects.filter(action__startswith="export.").exists()
    admin = UserFactory(email="adam@example.com")
    add_member(world.acme, admin, Role.ADMIN)
    login(client, admin)
    page = client.get("/m/acme/exports/")
    assert page.status_code == 200
    assert 'href="/m/acme/exports/"' in page.content.decode()  # in the nav for admins


def test_a_large_export_streams_in_chunks(client: Client, world: World) -> None:
    with tenancy.merchant_context(world.acme):
        program = make_program(world.acme)
        Advocate.objects.bulk_create(
            Advocate(program=program, email=f"a{n}@example.com", code=f"C{n:05}")
            for n in range(4500)
        )
    login(client, world.alice)
    response = client.get("/m/acme/exports/advocates.csv")
    chunks = 0
    lines = 0
    for chunk in response.streaming_content:
        chunks += 1
        lines += chunk.count(b"\n")
    assert lines == 4501  # header + every row
    assert chunks == 4501  # one line at a time: nothing buffers the whole file
    assert response["Content-Disposition"].startswith('attachment; filename="acme-advocates-')
