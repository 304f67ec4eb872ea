"""The test world (after healthchecks' hc/test.py):

- Alice owns merchant "Acme" (`acme`); Bob is a viewer there;
- Charlie owns merchant "Globex" (`globex`) and is an outsider to Acme.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.api import idempotency
from accounts.models import Merchant, Role, User
from accounts.services import IssuedKey, api_key_create
from referral_saas import tenancy
from referral_saas.api import shared_redis
from tests.factories import MerchantFactory, UserFactory, add_member

# The journey tests: a newcomer's path (API flow, review approve/reject, refunds, hosted pages,
# the browser walk). `make test` runs them a second time on the embedded default (SQLite, tasks
# in-process, no Redis), which is what `make run` serves (`pytest -m journey`).
JOURNEY_FILES = frozenset(
    {
        "test_embedded_default.py",
        "test_api_tracking.py",
        "test_api_rewards.py",
        "test_api_programs.py",
        "test_ops_review.py",
        "test_ops_rewards.py",
        "test_pipeline.py",
        "test_stripe_hooks.py",
        "test_hosted_join.py",
        "test_hosted_referral.py",
        "test_hosted_emails.py",
        "test_landing.py",
        "test_signup_flow.py",
        "test_browser_merchant_path.py",
        "test_hosted_browser.py",
        "test_friend_offer_api.py",
        "test_friend_offer_browser.py",
        "test_friend_offer_snippet.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in JOURNEY_FILES:
            item.add_marker(pytest.mark.journey)


def on_sqlite() -> bool:
    from django.db import connection

    return connection.vendor == "sqlite"


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
    # An outage one test simulated must not silence the next test's (the shared Redis backoff).
    shared_redis._down_until.clear()
    idempotency._recorded_during_outage.clear()
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright. Missing Chromium fails the test rather than
    skipping it: `make test` installs it, and a skipped browser test proves nothing."""
    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: run `make test` (it installs Debian's chromium).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # alongside it (reading mail, checking rows) would otherwise be refused as "async unsafe".
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
