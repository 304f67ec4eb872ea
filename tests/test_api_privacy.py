"""`POST /api/v1/privacy/export` and `/erase` through HTTP on PostgreSQL: the export's exact
content; erasure leaves no trace of the subject in this merchant's tracking tables while rows,
counts and amounts survive; another merchant's rows are untouched; idempotent; validation and
key kinds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from accounts.api.idempotency import idempotency_records_of
from accounts.models import AuditEvent, Merchant
from programs.models import Program
from programs.specs import SpecError
from referral_saas import tenancy
from rewards.models import Reward
from tests.conftest import World, make_key
from tests.factories import make_program
from tracking import services
from tracking.models import Advocate, Click, Conversion, Referral, Refund

ORIGIN = "https://shop.example.com"
SUBJECT = "luca@example.com"
SUBJECT_HASH = hashlib.sha256(SUBJECT.encode()).hexdigest()
TRACKING_MODELS = (Advocate, Click, Referral, Conversion, Refund)
# Every trace of the subject the world below stores (checked case-insensitively): emails, names,
# the code made of the name, customer id, the visit's IP (hash and prefix), user agent, visitor
# id, and the order's metadata.
TRACES = (
    "luca@",
    '"luca"',
    "luca-",
    "l.rossi",
    '"l. rossi"',
    "cus_1",
    services.ip_hash("203.0.113.7"),
    "203.0.113",
    "ua-of-luca",
    "vis-luca",
    "gift for",
)


def call(client: Client, path: str, key: str, body: Any, **headers: str) -> Any:
    payload = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        path,
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **headers,
    )


def export(client: Client, key: str, email: str = SUBJECT) -> Any:
    return call(client, "/api/v1/privacy/export", key, {"email": email})


def erase(client: Client, key: str, email: str = SUBJECT) -> Any:
    return call(client, "/api/v1/privacy/erase", key, {"email": email})


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def key(world: World) -> str:
    return make_key(world.acme).plaintext


@dataclass
class Scene:
    program: Program
    maria: Advocate  # another advocate, who referred Luca
    luca: Advocate  # the subject as an advocate
    luca_visit: Click  # the subject's own visit through Maria's link
    luca_link_click: Click  # a visitor through the subject's link
    luca_referral: Referral  # the subject as Maria's friend
    ana_referral: Referral  # a friend the subject referred
    order: Conversion  # the subject's order (attributed to Maria), partly refunded
    linked_order: Conversion  # another email, the subject's customer id
    ana_order: Conversion  # Ana's order, attributed to the subject
    refund: Refund


def build(merchant: Merchant, program: Program, client: Client, key: str) -> Scene:
    with tenancy.merchant_context(merchant):
        maria = services.advocate_enroll(program=program, email="maria@example.com", name="Maria")
        luca = services.advocate_enroll(
            program=program, email="Luca@Example.com", name="Luca", customer_id="cus_1"
        )
        luca_visit = services.click_record(
            code=maria.advocate.code,
            landing_url=f"{ORIGIN}/?ref={maria.advocate.code}",
            visitor_id="vis-luca",
            ip="203.0.113.7",
            user_agent="UA-of-Luca",
        )
        luca_link_click = services.click_record(
            code=luca.advocate.code,
            landing_url=f"{ORIGIN}/?ref={luca.advocate.code}",
            visitor_id="vis-ana",
            ip="198.51.100.9",
            user_agent="UA-of-Ana",
        )
    # The subject's referral through the API with an Idempotency-Key: its stored response
    # holds the email.
    response = call(
        client,
        "/api/v1/referrals",
        key,
        {
            "click_id": luca_visit.public_id,
            "email": SUBJECT,
            "name": "Luca",
            "customer_id": "cus_1",
        },
        HTTP_IDEMPOTENCY_KEY=f"ref-{merchant.slug}",
    )
    assert response.status_code == 201, response.content
    with tenancy.merchant_context(merchant):
        luca_referral = Referral.objects.get(public_id=response.json()["id"])
        ana_referral = services.referral_record(
            click_id=luca_link_click.public_id, email="ana@example.com", name="Ana"
        ).referral
        order = services.conversion_record(
            order_id="ORD-1",
            amount=8900,
            currency="EUR",
            customer={"email": "LUCA@example.com", "id": "cus_1", "name": "Luca"},
            code=maria.advocate.code,
            click_id=luca_visit.public_id,
            new_customer=True,
            metadata={"note": "gift for luca@example.com", "channel": "web"},
            occurred_at="2026-11-20T10:00:00Z",
        ).conversion
        linked_order = services.conversion_record(
            order_id="ORD-2",
            amount=1200,
            currency="EUR",
            customer={"email": "l.rossi@example.net", "id": "cus_1", "name": "L. Rossi"},
            occurred_at="2026-11-21T10:00:00Z",
        ).conversion
        ana_order = services.conversion_record(
            order_id="ORD-ANA",
            amount=5000,
            currency="EUR",
            customer={"email": "ana@example.com", "name": "Ana"},
            code=luca.advocate.code,
            occurred_at="2026-11-21T11:00:00Z",
        ).conversion
        # What the pipeline would have decided.
        Conversion.objects.filter(pk=order.pk).update(
            advocate=maria.advocate,
            referral=luca_referral,
            program=program,
            reasons=[{"rule": "self_referral", "outcome": "pass", "detail": "luca@example.com"}],
        )
        Conversion.objects.filter(pk=ana_order.pk).update(
            advocate=luca.advocate, referral=ana_referral, program=program
        )
        refund = services.refund_record(conversion=order, amount=2000, external_id="re_1").refund
        order.refresh_from_db()
        ana_order.refresh_from_db()
    return Scene(
        program=program,
        maria=maria.advocate,
        luca=luca.advocate,
        luca_visit=luca_visit,
        luca_link_click=luca_link_click,
        luca_referral=luca_referral,
        ana_referral=ana_referral,
        order=order,
        linked_order=linked_order,
        ana_order=ana_order,
        refund=refund,
    )


@pytest.fixture
def scene(client: Client, world: World, key: str) -> Scene:
    return build(world.acme, make_program(world.acme), client, key)


@pytest.fixture
def outsider(client: Client, world: World, scene: Scene) -> Scene:
    """Globex knows the same people (same emails, same customer id)."""
    return build(world.globex, make_program(world.globex), client, make_key(world.globex).plaintext)


def rows_as_text(merchant: Merchant, models: tuple[type[Any], ...] = TRACKING_MODELS) -> str:
    dump = []
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(
                f"SELECT coalesce(string_agg(row_to_json(t)::text, '\n'), '') "  # noqa: S608
                f'FROM "{model._meta.db_table}" t WHERE merchant_id = %s',
                [merchant.pk],
            )
            dump.append(cursor.fetchone()[0])
    return "\n".join(dump)


def stored_responses(merchant: Merchant) -> str:
    """The merchant's stored `Idempotency-Key` records as text, in Redis or the database."""
    return "\n".join(
        f"{record.key}\n{record.response_body}" for record in idempotency_records_of(merchant)
    )


