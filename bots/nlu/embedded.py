"""The embedded NLU engine: trained from bots/data at start-up, no server needed."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bots.nlu.classifier import Features, LinearClassifier, Row
from bots.nlu.entities import EntityExtractor
from bots.nlu.normalise import fold
from bots.nlu.training import TrainingData, load_bundled
from bots.nlu.vocabulary import Colours, colours
from crm.models import Language
from dialogue.ports import Entity, Understanding

OUT_OF_SCOPE = "out_of_scope"
# Below this probability the best intent is a guess: the message is out of scope. Chosen
# on the held-out file (tests/nlu/heldout.yml) among 0.15..0.5.
INTENT_THRESHOLD = 0.2
# Below this the language is not told ("ok", "2", "👍" are written alike in all three).
LANGUAGE_THRESHOLD = 0.7
# Fewer letters than this cannot tell a language.
MIN_LETTERS = 3


@dataclass(frozen=True)
class TrainingReport:
    examples: int
    intents: int
    seconds: float


class EmbeddedNlu:
    """Implements dialogue.ports.NluEngine with scikit-learn classifiers and lookups.

    `extra_lookups` adds values to the lookup tables ("product", "store", "size"), e.g.
    the shop's catalogue and stores read from its database at start.
    """

    def __init__(
        self,
        data: TrainingData,
        *,
        extra_lookups: Mapping[str, Iterable[str]] | None = None,
        colour_vocabulary: Colours | None = None,
    ) -> None:
        started = time.perf_counter()
        if not any(example.language is not None for example in data.examples):
            raise ValueError("no training examples with a language")
        self._features = Features()
        matrix = self._features.fit_transform([example.text for example in data.examples])
        self._intents = LinearClassifier()
        self._intents.fit(matrix, [example.intent for example in data.examples])
        with_language = [
            index for index, example in enumerate(data.examples) if example.language is not None
        ]
        self._languages = LinearClassifier()
        self._languages.fit(
            matrix[with_language],
            [str(data.examples[index].language) for index in with_language],
        )
        self._entities = EntityExtractor(data, colour_vocabulary or colours(), extra_lookups)
        self.report = TrainingReport(
            len(data.examples), len(data.intents), time.perf_counter() - started
        )

    @classmethod
    def from_files(cls, *, extra_lookups: Mapping[str, Iterable[str]] | None = None) -> EmbeddedNlu:
        """The engine trained on the chatbot's own data, bots/data/*.yml."""
        return cls(load_bundled(), extra_lookups=extra_lookups)

    async def parse(self, text: str) -> Understanding:
        return self.understand(text)

    def understand(self, text: str) -> Understanding:
        """What `parse` answers, without the event loop (CLI, benchmarks)."""
        features = self._features.transform(text)
        intent = self._intents.predict(features)
        language = self._language(text, features)
        name = intent.label if intent.probability >= INTENT_THRESHOLD else OUT_OF_SCOPE
        return Understanding(
            intent=name,
            confidence=intent.probability,
            entities=self._entities.extract(text, language),
            language=language,
        )

    def detect_language(self, text: str) -> Language | None:
        """The language `text` is written in, or None when it does not tell."""
        return self._language(text, self._features.transform(text))

    def entities(self, text: str, language: Language | None = None) -> tuple[Entity, ...]:
        """Only the entities, with canonical values (also for another engine's parses)."""
        return self._entities.extract(text, language)

    def _language(self, text: str, features: Row) -> Language | None:
        if sum(char.isalpha() for char in fold(text)) < MIN_LETTERS:
            return None
        guess = self._languages.predict(features)
        return Language(guess.label) if guess.probability >= LANGUAGE_THRESHOLD else None
