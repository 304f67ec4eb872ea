"""What a program says in one language, with the fallback to its default language.

Merchants write a program's name, headline, description, terms and reward labels (the free
product, upgrade or charity) in their default language, and may translate each into the
program's other languages. A hosted page in a language the merchant did not translate shows the
default language's text for that field rather than nothing, and the wizard's review step lists
what is missing per language before activation (`missing_translations`), so the merchant knows.

- `localized_label(spec, locale)`: a reward spec's label in `locale` (`spec.labels[locale]`),
  else `spec.label` (the default language's text).
- `localized_copy(program, locale)`: name, headline, description and terms in `locale`, each
  falling back to the default locale's (and the name to `Program.name`).
- `missing_translations(program, config)`: per non-default language, the fields that fall back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy

from programs.models import Program, ProgramCopy
from programs.specs import LABEL_KINDS, LOCALE_NAMES, ProgramConfig, RewardSpec

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "COPY_FIELDS",
    "LocalizedCopy",
    "MissingTranslation",
    "localized_copy",
    "localized_label",
    "missing_translations",
]

# The per-locale texts of `ProgramCopy`, in the order the wizard shows them.
COPY_FIELDS = ("name", "headline", "description", "terms")


def localized_label(spec: RewardSpec, locale: str) -> str:
    """The label of a free-product, upgrade or charity reward in `locale`: the merchant's
    translation when there is one, else the default language's `label` (never empty when the
    spec has a label)."""
    return spec.labels.get(locale) or spec.label


@dataclass(frozen=True)
class LocalizedCopy:
    """The program's words in one language. `fallbacks` names the fields shown in the default
    language because this one has no text for them."""

    locale: str
    name: str
    headline: str
    description: str
    terms: str
    fallbacks: frozenset[str] = field(default_factory=frozenset)

    def as_dict(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in COPY_FIELDS}


def _stored_copy(program: Program) -> dict[str, dict[str, str]]:
    return {
        row.locale: {key: getattr(row, key) for key in COPY_FIELDS}
        for row in ProgramCopy.objects.filter(program=program)
    }


def localized_copy(
    program: Program, locale: str, copy: dict[str, dict[str, str]] | None = None
) -> LocalizedCopy:
    """Name, headline, description and terms in `locale`, each falling back to the program's
    default locale (the name to `Program.name`). Pass `copy` (locale → texts, as
    `programs.services.program_copy` returns it) to save the query."""
    stored = copy if copy is not None else _stored_copy(program)
    own = stored.get(locale, {})
    default = stored.get(program.default_locale, {})
    texts: dict[str, str] = {}
    fallbacks: set[str] = set()
    for key in COPY_FIELDS:
        text = (own.get(key) or "").strip()
        if not text:
            # The default language's name is the program's own (edited in Basics).
            text = program.name if key == "name" else (default.get(key) or "").strip()
            if text and locale != program.default_locale:
                fallbacks.add(key)
        texts[key] = text
    return LocalizedCopy(locale=locale, fallbacks=frozenset(fallbacks), **texts)


@dataclass(frozen=True)
class MissingTranslation:
    """One language of the program and what it lacks (field names in merchant words)."""

    locale: str
    language: str
    fields: tuple[str, ...]
    default_language: str

    @property
    def message(self) -> str:
        """ "Polish: headline, terms missing — the English text will be shown." in the
        reader's language."""
        fields = ", ".join(str(FIELD_WORDS.get(name, name)) for name in self.fields)
        return capfirst(
            gettext(
                "%(language)s: %(fields)s missing — the default language (%(default)s) text will "
                "be shown."
            )
            % {
                "language": LANGUAGE_WORDS.get(self.locale, self.language),
                "fields": fields,
                "default": self.default_language,
            }
        )


# The copy fields and the languages in merchant words (in the reader's language).
FIELD_WORDS = {
    "name": gettext_lazy("name"),
    "headline": gettext_lazy("headline"),
    "description": gettext_lazy("description"),
    "terms": gettext_lazy("terms"),
}
LANGUAGE_WORDS = {
    "en": gettext_lazy("English"),
    "it": gettext_lazy("Italian"),
    "ro": gettext_lazy("Romanian"),
    "pl": gettext_lazy("Polish"),
}


def _reward_specs(config: ProgramConfig) -> Iterable[tuple[str, RewardSpec]]:
    if config.advocate_reward is not None:
        yield "advocate reward", config.advocate_reward
    for index, tier in enumerate(config.tiers):
        yield f"tier {index + 1} reward", tier.reward
    if config.friend_reward is not None:
        yield "friend reward", config.friend_reward
    for variant in config.variants:
        if variant.advocate_reward is not None:
            yield f"variant {variant.key} advocate reward", variant.advocate_reward
        if variant.friend_reward is not None:
            yield f"variant {variant.key} friend reward", variant.friend_reward


def missing_translations(
    program: Program,
    config: ProgramConfig,
    copy: dict[str, dict[str, str]] | None = None,
) -> list[MissingTranslation]:
    """For each of the program's languages other than the default, the texts the merchant
    wrote in the default language but not in that one (name, headline, description, terms and
    each labelled reward's label). Fields empty in the default language too are not listed:
    there is nothing to translate (the headline is then written from the rewards)."""
    stored = copy if copy is not None else _stored_copy(program)
    default = stored.get(program.default_locale, {})
    labelled = [(where, spec) for where, spec in _reward_specs(config) if spec.kind in LABEL_KINDS]
    default_language = str(LANGUAGE_WORDS.get(program.default_locale, program.default_locale))
    missing = []
    for locale in program.locales:
        if locale == program.default_locale:
            continue
        own = stored.get(locale, {})
        fields = [
            key
            for key in COPY_FIELDS
            if (program.name if key == "name" else (default.get(key) or "")).strip()
            and not (own.get(key) or "").strip()
        ]
        fields += [f"{where} label" for where, spec in labelled if locale not in spec.labels]
        if fields:
            missing.append(
                MissingTranslation(
                    locale=locale,
                    language=LOCALE_NAMES.get(locale, locale),
                    fields=tuple(fields),
                    default_language=default_language,
                )
            )
    return missing