def snapshot(merchant: Merchant) -> dict[str, Any]:
    with tenancy.merchant_context(merchant):
        rows: dict[str, Any] = {
            model.__name__: list(model.objects.order_by("pk").values()) for model in TRACKING_MODELS
        }
    return rows | {"IdempotencyRecord": idempotency_records_of(merchant)}


def aggregates(merchant: Merchant) -> dict[str, Any]:
    """What must survive erasure: rows, links and money."""
    with tenancy.merchant_context(merchant):
        return {
            "advocates": list(Advocate.objects.order_by("pk").values_list("pk", "program_id")),
            "clicks": list(Click.objects.order_by("pk").values_list("pk", "advocate_id")),
            "referrals": list(
                Referral.objects.order_by("pk").values_list("pk", "advocate_id", "click_id")
            ),
            "conversions": list(
                Conversion.objects.order_by("pk").values_list(
                    "pk", "advocate_id", "referral_id", "amount", "refunded_amount", "status"
                )
            ),
            "refunds": list(
                Refund.objects.order_by("pk").values_list("pk", "conversion_id", "amount")
            ),
        }


# --- Export ----------------------------------------------------------------------------------


def test_export_holds_every_row_about_the_subject_and_nothing_else(
    client: Client, world: World, key: str, scene: Scene, outsider: Scene
) -> None:
    s = scene
    response = export(client, key, "  LUCA@example.COM ")
    with tenancy.merchant_context(world.acme):
        friend_reward = Reward.objects.get(referral=s.luca_referral, recipient="friend")
    no_evidence = dict.fromkeys(
        ("visitor_id", "ip_hash", "ip_prefix", "user_agent", "country", "payment_fingerprint"), ""
    )

    assert response.status_code == 200, response.content
    body = response.json()
    body.pop("payouts", None)  # the payouts app's own section, tested with payouts
    generated_at = body.pop("generated_at")
    assert generated_at.endswith("Z")
    assert datetime.fromisoformat(generated_at)
    order_fields = {
        "amount": 8900,
        "currency": "EUR",
        "refunded_amount": 2000,
        "status": "received",
        "occurred_at": "2026-11-20T10:00:00.000000Z",
        "created_at": iso(s.order.created_at),
    }
    assert body == {
        "object": "privacy_export",
        "livemode": True,
        "email": SUBJECT,
        "advocates": [
            {
                "id": s.luca.public_id,
                "program": s.program.public_id,
                "email": SUBJECT,
                "name": "Luca",
                "customer_id": "cus_1",
                "code": s.luca.code,
                "locale": "en",
                "variant": None,
                "created_at": iso(s.luca.created_at),
                "evidence": {"ip_hash": "", "visitor_id": ""},
                "blocked_reason": "",
                # Ana's visit, referral and order: ids, times and amounts, not Ana's data.
                "clicks": [
                    {
                        "id": s.luca_link_click.public_id,
                        "created_at": iso(s.luca_link_click.created_at),
                    }
                ],
                "referrals": [
                    {
                        "id": s.ana_referral.public_id,
                        "click": s.luca_link_click.public_id,
                        "created_at": iso(s.ana_referral.created_at),
                    }
                ],
                "conversions": [
                    {
                        "id": s.ana_order.public_id,
                        "amount": 5000,
                        "currency": "EUR",
                        "refunded_amount": 0,
                        "status": "received",
                        "occurred_at": "2026-11-21T11:00:00.000000Z",
                        "created_at": iso(s.ana_order.created_at),
                    }
                ],
            }
        ],
        "referrals": [
            {
                "id": s.luca_referral.public_id,
                "program": s.program.public_id,
                "advocate": s.maria.public_id,
                "email": SUBJECT,
                "customer_id": "cus_1",
                "name": "Luca",
                "click": {
                    "id": s.luca_visit.public_id,
                    "ip_prefix": "203.0.113.0/24",
                    "user_agent": "UA-of-Luca",
                    "referer": f"{ORIGIN}/?ref={s.maria.code}",
                    "visitor_id": "vis-luca",
                    "created_at": iso(s.luca_visit.created_at),
                },
                "created_at": iso(s.luca_referral.created_at),
            }
        ],
        "conversions": [
            {
                "id": s.order.public_id,
                "order_id": "ORD-1",
                **order_fields,
                "program": s.program.public_id,
                "advocate": s.maria.public_id,
                "referral": s.luca_referral.public_id,
                "customer": {"email": SUBJECT, "id": "cus_1", "name": "Luca"},
                "referral_code": s.maria.code,
                "click_id": s.luca_visit.public_id,
                "new_customer": True,
                "metadata": {"note": "gift for luca@example.com", "channel": "web"},
                "evidence": no_evidence,
                "refunds": [
                    {
                        "id": s.refund.public_id,
                        "amount": 2000,
                        "external_id": "re_1",
                        "created_at": iso(s.refund.created_at),
                    }
                ],
            },
            {
                # Another email, linked by the customer id found on the subject's rows.
                "id": s.linked_order.public_id,
                "order_id": "ORD-2",
                "amount": 1200,
                "currency": "EUR",
                "refunded_amount": 0,
                "status": "received",
                "program": None,
                "advocate": None,
                "referral": None,
                "customer": {"email": "l.rossi@example.net", "id": "cus_1", "name": "L. Rossi"},
                "referral_code": "",
                "click_id": "",
                "new_customer": None,
                "metadata": {},
                "evidence": no_evidence,
                "occurred_at": "2026-11-21T10:00:00.000000Z",
                "created_at": iso(s.linked_order.created_at),
                "refunds": [],
            },
        ],
        # What apps above tracking keep (retention.export): Luca's friend offer, code included.
        "rewards": [
            {
                "id": friend_reward.public_id,
                "recipient": "friend",
                "kind": friend_reward.kind,
                "amount": friend_reward.amount,
                "percent": None,
                "points": None,
                "currency": "EUR",
                "label": "",
                "status": friend_reward.status,
                "code": friend_reward.fulfilment_code,
                "created_at": iso(friend_reward.created_at),
                "issued_at": iso(friend_reward.issued_at),
            }
        ],
        "consents": [],
        "emails": [],
        "retention": {
            "click_personal_fields_months": 13,
            "consent_visitor_id_months": 13,
            "unconverted_referral_email_months": 12,
            "audit_log": "kept",
        },
    }
    # Nothing of Globex's (same people there) and nothing of Ana's personal data.
    text = json.dumps(body)
    assert outsider.luca.public_id not in text
    assert outsider.order.public_id not in text
    assert [trace for trace in ("ana@example.com", "UA-of-Ana", "vis-ana") if trace in text] == []

    with tenancy.merchant_context(world.acme):
        event = AuditEvent.objects.get(action="privacy.exported")
    assert event.data == {
        "email_sha256": SUBJECT_HASH,
        "advocates": 1,
        "referrals": 1,
        "conversions": 2,
    }
    assert event.actor_label.startswith("API key sk_live_")
    assert SUBJECT not in json.dumps(event.data)


