"""A program in two currencies (EUR and PLN): each order earns the reward of its own currency,
judged by that currency's minimum, cap and budget; an order in USD is recorded and rejected
with its reason; KPIs and exports per currency, never added up. Single-currency programs are
configured, stored and judged as before."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.test import Client

from analytics.kpis import Period, kpi_values, program_overview
from programs.models import Program, ProgramVersion
from programs.specs import SpecError, parse_config
from referral_saas import tenancy
from rewards.models import Reward
from tests.conftest import World, login, make_key
from tests.factories import make_program
from tracking.models import Advocate, Conversion
from tracking.services import advocate_enroll

pytestmark = pytest.mark.django_db(transaction=True)

TWO_CURRENCIES: dict[str, Any] = {
    "advocate_reward": {"kind": "account_credit", "amount": 1000, "currency": "EUR"},
    "friend_reward": {"kind": "percent_discount", "percent": 10},
    "rules": {"min_order_amount": 3000, "budget_amount": 100000, "hold_days": 0},
    "currencies": {
        "PLN": {
            "advocate_reward": {"amount": 4000},
            "rules": {"min_order_amount": 12000, "budget_amount": 5000},
        }
    },
}


def program_body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Polecaj",
        "type": "two_sided",
        "currency": "EUR",
        "destination_url": "https://shop.example.com/",
        "allowed_domains": ["shop.example.com"],
        **TWO_CURRENCIES,
        **extra,
    }


@pytest.fixture
def api(client: Client, world: World) -> Client:
    key = make_key(world.acme).plaintext
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@pytest.fixture
def program(api: Client, world: World) -> Program:
    response = api.post("/api/v1/programs", program_body(), content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["accepted_currencies"] == ["EUR", "PLN"]
    assert body["currencies"] == {
        "PLN": {
            "advocate_reward": {"amount": 4000},
            "rules": {"min_order_amount": 12000, "budget_amount": 5000},
        }
    }
    activated = api.post(f"/api/v1/programs/{body['id']}/activate", content_type="application/json")
    assert activated.status_code == 200, activated.content
    with tenancy.merchant_context(world.acme):
        return Program.objects.get(public_id=body["id"])


@pytest.fixture
def advocate(program: Program) -> Iterator[Advocate]:
    with tenancy.merchant_context(program.merchant):
        yield advocate_enroll(program=program, email="ola@example.com", name="Ola").advocate


def order(api: Client, advocate: Advocate, order_id: str, amount: int, currency: str) -> Any:
    response = api.post(
        "/api/v1/conversions",
        {
            "order_id": order_id,
            "amount": amount,
            "currency": currency,
            "customer": {"email": f"{order_id}@example.com"},
            "code": advocate.code,
        },
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    return api.get(f"/api/v1/conversions/{response.json()['id']}").json()


def advocate_rewards(body: dict[str, Any]) -> list[tuple[int | None, str]]:
    return [(r["amount"], r["currency"]) for r in body["rewards"] if r["recipient"] == "advocate"]


def test_each_currency_earns_its_own_reward_and_usd_is_rejected_with_its_reason(
    api: Client, world: World, advocate: Advocate
) -> None:
    eur = order(api, advocate, "o-eur", 5000, "EUR")
    pln = order(api, advocate, "o-pln", 20000, "PLN")
    usd = order(api, advocate, "o-usd", 5000, "USD")

    assert (eur["status"], advocate_rewards(eur)) == ("qualified", [(1000, "EUR")])
    assert (pln["status"], advocate_rewards(pln)) == ("qualified", [(4000, "PLN")])
    # USD: recorded, rejected, the reason names the accepted currencies; nothing earned
    assert usd["status"] == "rejected"
    assert usd["rewards"] == []
    [reason] = [r for r in usd["reasons"] if r["rule"] == "currency"]
    assert reason["outcome"] == "reject"
    assert reason["detail"] == "The order is in USD; this program accepts EUR, PLN."
    with tenancy.merchant_context(world.acme):
        assert Conversion.objects.filter(order_id="o-usd", amount=5000, currency="USD").exists()
        costs = sorted(Reward.objects.values_list("cost", "conversion__currency"))
    # what each reward costs, in its order's currency: the advocate's credit, the friend's
    # 10 % of 50 € (the friend's 20 zł did not fit the 50 zł budget after the 40 zł credit)
    assert costs == [(500, "EUR"), (1000, "EUR"), (4000, "PLN")]


def test_each_currency_has_its_own_minimum_and_budget(
    api: Client, world: World, advocate: Advocate, program: Program
) -> None:
    # 100 zł is above the euro minimum (30) but below the złoty one (120)
    small = order(api, advocate, "o-small", 10000, "PLN")
    assert small["status"] == "rejected"
    [minimum] = [r for r in small["reasons"] if r["rule"] == "min_order_amount"]
    assert minimum["detail"] == "The order (PLN100.00) is below the minimum of PLN120.00."

    # PLN budget 50 zł: the advocate's 40 zł fit, the friend's 10 % (20 zł) does not, so the
    # program pauses — though the euro budget (1,000 €) was never touched
    big = order(api, advocate, "o-big", 20000, "PLN")
    assert [(r["recipient"], r["amount"], r["currency"]) for r in big["rewards"]] == [
        ("advocate", 4000, "PLN")
    ]
    with tenancy.merchant_context(world.acme):
        reasons = Conversion.objects.get(order_id="o-big").reasons
    [budget] = [r for r in reasons if r["rule"] == "budget"]
    assert budget["evidence"] == {
        "budget": 5000,
        "spent": 4000,
        "currency": "PLN",
        "recipient": "friend",
    }
    with tenancy.merchant_context(world.acme):
        program.refresh_from_db()
        assert program.status == "paused"
        assert not Reward.objects.filter(conversion__currency="EUR").exists()


def test_kpis_and_exports_per_currency(
    api: Client, client: Client, world: World, advocate: Advocate
) -> None:
    order(api, advocate, "o-eur", 5000, "EUR")
    order(api, advocate, "o-pln", 20000, "PLN")
    order(api, advocate, "o-usd", 5000, "USD")
    today = date.today()
    with tenancy.merchant_context(world.acme):
        values = kpi_values(program_overview(period=Period(today, today), program=None).totals)
    assert values["referred_revenue"] == {"EUR": 5000, "PLN": 20000, "USD": 0}
    assert values["reward_cost"] == {"EUR": 1500, "PLN": 4000, "USD": 0}
    assert values["conversions"] == 2

    del client.defaults["HTTP_AUTHORIZATION"]
    login(client, world.alice)
    response = client.get("/m/acme/exports/conversions.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted((row["order_id"], row["amount"], row["currency"]) for row in rows) == [
        ("o-eur", "50.00", "EUR"),
        ("o-pln", "200.00", "PLN"),
        ("o-usd", "50.00", "USD"),
    ]


def test_every_amount_of_the_default_currency_must_be_restated() -> None:
    with pytest.raises(SpecError) as error:
        parse_config(
            {
                **TWO_CURRENCIES,
                "currencies": {"PLN": {}, "usd": {}, "EUR": {}},
            },
            program_type="two_sided",
            currency="EUR",
            stripe_connected=False,
        )
    assert error.value.errors == {
        "currencies.PLN.advocate_reward.amount": "This field is required.",
        "currencies.PLN.rules.min_order_amount": "This field is required.",
        "currencies.PLN.rules.budget_amount": "This field is required.",
        "currencies.usd": "Must be an ISO-4217 code such as PLN.",
        "currencies.EUR": "EUR is the program's currency: its amounts are given above.",
    }


def test_a_bad_currencies_object_is_a_400_naming_the_field(api: Client, world: World) -> None:
    response = api.post(
        "/api/v1/programs",
        program_body(currencies={"PLN": {"advocate_reward": {"amount": "forty"}}}),
        content_type="application/json",
    )
    assert response.status_code == 400
    params = {problem["param"] for problem in response.json()["error"]["errors"]}
    assert "currencies.PLN.advocate_reward.amount" in params
    with tenancy.merchant_context(world.acme):
        assert not Program.objects.exists()


def test_a_single_currency_program_is_stored_and_read_as_before(api: Client, world: World) -> None:
    body = program_body()
    del body["currencies"]
    response = api.post("/api/v1/programs", body, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["currencies"] == {}
    assert response.json()["accepted_currencies"] == ["EUR"]
    with tenancy.merchant_context(world.acme):
        stored = ProgramVersion.objects.get().config
    assert "currencies" not in stored
    # and a configuration stored before currencies existed still parses to the same dict
    legacy = make_program(world.acme, slug="legacy")
    with tenancy.merchant_context(world.acme):
        config = ProgramVersion.objects.get(program=legacy).config
    again = parse_config(config, program_type="two_sided", currency="EUR", stripe_connected=True)
    assert again.to_dict() == config


def test_the_landing_headline_uses_the_visitors_currency_when_accepted(
    client: Client, program: Program
) -> None:
    del client.defaults["HTTP_AUTHORIZATION"]
    url = f"/p/acme/{program.slug}/"

    def headline(query: str) -> str:
        page = client.get(url + query).content.decode()
        start = page.index("<h1")
        return page[start : page.index("</h1>", start)]

    assert "40" in headline("?lang=pl&currency=PLN")
    assert "zł" in headline("?lang=pl&currency=PLN")
    # the default currency without the parameter, and for one the program does not accept
    assert "10" in headline("?lang=pl")
    assert "€" in headline("?lang=pl")
    assert headline("?lang=pl&currency=USD") == headline("?lang=pl")
    # switching language keeps the visitor's currency
    assert "currency=PLN" in client.get(url + "?lang=pl&currency=PLN").content.decode()
