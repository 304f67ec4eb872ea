"""The hosted program page: public, inside the program's merchant only."""

from __future__ import annotations

from django.test import Client

from tests.conftest import World
from tests.factories import make_program


def test_active_program_page_is_public(client: Client, world: World) -> None:
    make_program(world.acme, name="Give 10, get 10", slug="give-10")
    response = client.get("/p/acme/give-10/")
    assert response.status_code == 200
    assert "Give 10, get 10" in response.content.decode()


def test_paused_program_says_so_with_410(client: Client, world: World) -> None:
    make_program(world.acme, slug="give-10", status="paused")
    response = client.get("/p/acme/give-10/")
    assert response.status_code == 410
    assert "not running right now" in response.content.decode()


def test_draft_program_and_other_merchants_program_are_404(client: Client, world: World) -> None:
    make_program(world.acme, slug="draft", status="draft")
    make_program(world.globex, slug="theirs")
    assert client.get("/p/acme/draft/").status_code == 404
    assert client.get("/p/acme/theirs/").status_code == 404
    assert client.get("/p/nobody/theirs/").status_code == 404