def test_export_of_an_unknown_email_is_empty(client: Client, key: str, scene: Scene) -> None:
    body = export(client, key, "nobody@example.com").json()
    assert (body["advocates"], body["referrals"], body["conversions"]) == ([], [], [])
    assert body["email"] == "nobody@example.com"


# --- Erasure ---------------------------------------------------------------------------------


def test_erase_leaves_no_trace_of_the_subject_while_rows_and_amounts_survive(
    client: Client, world: World, key: str, scene: Scene, outsider: Scene
) -> None:
    before = aggregates(world.acme)
    text_before = (rows_as_text(world.acme) + stored_responses(world.acme)).lower()
    assert all(trace in text_before for trace in TRACES)  # the scan would see them
    globex_before = snapshot(world.globex)
    old_code = scene.luca.code

    response = erase(client, key, "Luca@Example.com")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body.pop("erased_at").endswith("Z")
    assert body == {
        "object": "privacy_erasure",
        "livemode": True,
        "email_hash": SUBJECT_HASH,
        "erased": {
            "advocates": 1,
            # Luca's own visit and the visit through Luca's link.
            "clicks": 2,
            "referrals": 1,
            # ORD-1 and ORD-2 (same customer id); Ana's order is Ana's.
            "conversions": 2,
            "idempotency_records": 1,
            "stripe_events": 0,
        },
    }
    # No table of this merchant's tracking data (nor a stored response) mentions the subject.
    text = (rows_as_text(world.acme) + stored_responses(world.acme)).lower()
    assert [trace for trace in TRACES if trace in text] == []
    # Every row, link and amount survives.
    assert aggregates(world.acme) == before
    with tenancy.merchant_context(world.acme):
        luca = Advocate.objects.get(pk=scene.luca.pk)
        assert luca.email == f"erased+{luca.public_id.lower()}@invalid"
        assert (luca.name, luca.customer_id) == ("", "")
        assert luca.code.startswith("ERASED-")
        assert luca.code != old_code
        # Ana's order still names the advocate's (new) code; Ana's data is untouched.
        ana_order = Conversion.objects.get(pk=scene.ana_order.pk)
        assert ana_order.referral_code == luca.code
        assert (ana_order.customer_email, ana_order.customer_name) == ("ana@example.com", "Ana")
        assert Referral.objects.get(pk=scene.ana_referral.pk).email == "ana@example.com"
        order = Conversion.objects.get(pk=scene.order.pk)
        assert order.customer_email == f"erased+{order.public_id.lower()}@invalid"
        assert (order.customer_id, order.customer_name, order.metadata) == ("", "", {})
        assert order.reasons == [{"rule": "self_referral", "outcome": "pass", "detail": "[erased]"}]
        referral = Referral.objects.get(pk=scene.luca_referral.pk)
        assert referral.email == f"erased+{referral.public_id.lower()}@invalid"
        visit = Click.objects.get(pk=scene.luca_visit.pk)
        assert (visit.ip_hash, visit.ip_prefix, visit.user_agent, visit.referer) == ("",) * 4
        assert visit.advocate_id == scene.maria.pk
        # The advocate's old link no longer works.
        with pytest.raises(SpecError):
            services.click_record(code=old_code)
        # The audit log keeps the legal record, with the email hashed only.
        event = AuditEvent.objects.get(action="privacy.erased")
    assert event.data == {"email_sha256": SUBJECT_HASH, "erased": body["erased"]}
    # The advocate stats still count Ana's click, referral and order.
    stats = client.get(
        f"/api/v1/advocates/{scene.luca.public_id}", HTTP_AUTHORIZATION=f"Bearer {key}"
    ).json()["stats"]
    assert stats == {"clicks": 1, "referrals": 1, "conversions": 1}

    # Globex's rows about the same people are untouched.
    assert snapshot(world.globex) == globex_before
    globex_text = rows_as_text(world.globex).lower()
    assert SUBJECT in globex_text
    assert "cus_1" in globex_text
    with tenancy.merchant_context(world.globex):
        assert not AuditEvent.objects.filter(action__startswith="privacy.").exists()


