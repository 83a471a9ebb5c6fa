"""The hub understands customers through a real Rasa server trained on bots/."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from bots.nlu.embedded import EmbeddedNlu
from bots.nlu.rasa import RasaEngine
from bots.nlu.training import load_file
from crm.models import Language
from dialogue.ports import Understanding
from tests.rasa.server import HELDOUT, RasaServer

# What Rasa must reach on tests/nlu/heldout.yml, per language (measured figures are in
# docs/decisions.md); a drop below means the training data or the pipeline regressed.
ACCURACY_FLOOR = 0.80


class RasaMustAnswer:
    """The fall-back engine of these tests: here Rasa itself has to answer."""

    async def parse(self, text: str) -> Understanding:
        pytest.fail(f"Rasa did not answer {text!r}; the fall-back engine was asked")


@pytest.fixture(scope="module")
def embedded() -> EmbeddedNlu:
    return EmbeddedNlu.from_files()  # Rasa does not tell languages; the hub's engine does


@pytest.fixture
async def engine(rasa_server: RasaServer, embedded: EmbeddedNlu) -> RasaEngine:
    # The test's own timeout is generous: CI's two cores are shared with other work.
    return RasaEngine(
        rasa_server.url,
        fallback=RasaMustAnswer(),
        detect_language=embedded.detect_language,
        timeout=10,
    )


async def test_held_out_examples_are_understood_in_every_language(
    engine: RasaEngine, rasa_report: Callable[[str], None]
) -> None:
    examples = load_file(HELDOUT).examples
    right: Counter[Language | None] = Counter()
    total: Counter[Language | None] = Counter()
    misses = []
    async with engine:
        for example in examples:
            understood = await engine.parse(example.text)
            total[example.language] += 1
            if understood.intent == example.intent:
                right[example.language] += 1
            else:
                misses.append(f"{example.text!r}: {understood.intent}, not {example.intent}")

    accuracy = {language: right[language] / total[language] for language in total}
    each = ", ".join(f"{lang} {accuracy[lang]:.3f}" for lang in sorted(accuracy, key=str))
    rasa_report(
        f"held-out accuracy through Rasa ({len(examples)} examples): {each}, "
        f"all {sum(right.values()) / len(examples):.3f}"
    )
    assert set(accuracy) == set(Language)
    low = {language: round(a, 3) for language, a in accuracy.items() if a < ACCURACY_FLOOR}
    assert not low, f"below {ACCURACY_FLOOR} in {low}; misses:\n" + "\n".join(misses)


async def test_an_order_number_and_a_blank_message(engine: RasaEngine) -> None:
    async with engine:
        asked = await engine.parse("donde esta mi pedido ES-100234?")
        blank = await engine.parse(" ")

    assert asked.intent == "order_status"
    assert [(e.name, e.text) for e in asked.entities] == [("order_number", "ES-100234")]
    assert asked.language is Language.ES
    assert blank.intent == "out_of_scope"
