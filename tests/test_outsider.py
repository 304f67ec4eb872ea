"""Charlie (Globex) must get exactly what "does not exist" gets on every one of Acme's URLs.

The routes are enumerated from the URLconf, so a new dashboard page or API route is covered the
day it is added. A route with a parameter this test cannot fill fails the test: teach it the
parameter in `fill()` below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import Membership
from accounts.services import IssuedKey, invitation_create
from programs.models import CodePool
from referral_saas import tenancy
from tests.conftest import World, login, make_key
from tests.factories import make_program
from tracking.services import advocate_enroll, conversion_record

DASHBOARD_PREFIX = "m/"
API_PREFIX = "api/v1/"
API_PUBLIC = {"api/v1/schema/", "api/v1/docs/"}


@dataclass(frozen=True)
class Route:
    template: str  # e.g. "m/<slug:merchant_slug>/keys/<str:key_id>/revoke/"
    params: tuple[str, ...]


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[Route]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        else:
            converters = entry.pattern.converters if hasattr(entry.pattern, "converters") else {}
            yield Route(template=route, params=tuple(converters))


def tenant_routes() -> list[Route]:
    routes = [
        r
        for r in _walk(get_resolver().url_patterns)
        if r.template.startswith((DASHBOARD_PREFIX, API_PREFIX)) and r.template not in API_PUBLIC
    ]
    assert len(routes) >= 3, routes  # the walk must find something to protect
    return routes


def _render(route: Route, values: dict[str, str]) -> str:
    import re

    def substitute(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in values:
            pytest.fail(f"{route.template}: teach tests/test_outsider.py to fill <{name}>")
        return values[name]

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", substitute, route.template)


@dataclass
class Victim:
    real: dict[str, str]  # Acme's existing objects
    missing: dict[str, str]  # ids of the same shape that exist nowhere
    outsider_key: IssuedKey


@pytest.fixture
def victim(world: World) -> Victim:
    program = make_program(world.acme)
    acme_key = make_key(world.acme)
    with tenancy.merchant_context(world.acme):
        pool = CodePool.objects.create(program=program, name="Spring coupons")
    with tenancy.merchant_context(world.acme):
        owner = Membership.objects.get(user=world.alice)
        invitation = invitation_create(actor=owner, email="dana@example.com", role="viewer")
        bob = Membership.objects.get(user=world.bob)
        advocate = advocate_enroll(program=program, email="erin@example.com").advocate
        conversion = conversion_record(
            order_id="ORD-1", amount=5000, currency="EUR", customer={"email": "finn@example.com"}
        ).conversion
    from webhooks.services import endpoint_create

    with tenancy.merchant_context(world.acme):
        endpoint = endpoint_create(url="https://hooks.acme.example/referrals")
        from webhooks.delivery import outbox_record as emit
        from webhooks.models import WebhookDelivery

        # Never sent: this test's transaction does not commit, so the task is not enqueued.
        delivery = WebhookDelivery.objects.get(message=emit("advocate.created", {}))
    from rewards.models import Reward

    with tenancy.merchant_context(world.acme):
        reward = Reward.objects.create(
            recipient="advocate",
            advocate=advocate,
            conversion=conversion,
            kind="account_credit",
            amount=1000,
            currency="EUR",
            fulfilment_method="webhook",
        )
    from integrations.models import Integration

    with tenancy.merchant_context(world.acme):
        integration = Integration.objects.create(
            provider="woocommerce", shop="https://shop.acme.example"
        )
    from payouts.models import Payout, PayoutBatch

    with tenancy.merchant_context(world.acme):
        batch = PayoutBatch.objects.create(method="sepa_credit_transfer")
        payout = Payout.objects.create(
            advocate=advocate,
            program=program,
            amount=1000,
            currency="EUR",
            method="manual",
            batch=batch,
        )
    real = {
        "payout_id": payout.public_id,
        "batch_id": batch.public_id,
        "merchant_slug": world.acme.slug,
        "program_id": program.public_id,
        "key_id": acme_key.key.public_id,
        "member_id": str(bob.pk),
        "invitation_id": invitation.invitation.public_id,
        "pool_id": pool.public_id,
        "advocate_id": advocate.public_id,
        "conversion_id": conversion.public_id,
        "endpoint_id": endpoint.public_id,
        "reward_id": reward.public_id,
        "delivery_id": delivery.public_id,
        "integration_id": integration.public_id,
    }
    missing = {
        "payout_id": "po_" + "0" * 20,
        "batch_id": "pob_" + "0" * 20,
        "merchant_slug": "no-such-merchant",
        "program_id": "prg_" + "0" * 20,
        "key_id": "key_" + "0" * 20,
        "member_id": "999999999",
        "invitation_id": "inv_" + "0" * 20,
        "pool_id": "pool_" + "0" * 20,
        "advocate_id": "adv_" + "0" * 20,
        "conversion_id": "conv_" + "0" * 20,
        "endpoint_id": "we_" + "0" * 20,
        "reward_id": "rwd_" + "0" * 20,
        "delivery_id": "dlv_" + "0" * 20,
        "integration_id": "int_" + "0" * 20,
    }
    return Victim(real=real, missing=missing, outsider_key=make_key(world.globex))


def _dashboard_answer(client: Client, method: str, path: str) -> tuple[int, str]:
    response = getattr(client, method)(path)
    return response.status_code, response.get("Content-Type", "")


def test_outsider_gets_404_on_every_dashboard_route(
    client: Client, world: World, victim: Victim
) -> None:
    login(client, world.charlie)
    checked = 0
    for route in tenant_routes():
        if not route.template.startswith(DASHBOARD_PREFIX):
            continue
        theirs = _render(route, victim.real)
        # Charlie's own merchant slug with Acme's object ids: still not found.
        crossed = _render(route, {**victim.real, "merchant_slug": world.globex.slug})
        nowhere = _render(route, victim.missing)
        answers = {}
        for method in ("get", "post"):
            answer = _dashboard_answer(client, method, theirs)
            answers[method] = answer[0]
            # Same answer as for a merchant that does not exist: 404, or 405 for a method the
            # view never takes (decided before any lookup, for everyone alike).
            assert answer[0] in {404, 405}, (method, theirs, answer)
            assert answer == _dashboard_answer(client, method, nowhere), (method, theirs)
            if route.params != ("merchant_slug",):
                assert _dashboard_answer(client, method, crossed)[0] in {404, 405}, crossed
        # ...and the method the view does take reached the membership check and was refused.
        assert 404 in answers.values(), (theirs, answers)
        checked += 1
    assert checked >= 2


def test_outsider_key_gets_404_on_every_api_object_route_and_sees_nothing_in_lists(
    client: Client, world: World, victim: Victim
) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {victim.outsider_key.plaintext}"}
    object_routes = 0
    for route in tenant_routes():
        if not route.template.startswith(API_PREFIX):
            continue
        theirs = _render(route, victim.real)
        nowhere = _render(route, victim.missing)
        if not route.params:
            body = client.get(theirs, **auth).content.decode()
            for value in victim.real.values():
                assert value not in body or value == world.acme.slug, (theirs, value)
            continue
        object_routes += 1
        for method in ("get", "post", "patch", "delete"):
            mine = getattr(client, method)(theirs, content_type="application/json", **auth)
            absent = getattr(client, method)(nowhere, content_type="application/json", **auth)
            assert mine.status_code in {404, 405}, (
                f"{method.upper()} {theirs} -> {mine.status_code}"
            )
            assert (mine.status_code, mine.json()) == (absent.status_code, absent.json()), theirs
    assert object_routes >= 1


def test_the_same_routes_answer_the_member_so_the_404s_above_mean_something(
    client: Client, world: World, victim: Victim
) -> None:
    login(client, world.alice)
    for route in tenant_routes():
        if route.template.startswith(DASHBOARD_PREFIX):
            path = _render(route, victim.real)
            # GET only: a POST would act (remove Bob, revoke the key) and change later routes.
            assert client.get(path).status_code in {200, 302, 405}, path