def test_erase_is_idempotent(client: Client, world: World, key: str, scene: Scene) -> None:
    first = erase(client, key).json()
    after_first = snapshot(world.acme)

    second = erase(client, key)

    assert second.status_code == 200
    assert second.json()["erased"] == {
        "advocates": 0,
        "clicks": 0,
        "referrals": 0,
        "conversions": 0,
        "idempotency_records": 0,
        "stripe_events": 0,
    }
    assert first["email_hash"] == second.json()["email_hash"]
    assert snapshot(world.acme) == after_first
    body = export(client, key).json()
    assert (body["advocates"], body["referrals"], body["conversions"]) == ([], [], [])


# --- Bad input and key kinds -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/privacy/export", "/api/v1/privacy/erase"])
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"email": "luca@"}, "email"),
        ({"email": ""}, "email"),
        ({"email": 42}, "email"),
        ({}, "email"),
        ({"email": SUBJECT, "name": "Luca"}, "name"),
        ({"email": "luca\x00@example.com"}, "email"),
        ([SUBJECT], None),
    ],
)
def test_bad_input_is_400_naming_the_field_and_changes_nothing(
    client: Client, world: World, key: str, scene: Scene, path: str, body: Any, param: str | None
) -> None:
    before = snapshot(world.acme)

    response = call(client, path, key, body)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert snapshot(world.acme) == before
    with tenancy.merchant_context(world.acme):
        assert not AuditEvent.objects.filter(action__startswith="privacy.").exists()


