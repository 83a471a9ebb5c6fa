"""The colours the shop sells, by database key, with their names per language (colours.yml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from crm.models import Language


@dataclass(frozen=True)
class Colour:
    """A colour key ("black") and its words per language, the one to say first."""

    key: str
    names: Mapping[Language, tuple[str, ...]]

    def name(self, language: Language) -> str:
        """How the chatbot names this colour in `language` ("negro", "preto", "black")."""
        return self.names[language][0]


@dataclass(frozen=True)
class Colours:
    """Every colour, and the words that are colours only in one language's messages."""

    by_key: Mapping[str, Colour]
    false_friends: Mapping[str, Language]

    def name(self, key: str, language: Language) -> str:
        """The colour's name in `language`; an unknown key is said as it is stored."""
        colour = self.by_key.get(key)
        return key if colour is None else colour.name(language)

    def words(self) -> dict[str, str]:
        """Every colour word of every language -> its key (the key itself included)."""
        result: dict[str, str] = {}
        for colour in self.by_key.values():
            result.setdefault(colour.key, colour.key)
            for names in colour.names.values():
                for word in names:
                    result.setdefault(word, colour.key)
        return result


def parse_colours(document: object) -> Colours:
    if not isinstance(document, dict) or not isinstance(document.get("colours"), dict):
        raise ValueError("colours.yml must hold a `colours:` mapping")
    by_key: dict[str, Colour] = {}
    for key, per_language in document["colours"].items():
        names = {
            language: tuple(str(word) for word in per_language[language.value])
            for language in Language
        }
        by_key[str(key)] = Colour(str(key), names)
    false_friends = {
        str(word): Language(str(language))
        for word, language in (document.get("false_friends") or {}).items()
    }
    return Colours(by_key, false_friends)


@cache
def colours() -> Colours:
    """The shop's colours, read once from bots/data/colours.yml."""
    raw = resources.files("bots").joinpath("data", "colours.yml").read_text("utf-8")
    return parse_colours(yaml.safe_load(raw))


def colour_name(key: str, language: Language) -> str:
    """How to name the colour stored as `key` to a customer writing in `language`."""
    return colours().name(key, language)
