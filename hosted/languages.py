"""The names of the hosted pages' languages, from one place: `settings.LANGUAGES`, each
language in its own words and capitalised as a menu item ("English", "Italiano", "Română",
"Polski"), on the landing page, the friend page, the portal and every other hosted page."""

from __future__ import annotations

from django.conf import settings


def language_name(code: str) -> str:
    """ "Polski" for `pl`; an unknown code is shown as itself rather than hidden."""
    names: dict[str, str] = dict(settings.LANGUAGES)
    return str(names.get(code, code))
