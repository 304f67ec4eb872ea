"""The friend's offer through the API (DESIGN.md §3, "Friend offer"): `POST /api/v1/referrals`
issues the friend's own code at once; asking again (any spelling of the same address, or fifty
times at once) gives the same code; the issue-time fraud rules give no code with a reason, or a
held reward; an order carrying the code is attributed to the advocate and redeems it once; a
later order with it is `friend_code_reused`; a refund records the friend's spent discount;
unspent offers expire with time. Journey tests: they run on PostgreSQL and on SQLite."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connections
from django.test import Client

from programs.models import Program
from programs.specs import parse_config
from referral_saas import tenancy
from rewards import pipeline
from rewards.models import Reward, RewardRecipient, RewardStatus
from tests.conftest import World, make_key
from tests.factories import make_program
from tracking import services
from tracking.models import Advocate, Conversion, Referral

# Transactional: the API's conversions are evaluated after commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "https://shop.example.com"


def call(client: Client, path: str, key: str, body: Any, **headers: Any) -> Any:
    return client.generic(
        "POST",
        path,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **headers,
    )


def config(program_type: str = "two_sided", **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "advocate_reward": {"kind": "account_credit", "amount": 1000},
        "friend_reward": {
            "kind": "percent_discount",
            "percent": 15,
            "fulfilment": "generated_code",
            "expires_after_days": 30,
        },
        "rules": {"hold_days": 0, "new_customers_only": True},
    }
    raw.update(extra)
    return parse_config(
        raw, program_type=program_type, currency="EUR", stripe_connected=False
    ).to_dict()


@pytest.fixture
def key(world: World) -> str:
    return make_key(world.acme).plaintext


@pytest.fixture
def program(world: World) -> Program:
    return make_program(world.acme, config=config())


@pytest.fixture
def maria(world: World, program: Program) -> Advocate:
    with tenancy.merchant_context(world.acme):
        return services.advocate_enroll(
            program=program, email="maria.rossi@gmail.com", name="Maria"
        ).advocate


def ask(
    client: Client, key: str, advocate: Advocate, email: str, origin: str = "", **extra: Any
) -> Any:
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    body = {"code": advocate.code, "email": email, **extra}
    return call(client, "/api/v1/referrals", key, body, **headers)


def friend_rewards(world: World) -> list[Reward]:
    with tenancy.merchant_context(world.acme):
        return list(Reward.objects.filter(recipient=RewardRecipient.FRIEND).order_by("pk"))


def order(client: Client, key: str, order_id: str, email: str, **extra: Any) -> Conversion:
    body = {
        "order_id": order_id,
        "amount": 8000,
        "currency": "EUR",
        "customer": {"email": email},
        **extra,
    }
    response = call(client, "/api/v1/conversions", key, body)
    assert response.status_code == 202, response.json()
    return Conversion.unscoped_all_merchants.get(order_id=order_id)


def test_the_friend_gets_their_own_code_at_once_and_the_same_one_again(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    first = ask(client, key, maria, "Luca.Bianchi@example.com", locale="it")
    again = ask(client, key, maria, "luca.bianchi+shop@example.com")

    assert first.status_code == 201, first.json()
    offer = first.json()["friend_reward"]
    [reward] = friend_rewards(world)
    assert {k: v for k, v in offer.items() if k != "livemode"} == {
        "id": reward.public_id,
        "object": "reward",
        "recipient": "friend",
        "kind": "percent_discount",
        "amount": None,
        "percent": 15,
        "points": None,
        "currency": None,
        "status": "issued",
        "fulfilment": {"method": "generated_code", "code": reward.fulfilment_code},
        "conversion": None,
        "expires_at": offer["expires_at"],
        "created_at": offer["created_at"],
    }
    assert len(reward.fulfilment_code) == 10
    assert first.json()["friend_reward_reason"] is None
    assert reward.friend_locale == "it"
    assert reward.conversion_id is None
    assert reward.expires_at is not None
    assert reward.expires_at - reward.created_at == timedelta(days=30)
    # The plus-tag is the same person: the same reward and code, nothing new.
    assert again.json()["friend_reward"] == offer
    assert len(friend_rewards(world)) == 1
    # The friend key is a keyed hash, never the address.
    assert "luca" not in reward.friend_key


def test_a_publishable_key_gets_the_code_but_not_who_referred(
    client: Client, world: World, maria: Advocate
) -> None:
    pk = make_key(world.acme, "publishable", [ORIGIN]).plaintext

    response = ask(client, pk, maria, "luca@example.com", origin=ORIGIN)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) - {"livemode"} == {
        "id",
        "object",
        "program",
        "friend_reward",
        "friend_reward_reason",
    }
    assert body["friend_reward"]["fulfilment"]["code"]
    assert "advocate" not in body["friend_reward"]
    [reward] = friend_rewards(world)
    assert reward.friend_ip_hash != ""  # the browser's IP, hashed, for velocity per IP


def test_the_advocates_own_gmail_address_gets_no_code(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    response = ask(client, key, maria, "Maria.Rossi+friend@googlemail.com")

    assert response.status_code == 201, response.json()
    assert response.json()["friend_reward"] is None
    assert response.json()["friend_reward_reason"] == {
        "code": "self_referral",
        "message": "You cannot use your own referral link.",
    }
    assert friend_rewards(world) == []


def test_a_throwaway_address_gets_a_held_reward_without_a_code(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    response = ask(client, key, maria, "someone@mailinator.com")

    offer = response.json()["friend_reward"]
    assert offer["status"] == "held"
    assert "code" not in offer["fulfilment"]
    assert response.json()["friend_reward_reason"]["code"] == "held"
    [reward] = friend_rewards(world)
    assert reward.fulfilment_code == ""
    assert [r["rule"] for r in reward.reasons] == ["disposable_email", "friend_offer"]


def test_an_existing_customer_of_a_new_customers_program_gets_no_code(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    order(client, key, "OLD-1", "luca@example.com")

    response = ask(client, key, maria, "LUCA@example.com")

    assert response.json()["friend_reward"] is None
    assert response.json()["friend_reward_reason"]["code"] == "existing_customer"
    assert friend_rewards(world) == []


def test_velocity_per_advocate_holds_offers_beyond_the_limit(
    client: Client, world: World, key: str
) -> None:
    program = make_program(
        world.acme,
        slug="fast",
        config=config(fraud={"thresholds": {"velocity_per_advocate_per_day": 2}}),
    )
    with tenancy.merchant_context(world.acme):
        paul = services.advocate_enroll(program=program, email="paul@example.com").advocate

    answers = [ask(client, key, paul, f"friend{n}@example.com").json() for n in range(3)]

    assert [a["friend_reward"]["status"] for a in answers] == ["issued", "issued", "held"]
    assert answers[2]["friend_reward_reason"]["code"] == "held"


def test_one_sided_programs_offer_the_friend_nothing(
    client: Client, world: World, key: str
) -> None:
    program = make_program(world.acme, type="one_sided", slug="solo")
    with tenancy.merchant_context(world.acme):
        paul = services.advocate_enroll(program=program, email="paul@example.com").advocate

    response = ask(client, key, paul, "luca@example.com")

    assert response.json()["friend_reward"] is None
    assert response.json()["friend_reward_reason"]["code"] == "no_friend_offer"
    assert friend_rewards(world) == []


def test_an_order_with_the_friends_code_redeems_it_once(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    code = ask(client, key, maria, "luca@example.com").json()["friend_reward"]["fulfilment"]["code"]

    first = order(client, key, "ORD-1", "luca@example.com", code=code.lower())
    second = order(client, key, "ORD-2", "sara@example.com", code=code)

    with tenancy.merchant_context(world.acme):
        first.refresh_from_db()
        second.refresh_from_db()
        [offer] = Reward.objects.filter(recipient=RewardRecipient.FRIEND)
        advocate_rewards = list(
            Reward.objects.filter(recipient=RewardRecipient.ADVOCATE).order_by("pk")
        )
    assert first.status == "qualified", first.reasons
    assert first.attributed_by == "friend_code"
    assert first.advocate_id == maria.pk
    assert offer.status == RewardStatus.REDEEMED
    assert offer.conversion_id == first.pk
    assert offer.redeemed_at is not None
    assert offer.cost == 8000 * 15 // 100
    assert [r.conversion_id for r in advocate_rewards] == [first.pk, second.pk]
    # The second order is recorded, earns no friend reward, and says why.
    assert second.advocate_id == maria.pk
    reused = [r for r in second.reasons if r["rule"] == "friend_code_reused"]
    assert len(reused) == 1
    assert "ORD-1" in reused[0]["detail"]
    # The conversion resource lists the redeemed offer with its order.
    shown = client.get(
        f"/api/v1/conversions/{first.public_id}", HTTP_AUTHORIZATION=f"Bearer {key}"
    ).json()
    friend = [r for r in shown["rewards"] if r["recipient"] == "friend"]
    assert [(r["status"], r["conversion"]) for r in friend] == [("redeemed", first.public_id)]


def test_an_order_without_code_from_the_friends_email_redeems_it(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    ask(client, key, maria, "luca@example.com")

    conversion = order(client, key, "ORD-1", "Luca@Example.com")

    [offer] = friend_rewards(world)
    assert offer.status == RewardStatus.REDEEMED
    assert offer.conversion_id == conversion.pk
    conversion.refresh_from_db()
    assert conversion.attributed_by == "email"
    assert conversion.advocate_id == maria.pk


def test_the_advocates_code_at_checkout_keeps_working(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    conversion = order(client, key, "ORD-1", "nina@example.com", code=maria.code)

    with tenancy.merchant_context(world.acme):
        rewards = sorted(
            Reward.objects.filter(conversion=conversion).values_list("recipient", flat=True)
        )
    assert rewards == ["advocate", "friend"]  # as before: no offer was taken


def test_a_refund_voids_the_advocates_reward_and_records_the_friends_discount(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    code = ask(client, key, maria, "luca@example.com").json()["friend_reward"]["fulfilment"]["code"]
    conversion = order(client, key, "ORD-1", "luca@example.com", code=code)

    refund = call(client, f"/api/v1/conversions/{conversion.public_id}/refunds", key, {})

    assert refund.status_code in (200, 201), refund.json()
    with tenancy.merchant_context(world.acme):
        advocate_reward = Reward.objects.get(recipient=RewardRecipient.ADVOCATE)
        offer = Reward.objects.get(recipient=RewardRecipient.FRIEND)
    assert advocate_reward.status in (RewardStatus.VOIDED, RewardStatus.CLAWED_BACK)
    assert offer.status == RewardStatus.REDEEMED
    assert [r["outcome"] for r in offer.reasons if r["rule"] == "refund"] == ["recorded"]


def test_an_unused_offer_expires_with_time_and_its_code_no_longer_attributes_as_spent(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    code = ask(client, key, maria, "luca@example.com").json()["friend_reward"]["fulfilment"]["code"]
    [offer] = friend_rewards(world)
    assert offer.expires_at is not None

    early = pipeline.pipeline_sweep(now=offer.expires_at - timedelta(minutes=1))
    late = pipeline.pipeline_sweep(now=offer.expires_at + timedelta(minutes=1))
    again = pipeline.pipeline_sweep(now=offer.expires_at + timedelta(minutes=2))

    assert (early["expired_offers"], late["expired_offers"], again["expired_offers"]) == (0, 1, 0)
    offer.refresh_from_db()
    assert offer.status == RewardStatus.EXPIRED
    # Generated codes cannot be withdrawn by us: recorded (the merchant hears reward.expired).
    assert [r["outcome"] for r in offer.reasons if r["rule"] == "deactivation"] == ["recorded"]
    answer = ask(client, key, maria, "luca@example.com").json()
    assert answer["friend_reward"]["status"] == "expired"
    assert answer["friend_reward_reason"]["code"] == "expired"
    conversion = order(client, key, "ORD-1", "luca@example.com", code=code)
    conversion.refresh_from_db()
    assert [r["rule"] for r in conversion.reasons if r["rule"].startswith("friend_")] == [
        "friend_offer_expired"
    ]
    offer.refresh_from_db()
    assert offer.status == RewardStatus.EXPIRED


def test_another_merchants_key_cannot_reach_the_offer(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    ask(client, key, maria, "luca@example.com")
    outsider = make_key(world.globex).plaintext

    response = ask(client, outsider, maria, "luca@example.com")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "code"
    assert len(friend_rewards(world)) == 1


def test_fifty_concurrent_requests_by_one_friend_make_one_reward_and_one_code(
    world: World, key: str, maria: Advocate
) -> None:
    barrier = threading.Barrier(50)
    answers: list[Any] = []
    failures: list[BaseException] = []

    def request(n: int) -> None:
        try:
            barrier.wait(10)
            email = "luca.b@gmail.com" if n % 2 else "L.U.C.A.B+x@gmail.com"
            answers.append(ask(Client(), key, maria, email))
        except BaseException as error:
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    assert sorted({a.status_code for a in answers}) in ([200, 201], [201])
    codes = {a.json()["friend_reward"]["fulfilment"]["code"] for a in answers}
    assert len(answers) == 50
    assert len(codes) == 1
    assert len(friend_rewards(world)) == 1
    with tenancy.merchant_context(world.acme):
        assert Referral.objects.count() in (1, 2)  # one per spelling (first referrer wins)


def test_enrol_buyers_makes_the_buyer_of_a_qualified_order_an_advocate_once(
    client: Client, world: World, key: str
) -> None:
    program = make_program(
        world.acme,
        slug="buyers",
        config=config(rules={"hold_days": 0, "enrol_buyers": True, "first_purchase_only": False}),
    )
    off = make_program(world.acme, slug="off", config=config())
    with tenancy.merchant_context(world.acme):
        paul = services.advocate_enroll(program=program, email="paul@example.com").advocate
        anna = services.advocate_enroll(program=off, email="anna@example.com").advocate
    mail.outbox.clear()

    order(client, key, "B-1", "nina@example.com", code=paul.code)
    order(client, key, "B-2", "Nina@example.com", code=paul.code)
    order(client, key, "O-1", "olga@example.com", code=anna.code)

    with tenancy.merchant_context(world.acme):
        enrolled = list(Advocate.objects.filter(email__iexact="nina@example.com"))
        assert not Advocate.objects.filter(email="olga@example.com").exists()  # off by default
    assert [(a.program_id, a.email) for a in enrolled] == [(program.pk, "nina@example.com")]
    welcomes = [m for m in mail.outbox if m.to == ["nina@example.com"]]
    assert len(welcomes) == 1
    assert f"/r/{enrolled[0].code}" in welcomes[0].body


def test_the_friend_page_asks_the_name_when_the_merchant_wants_it(
    client: Client, world: World
) -> None:
    from tracking import links

    program = make_program(world.acme, slug="named", config=config(rules={"ask_friend_name": True}))
    with tenancy.merchant_context(world.acme):
        paul = services.advocate_enroll(program=program, email="paul@example.com").advocate
    page = client.get(f"/r/{paul.code}?lang=it").content.decode()
    assert 'name="name"' in page
    data = {"email": "luca@example.com", "token": links.form_token(program), "lang": "it"}

    nameless = client.post(f"/r/{paul.code}/claim", data)
    named = client.post(f"/r/{paul.code}/claim", {**data, "name": "Luca"})

    assert nameless.status_code == 400
    assert "Inserisci il tuo nome." in nameless.content.decode()
    assert named.status_code == 200
    [reward] = friend_rewards(world)
    assert reward.fulfilment_code in named.content.decode()
    assert reward.referral is not None
    assert reward.referral.name == "Luca"


def test_a_held_offer_approved_by_the_merchant_is_issued_and_emailed(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    held = ask(client, key, maria, "someone@mailinator.com").json()["friend_reward"]
    mail.outbox.clear()

    approved = call(client, f"/api/v1/rewards/{held['id']}/approve", key, {})

    assert approved.status_code == 200, approved.json()
    [reward] = friend_rewards(world)
    assert reward.status == RewardStatus.ISSUED
    assert reward.fulfilment_code
    [email] = mail.outbox
    assert email.to == ["someone@mailinator.com"]
    assert reward.fulfilment_code in email.body


def test_the_rewards_page_shows_friend_offers_with_the_friend(
    alice_client: Client, world: World, key: str, maria: Advocate
) -> None:
    offer = ask(client=Client(), key=key, advocate=maria, email="luca@example.com", name="Luca")
    reward_id = offer.json()["friend_reward"]["id"]

    listing = alice_client.get("/m/acme/rewards/")
    detail = alice_client.get(f"/m/acme/rewards/{reward_id}/")

    assert listing.status_code == 200
    assert detail.status_code == 200
    for page in (listing.content.decode(), detail.content.decode()):
        assert "luca@example.com" in page
        assert "data-offer-unspent" in page


def test_the_portal_shows_each_friends_state_without_their_address(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    from tracking import links

    code = ask(client, key, maria, "luca.bianchi@example.com").json()["friend_reward"]
    ask(client, key, maria, "sara.verdi@example.com")
    order(client, key, "ORD-1", "luca.bianchi@example.com", code=code["fulfilment"]["code"])

    page = client.get(links.portal_url(maria) + "?lang=en")

    assert page.status_code == 200
    html = page.content.decode()
    assert "luca.bianchi@example.com" not in html
    assert "sara.verdi@example.com" not in html
    assert html.count("data-friend>") == 2
    assert "Used the gift on an order" in html  # Luca ordered with his code
    assert "Took the gift code" in html  # Sara has hers, unspent
    assert "Order: Qualified" in html
    assert "l•••@example.com" in html


def test_erasing_the_friend_unlinks_their_offer_and_keeps_its_amounts(
    client: Client, world: World, key: str, maria: Advocate
) -> None:
    pk = make_key(world.acme, "publishable", [ORIGIN]).plaintext
    ask(client, pk, maria, "luca@example.com", origin=ORIGIN)
    [before] = friend_rewards(world)
    assert before.friend_ip_hash

    erased = call(client, "/api/v1/privacy/erase", key, {"email": "luca@example.com"})

    assert erased.status_code == 200, erased.json()
    [after] = friend_rewards(world)
    assert after.friend_key == f"erased-{after.public_id}"
    assert after.friend_ip_hash == ""
    assert (after.status, after.percent, after.fulfilment_code) == (
        before.status,
        before.percent,
        before.fulfilment_code,
    )
    # The same address asking again is somebody new: a new offer.
    again = ask(client, key, maria, "luca@example.com").json()["friend_reward"]
    assert again["id"] != after.public_id


def test_the_friend_page_tells_the_advocate_using_their_own_link_why_there_is_no_code(
    client: Client, world: World, maria: Advocate, program: Program
) -> None:
    from tracking import links

    data = {"email": "Maria.Rossi+me@gmail.com", "token": links.form_token(program), "lang": "it"}

    response = client.post(f"/r/{maria.code}/claim", data)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-offer-reason="self_referral"' in html
    assert "Non puoi usare il tuo stesso link di referral." in html
    assert "data-offer-code" not in html
    assert friend_rewards(world) == []


def test_velocity_per_ip_holds_the_offers_of_one_browser_address_beyond_the_limit(
    client: Client, world: World, maria: Advocate
) -> None:
    pk = make_key(world.acme, "publishable", [ORIGIN]).plaintext

    answers = [
        ask(client, pk, maria, f"friend{n}@example.com", origin=ORIGIN).json() for n in range(6)
    ]

    # The default limit is 5 per IP in 24 hours; an IP alone is at most a review.
    assert [a["friend_reward"]["status"] for a in answers] == ["issued"] * 5 + ["held"]
    [held] = [r for r in friend_rewards(world) if r.status == RewardStatus.HELD]
    assert held.reasons[0]["rule"] == "velocity"
