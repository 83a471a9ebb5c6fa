"""Reply texts per language, read from bots/texts/<language>.json."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from crm.models import Language

DEFAULT_LANGUAGE = Language.ES


@cache
def _texts(language: Language) -> dict[str, str]:
    raw = resources.files("bots").joinpath("texts", f"{language.value}.json").read_text("utf-8")
    texts: dict[str, str] = json.loads(raw)
    return texts


def text(key: str, language: Language) -> str:
    """The text `key` in `language`; a key missing there is a bug, so it raises KeyError."""
    return _texts(language)[key]


def keys(language: Language) -> frozenset[str]:
    return frozenset(_texts(language))
