"""The hosted program page: public, inside the program's merchant only."""

from __future__ import annotations

import pytest
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


@pytest.mark.parametrize(
    ("locale", "headline", "join_button"),
    [
        ("en", "Give €10 off, get €10 credit", "Join and get my link"),
        ("it", "Regala 10 € di sconto, ricevi 10 € di credito", "Iscriviti e ottieni il mio link"),
        (
            "ro",
            "Oferă 10 EUR reducere, primește 10 EUR credit",
            "Înscrie-te și primește linkul",
        ),
        ("pl", "Podaruj 10 € rabatu, odbierz 10 € na zakupy", "Dołącz i odbierz link"),
    ],
)
def test_landing_page_speaks_every_locale(
    client: Client, world: World, locale: str, headline: str, join_button: str
) -> None:
    make_program(world.acme, slug="give-10")
    by_param = client.get(f"/p/acme/give-10/?lang={locale}")
    by_browser = client.get("/p/acme/give-10/", HTTP_ACCEPT_LANGUAGE=f"{locale};q=0.9, de;q=0.8")
    for response in (by_param, by_browser):
        html = response.content.decode().replace("\xa0", " ")
        assert response.status_code == 200
        assert response["Content-Language"] == locale
        assert f'<html lang="{locale}">' in html
        assert f"data-headline>{headline}</h1>" in html
        assert join_button in html


def test_unknown_language_falls_back_to_the_program_default(client: Client, world: World) -> None:
    make_program(world.acme, slug="give-10", default_locale="it")
    response = client.get("/p/acme/give-10/?lang=de", HTTP_ACCEPT_LANGUAGE="de, fr;q=0.5")
    assert response["Content-Language"] == "it"
