"""Reply texts per language: bots/texts/<language>.json, plus one folder per flow area
(bots/texts/<area>/<language>.json), merged; a key defined twice is a bug.

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
    root = resources.files("bots").joinpath("texts")
    files = [root.joinpath(f"{language.value}.json")]
    files += sorted(
        (area.joinpath(f"{language.value}.json") for area in root.iterdir() if area.is_dir()),
        key=str,
    )
    texts: dict[str, str] = {}
    for file in files:
        if not file.is_file():
            continue
        part: dict[str, str] = json.loads(file.read_text("utf-8"))
        twice = texts.keys() & part.keys()
        if twice:
            raise ValueError(f"texts defined twice in {file}: {sorted(twice)}")
        texts.update(part)
    return texts


def text(key: str, language: Language) -> str:
    """The text `key` in `language`, as written (placeholders unfilled)."""
    return _texts(language)[key]


def say(key: str, language: Language, **params: Any) -> str:
    """The text `key` in `language` with its placeholders filled."""
    return _texts(language)[key].format(**params)


def keys(language: Language) -> frozenset[str]:
    return frozenset(_texts(language))