@pytest.mark.parametrize("path", ["/api/v1/privacy/export", "/api/v1/privacy/erase"])
def test_publishable_key_is_403_and_changes_nothing(
    client: Client, world: World, scene: Scene, path: str
) -> None:
    pk = make_key(world.acme, "publishable", [ORIGIN]).plaintext
    before = snapshot(world.acme)

    response = call(client, path, pk, {"email": SUBJECT}, HTTP_ORIGIN=ORIGIN)

    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"
    assert "Access-Control-Allow-Origin" not in response
    assert snapshot(world.acme) == before


def test_without_a_key_is_401(client: Client, scene: Scene) -> None:
    response = client.post(
        "/api/v1/privacy/erase", json.dumps({"email": SUBJECT}), content_type="application/json"
    )
    assert response.status_code == 401


def test_erase_closes_stripe_events_still_waiting_with_the_subjects_data(
    client: Client, world: World, key: str
) -> None:
    # given a Stripe refund that waits for its order and carries the subject's email
    from tracking.models import StripeEvent

    with tenancy.merchant_context(world.acme):
        waiting = StripeEvent.objects.create(
            event_id="evt_1",
            type="charge.refunded",
            waiting_for=["pi_1"],
            payload={"data": {"object": {"billing_details": {"email": "Luca@Example.com"}}}},
        )
        other = StripeEvent.objects.create(
            event_id="evt_2",
            type="charge.refunded",
            waiting_for=["pi_2"],
            payload={"data": {"object": {"billing_details": {"email": "ana@example.com"}}}},
        )

    # when the subject is erased
    response = erase(client, key)

    # then the waiting payload is gone and the event closed; someone else's is untouched
    assert response.json()["erased"]["stripe_events"] == 1
    with tenancy.merchant_context(world.acme):
        waiting.refresh_from_db()
        other.refresh_from_db()
    assert (waiting.payload, waiting.waiting_for) == (None, [])
    assert waiting.processed_at is not None
    assert waiting.outcome.startswith("erased:")
    assert other.payload is not None
    assert other.processed_at is None
