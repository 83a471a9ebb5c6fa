"""Measures an NLU engine on labelled examples: per-intent precision and recall, accuracy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bots.nlu.training import Example
from dialogue.ports import NluEngine


@dataclass(frozen=True)
class IntentScore:
    intent: str
    precision: float
    recall: float
    support: int  # examples of this intent


@dataclass(frozen=True)
class Miss:
    example: Example
    predicted: str
    confidence: float


@dataclass(frozen=True)
class Evaluation:
    intents: tuple[IntentScore, ...]
    by_language: dict[str, tuple[float, int]]  # language -> (accuracy, examples)
    accuracy: float
    examples: int
    misses: tuple[Miss, ...]

    def lines(self) -> list[str]:
        """A plain-text report; the accuracy line comes last, for scripts to read."""
        out = [f"{'intent':<20} {'precision':>9} {'recall':>7} {'support':>8}"]
        for score in self.intents:
            out.append(
                f"{score.intent:<20} {score.precision:>9.3f} {score.recall:>7.3f} "
                f"{score.support:>8}"
            )
        out.append("")
        for language, (accuracy, count) in self.by_language.items():
            out.append(f"accuracy {language}: {accuracy:.3f} ({count} examples)")
        out.append(f"accuracy: {self.accuracy:.3f}")
        return out


async def evaluate(engine: NluEngine, examples: Sequence[Example]) -> Evaluation:
    """Parse every example and compare the intent found with the one labelled."""
    if not examples:
        raise ValueError("no examples to evaluate")
    predicted: list[tuple[Example, str, float]] = []
    for example in examples:
        understanding = await engine.parse(example.text)
        predicted.append((example, understanding.intent, understanding.confidence))
    true_positive: Counter[str] = Counter()
    said: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    right_in: Counter[str] = Counter()
    total_in: Counter[str] = Counter()
    misses = []
    for example, intent, confidence in predicted:
        said[intent] += 1
        actual[example.intent] += 1
        language = example.language.value if example.language is not None else "unknown"
        total_in[language] += 1
        if intent == example.intent:
            true_positive[intent] += 1
            right_in[language] += 1
        else:
            misses.append(Miss(example, intent, confidence))
    scores = tuple(
        IntentScore(
            intent,
            true_positive[intent] / said[intent] if said[intent] else 0.0,
            true_positive[intent] / actual[intent] if actual[intent] else 0.0,
            actual[intent],
        )
        for intent in sorted(set(actual) | set(said))
    )
    by_language = {
        language: (right_in[language] / count, count) for language, count in total_in.items()
    }
    return Evaluation(
        scores,
        by_language,
        sum(true_positive.values()) / len(predicted),
        len(predicted),
        tuple(misses),
    )
