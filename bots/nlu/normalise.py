"""Text folding and tokens shared by the NLU engine's classifiers and entity matchers."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

_WORD = re.compile(r"\w+")


@cache
def _fold_char(char: str) -> str:
    # One character in, one out, so offsets in the folded text are offsets in the original.
    base = unicodedata.normalize("NFD", char)[0].lower()
    return base[0] if base else char


def fold(text: str) -> str:
    """Lower case without accents ("Tênis" -> "tenis"), of the same length as `text`."""
    return "".join(_fold_char(char) for char in text)


@dataclass(frozen=True, slots=True)
class Token:
    """A word of a message, folded, with where it stands in the original text."""

    text: str
    start: int
    end: int


def tokens(folded: str) -> tuple[Token, ...]:
    """The words (letters, digits, underscores) of an already folded text."""
    return tuple(Token(m.group(), m.start(), m.end()) for m in _WORD.finditer(folded))
