"""`seed_demo` makes a usable demo and running it twice changes nothing."""

from __future__ import annotations

import io
import re

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client


def _counts() -> dict[str, int]:
    return {m._meta.label: m._base_manager.count() for m in apps.get_models()}


def _seed(settings: object) -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seeding_twice_changes_nothing_and_prints_the_same_keys(settings: object) -> None:
    settings.DEBUG = True  # type: ignore[attr-defined]
    first = _seed(settings)
    after_first = _counts()
    second = _seed(settings)
    assert _counts() == after_first
    assert first == second
    # live: 5 advocates, 1 program, 2 keys; the test data space: 1 advocate, 1 program, 2 keys
    assert after_first["tracking.Advocate"] == 6
    assert after_first["programs.Program"] == 2
    assert after_first["accounts.ApiKey"] == 4


@pytest.mark.django_db
def test_the_printed_demo_login_and_keys_work(client: Client, settings: object) -> None:
    settings.DEBUG = True  # type: ignore[attr-defined]
    output = _seed(settings)
    secret = re.search(r"Live secret key:\s+(sk_live_\w+)", output).group(1)  # type: ignore[union-attr]
    email, password = re.search(r"Demo login:\s+(\S+) / (\S+)", output).groups()  # type: ignore[union-attr]

    api = client.get("/api/v1/programs", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 200
    assert [p["slug"] for p in api.json()["data"]] == ["give-10-get-10"]
    assert api.json()["data"][0]["status"] == "active"

    assert client.login(email=email, password=password)
    landing = re.search(r"Landing page:\s+http://[^/]+(\S+)", output).group(1)  # type: ignore[union-attr]
    assert client.get(landing).status_code == 200


@pytest.mark.django_db
def test_seed_refuses_to_run_with_debug_off(settings: object) -> None:
    from django.core.management.base import CommandError

    settings.DEBUG = False  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo", stdout=io.StringIO())
