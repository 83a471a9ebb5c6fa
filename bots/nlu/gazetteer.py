"""Finds lookup-table values (products, stores, colours) in a message, tolerating typos."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from bots.nlu.normalise import Token, fold, tokens

# Words that join a name's parts; they never count as evidence of a name.
_JOINING = "a o e y de da do das dos del la el los las com con with of the and em en in para"
_GENERIC = "pack kit par pares pairs rumbo"  # the brand is in every store's name
STOPWORDS = frozenset(f"{_JOINING} {_GENERIC}".split())


@dataclass(frozen=True)
class Alias:
    """One way of writing a lookup value: its folded words, and the value it stands for."""

    value: str
    words: tuple[str, ...]
    weights: tuple[float, ...]
    distinctive: frozenset[str]  # words that name this value on their own ("brisa")


@dataclass(frozen=True)
class Match:
    """A lookup value found in a message, over the characters start..end."""

    value: str
    start: int
    end: int
    words: int  # how many of the message's words it covers
    score: float  # 0..1: how much of the name the message said, weighted by rarity


def _similarity_cutoff(word: str) -> float:
    # Short words must be written exactly; one slip is allowed in longer ones.
    return 100.0 if len(word) <= 3 else 85.0 if len(word) <= 5 else 80.0


class Gazetteer:
    """The values of one lookup table, with aliases (synonyms) and fuzzy word matching.

    Each message word is matched against the table's vocabulary (exactly, else with
    rapidfuzz over pre-folded words and a cutoff), then the names whose words the message
    says are scored by how much of their rare words it covers.
    """

    def __init__(
        self,
        values: Iterable[str],
        aliases: Mapping[str, str] | None = None,
        *,
        min_score: float = 0.5,
        fuzzy: bool = True,
    ) -> None:
        written: dict[str, str] = {value: value for value in values}
        for synonym, value in (aliases or {}).items():
            written[synonym] = value  # a synonym names its value, even when listed itself
        self.min_score = min_score
        self.fuzzy = fuzzy
        names = {text: _content_words(text) for text in written}
        names = {text: words for text, words in names.items() if words}
        document_frequency: dict[str, int] = defaultdict(int)
        for words in names.values():
            for word in set(words):
                document_frequency[word] += 1
        total = max(len(names), 1)
        distinctive = frozenset().union(*(_distinctive(text, document_frequency) for text in names))
        self._aliases: list[Alias] = []
        self._by_word: dict[str, list[int]] = defaultdict(list)
        for text, words in names.items():
            weights = tuple(math.log(total / document_frequency[w]) + 1.0 for w in words)
            alias = Alias(written[text], words, weights, distinctive & frozenset(words))
            for word in set(words):
                self._by_word[word].append(len(self._aliases))
            self._aliases.append(alias)
        self._vocabulary = tuple(self._by_word)
        self._similar = lru_cache(maxsize=8192)(self._similar_uncached)

    def _similar_uncached(self, word: str) -> tuple[tuple[str, float], ...]:
        if word in self._by_word:
            return ((word, 1.0),)
        if not self.fuzzy or len(word) < 4 or word.isdigit():
            return ()
        found = process.extract(
            word,
            self._vocabulary,
            scorer=fuzz.ratio,
            score_cutoff=_similarity_cutoff(word),
            limit=3,
        )
        return tuple((choice, score / 100.0) for choice, score, _ in found)

    def find(self, words: tuple[Token, ...]) -> list[Match]:
        """Every value the message's words name, overlapping ones included."""
        hits: dict[int, dict[str, tuple[float, int]]] = defaultdict(dict)
        for position, token in enumerate(words):
            if token.text in STOPWORDS:
                continue
            for word, similarity in self._similar(token.text):
                for index in self._by_word[word]:
                    best = hits[index].get(word)
                    if best is None or similarity > best[0]:
                        hits[index][word] = (similarity, position)
        matches = []
        for index, said in hits.items():
            match = self._score(self._aliases[index], said, words)
            if match is not None:
                matches.append(match)
        return matches

    def _score(
        self, alias: Alias, said: dict[str, tuple[float, int]], words: tuple[Token, ...]
    ) -> Match | None:
        positions = sorted(position for _, position in said.values())
        first, last = positions[0], positions[-1]
        if last - first > len(alias.words) + 1:  # words scattered over the message
            return None
        covered = sum(
            weight * said[word][0]
            for word, weight in zip(alias.words, alias.weights, strict=True)
            if word in said
        )
        score = covered / sum(alias.weights)
        named = any(
            word in alias.distinctive and similarity >= 0.85
            for word, (similarity, _) in said.items()
        )
        if score < self.min_score and not named:
            return None
        return Match(alias.value, words[first].start, words[last].end, last - first + 1, score)


def _content_words(text: str) -> tuple[str, ...]:
    return tuple(
        token.text
        for token in tokens(fold(text))
        if token.text not in STOPWORDS and len(token.text) > 1 and not token.text.isdigit()
    )


def _distinctive(text: str, document_frequency: Mapping[str, int]) -> frozenset[str]:
    """The words that name a value by themselves: a proper name inside it ("Zapatilla
    urbana Brisa"), or a rare long word ("chino" in two languages' names of the chinos).
    """
    result = set()
    original = [token for token in tokens(text) if fold(token.text) not in STOPWORDS]
    for position, token in enumerate(original):
        word = fold(token.text)
        if len(word) < 4 or word.isdigit():
            continue
        if (position > 0 and token.text[0].isupper()) or document_frequency[word] <= 2:
            result.add(word)
    return frozenset(result)


def best_matches(matches: Iterable[tuple[str, Match]]) -> list[tuple[str, Match]]:
    """Non-overlapping matches, preferring those covering more words, then better scores."""
    chosen: list[tuple[str, Match]] = []
    ordered = sorted(matches, key=lambda item: (-item[1].words, -item[1].score, item[1].start))
    for name, match in ordered:
        if all(match.end <= other.start or match.start >= other.end for _, other in chosen):
            chosen.append((name, match))
    return sorted(chosen, key=lambda item: item[1].start)
