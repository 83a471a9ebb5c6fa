"""Finds entities in a message: regexes, lookup tables with typos, sizes and quantities."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bots.nlu.gazetteer import Gazetteer, Match, best_matches
from bots.nlu.normalise import fold, tokens
from bots.nlu.training import TrainingData
from bots.nlu.vocabulary import Colours
from crm.models import Language
from dialogue.ports import Entity

_SIZE_WORD = (
    r"\b(?:talla|tallas|talle|tamanho|tam|numero|num|n[o\u00ba]|size|sz|medida|calco|calzo)"
)
_SIZE_AFTER_WORD = re.compile(
    _SIZE_WORD + r"\.?\s*(?:(?:de|del|do|da|el|la|o|a)\s+)?"
    r"(?P<size>xxl|xl|xs|gg|pp|s|m|l|p|g|\d{2,3}(?:-\d{2})?)\b"
)
_LETTER_SIZE_ANY_CASE = re.compile(r"\b(?:xxl|xl|xs)\b", re.IGNORECASE)
_LETTER_SIZE_UPPER = re.compile(r"\b(?:S|M|L|G|P|GG|PP)\b")  # lower case "m" is not a size
_NUMBER = re.compile(r"(?<![\d.,:/#+-])\b(?P<number>\d{1,3})\b(?![.,:/-]?\d)")
# What follows a number that is a price, a time or a length of time, not a size or quantity.
_NOT_A_COUNT_AFTER = re.compile(
    r"\s*(?:\u20ac|\$|%|eur|euros?|reais|pesos|h\b|hs\b|am\b|pm\b|min|horas?|hours?|"
    r"dias?|days?|semanas?|weeks?|meses|months?|anos?|years?)"
)
_NOT_A_COUNT_BEFORE = re.compile(r"(?:\b(?:las|as|at|por)\s*|\$\s*|#\s*)$")
_SHOE_SIZES = range(34, 48)
_MAX_QUANTITY = 20
_LANGUAGE_CODES = frozenset(language.value for language in Language)


@dataclass(frozen=True)
class _Found:
    name: str
    value: str
    start: int
    end: int


class EntityExtractor:
    """Entities of one message, from the training data's regexes, lookups and synonyms."""

    def __init__(
        self,
        data: TrainingData,
        colours: Colours,
        extra_lookups: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        extra = {name: tuple(values) for name, values in (extra_lookups or {}).items()}
        synonyms = data.synonyms
        self._regexes = {
            name: tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns)
            for name, patterns in data.regexes.items()
        }
        product_values = (*data.lookups.get("product", ()), *extra.get("product", ()))
        store_values = (*data.lookups.get("store", ()), *extra.get("store", ()))
        self._gazetteers: dict[str, Gazetteer] = {
            "product": Gazetteer(product_values, _aliases_of(synonyms, product_values)),
            "store": Gazetteer(store_values, _aliases_of(synonyms, store_values)),
        }
        colour_words = colours.words()
        for written, value in synonyms.items():
            if value in colours.by_key:
                colour_words.setdefault(written, value)
        self._gazetteers["color"] = Gazetteer(colours.by_key, colour_words, min_score=1.0)
        languages = {
            written: value for written, value in synonyms.items() if value in _LANGUAGE_CODES
        }
        self._gazetteers["language"] = Gazetteer((), languages, min_score=1.0, fuzzy=True)
        self._false_friends = {
            fold(word): language for word, language in colours.false_friends.items()
        }
        sizes = (*data.lookups.get("size", ()), *extra.get("size", ()))
        self._sizes = frozenset(size.upper() for size in sizes)
        self._size_synonyms = {
            written.upper(): value
            for written, value in synonyms.items()
            if written.upper() in self._sizes and value.upper() in self._sizes
        }
        self._ranged_sizes = tuple(size for size in self._sizes if "-" in size)
        # Number words, from the quantity synonyms ("dos", "duas", "two" -> "2").
        self._quantity_words = {fold(w): v for w, v in synonyms.items() if v.isdigit()}

    def extract(self, text: str, language: Language | None) -> tuple[Entity, ...]:
        folded = fold(text)
        found: list[_Found] = []
        taken: list[tuple[int, int]] = []

        def free(start: int, end: int) -> bool:
            return all(end <= s or start >= e for s, e in taken)

        def add(name: str, value: str, start: int, end: int) -> None:
            if free(start, end):
                found.append(_Found(name, value, start, end))
                taken.append((start, end))

        for name, patterns in self._regexes.items():
            for pattern in patterns:
                for written in pattern.finditer(text):
                    value = self._regex_value(name, written.group())
                    if value is not None:
                        add(name, value, written.start(), written.end())
        for start, end, size in self._find_sizes(text, folded):
            add("size", size, start, end)
        words = tuple(t for t in tokens(folded) if free(t.start, t.end))
        candidates: list[tuple[str, Match]] = []
        for name, gazetteer in self._gazetteers.items():
            for hit in gazetteer.find(words):
                if name == "color" and not self._colour_here(folded[hit.start : hit.end], language):
                    continue
                candidates.append((name, hit))
        for name, named in best_matches(candidates):
            add(name, named.value, named.start, named.end)
        for start, end, quantity in self._find_quantities(text, folded, language, free):
            add("quantity", quantity, start, end)
        return tuple(
            Entity(item.name, item.value, text[item.start : item.end], item.start, item.end)
            for item in sorted(found, key=lambda item: item.start)
        )

    @staticmethod
    def _regex_value(name: str, written: str) -> str | None:
        if name == "order_number":
            prefix = re.sub(r"[^A-Za-z]", "", written)
            digits = re.sub(r"\D", "", written)
            # "es 100234" in Spanish reads "is 100234": a space counts only after "ES".
            if " " in written and not prefix.isupper():
                return None
            return f"{prefix.upper()}-{digits}"
        if name == "email":
            return written.lower()
        return written

    def _find_sizes(self, text: str, folded: str) -> list[tuple[int, int, str]]:
        found: list[tuple[int, int, str]] = []
        for size in self._ranged_sizes:
            for match in re.finditer(rf"\b{re.escape(size.lower())}\b", folded):
                found.append((match.start(), match.end(), size))
        for match in _SIZE_AFTER_WORD.finditer(folded):
            found.append((match.start("size"), match.end("size"), match["size"]))
        for match in _LETTER_SIZE_ANY_CASE.finditer(text):
            found.append((match.start(), match.end(), match.group()))
        if not text.isupper():  # in a shouted message every letter is upper case
            for match in _LETTER_SIZE_UPPER.finditer(text):
                found.append((match.start(), match.end(), match.group()))
        for match in _NUMBER.finditer(folded):
            if int(match["number"]) in _SHOE_SIZES and self._is_count(folded, match):
                found.append((match.start(), match.end(), match["number"]))
        result: list[tuple[int, int, str]] = []
        for start, end, size in sorted(found):
            value = self._size_synonyms.get(size.upper(), size.upper())
            if value in self._sizes and all(end <= s or start >= e for s, e, _ in result):
                result.append((start, end, value))
        return result

    def _find_quantities(
        self,
        text: str,
        folded: str,
        language: Language | None,
        free: Callable[[int, int], bool],
    ) -> list[tuple[int, int, str]]:
        words = tuple(t for t in tokens(folded) if free(t.start, t.end))
        if len(tokens(folded)) < 2:  # "2" alone answers a menu, it is no quantity
            return []
        found: list[tuple[int, int, str]] = []
        for word in words:
            value = self._quantity_words.get(word.text)
            # "dos" is also Portuguese for "of the" ("o tamanho dos tenis").
            if value is not None and not (word.text == "dos" and language is Language.PT):
                found.append((word.start, word.end, value))
        for match in _NUMBER.finditer(folded):
            number = int(match["number"])
            if (
                1 <= number <= _MAX_QUANTITY
                and free(match.start(), match.end())
                and self._is_count(folded, match)
            ):
                found.append((match.start(), match.end(), str(number)))
        return found

    @staticmethod
    def _is_count(folded: str, match: re.Match[str]) -> bool:
        after = folded[match.end() :]
        before = folded[: match.start()]
        return not _NOT_A_COUNT_AFTER.match(after) and not _NOT_A_COUNT_BEFORE.search(before)

    def _colour_here(self, written: str, language: Language | None) -> bool:
        only_in = self._false_friends.get(written)
        return only_in is None or language is only_in


def _aliases_of(synonyms: Mapping[str, str], values: Iterable[str]) -> dict[str, str]:
    """The synonyms that name one of `values` ("CDMX" -> "Ciudad de México")."""
    known = set(values)
    return {written: value for written, value in synonyms.items() if value in known}
