"""The test world (after healthchecks' hc/test.py):

- Alice owns merchant "Acme" (`acme`); Bob is a viewer there;
- Charlie owns merchant "Globex" (`globex`) and is an outsider to Acme.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import Merchant, Role, User
from accounts.services import IssuedKey, api_key_create
from referral_saas import tenancy
from tests.factories import MerchantFactory, UserFactory, add_member


@dataclass
class World:
    acme: Merchant
    globex: Merchant
    alice: User
    bob: User
    charlie: User


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    tenancy.clear()
    cache.clear()
    yield
    tenancy.clear()


@pytest.fixture
def world(db: None) -> World:
    acme = MerchantFactory(name="Acme", slug="acme")
    globex = MerchantFactory(name="Globex", slug="globex")
    alice = UserFactory(email="alice@example.com")
    bob = UserFactory(email="bob@example.com")
    charlie = UserFactory(email="charlie@example.com")
    add_member(acme, alice, Role.OWNER)
    add_member(acme, bob, Role.VIEWER)
    add_member(globex, charlie, Role.OWNER)
    return World(acme=acme, globex=globex, alice=alice, bob=bob, charlie=charlie)


def login(client: Client, user: User) -> Client:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def alice_client(client: Client, world: World) -> Client:
    return login(client, world.alice)


def make_key(
    merchant: Merchant, kind: str = "secret", origins: list[str] | None = None
) -> IssuedKey:
    with tenancy.merchant_context(merchant):
        return api_key_create(
            actor=None, kind=kind, name=f"{kind} test key", allowed_origins=origins
        )


@pytest.fixture
def acme_secret(world: World) -> IssuedKey:
    return make_key(world.acme)


@pytest.fixture
def globex_secret(world: World) -> IssuedKey:
    return make_key(world.globex)
