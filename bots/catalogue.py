"""Reply texts per language, read from bots/texts/<language>.json.

A text may hold `{placeholders}`, filled by `say`. Every key exists in every language
(a test checks it), so a missing one is a bug and raises KeyError.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from crm.models import Language

DEFAULT_LANGUAGE = Language.ES


@cache
def _texts(language: Language) -> dict[str, str]:
    raw = resources.files("bots").joinpath("texts", f"{language.value}.json").read_text("utf-8")
    texts: dict[str, str] = json.loads(raw)
    return texts


def text(key: str, language: Language) -> str:
    """The text `key` in `language`, as written (placeholders unfilled)."""
    return _texts(language)[key]


def say(key: str, language: Language, **params: Any) -> str:
    """The text `key` in `language` with its placeholders filled."""
    return _texts(language)[key].format(**params)


def keys(language: Language) -> frozenset[str]:
    return frozenset(_texts(language))
