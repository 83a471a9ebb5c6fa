"""The training data in bots/data: intents, languages, lookups, synonyms, held-out apart."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from bots.nlu.normalise import fold
from bots.nlu.training import TrainingDataError, load_bundled, load_file, parse_example
from bots.nlu.vocabulary import colour_name, colours
from crm.models import Language
from crm.seed.data import COLOURS, PRODUCTS, STORES

HELDOUT = Path(__file__).with_name("heldout.yml")
CORE = [
    "order_status",
    "check_stock",
    "reserve_item",
    "cancel_reservation",
    "start_return",
    "store_info",
    "purchase_history",
    "human_handoff",
    "opt_out",
    "opt_in",
    "greet",
]
SMALL = ["goodbye", "thanks", "affirm", "deny", "out_of_scope", "change_language", "cancel_flow"]


def test_every_intent_has_enough_examples_in_every_language() -> None:
    counts = Counter((e.intent, e.language) for e in load_bundled().examples)
    for language in Language:
        for intent in CORE:
            assert counts[intent, language] >= 30, (intent, language)
        for intent in SMALL:
            assert counts[intent, language] >= 15, (intent, language)
    assert {intent for intent, _ in counts} == set(CORE) | set(SMALL)


def test_every_example_says_its_language() -> None:
    assert all(e.language is not None for e in load_bundled().examples)
    assert all(e.language is not None for e in load_file(HELDOUT).examples)


def test_heldout_is_not_training_data() -> None:
    trained = {fold(e.text).strip() for e in load_bundled().examples}
    heldout = load_file(HELDOUT).examples
    assert not [e.text for e in heldout if fold(e.text).strip() in trained]
    counts = Counter((e.intent, e.language) for e in heldout)
    assert all(counts[intent, language] >= 8 for intent in CORE + SMALL for language in Language)


def test_lookups_hold_the_demo_chain() -> None:
    lookups = load_bundled().lookups
    for product in PRODUCTS:
        assert set(product.names.values()) <= set(lookups["product"])
    for store in STORES:
        assert {store.name, store.city} <= set(lookups["store"])


def test_colour_synonyms_match_colours_yml() -> None:
    data = load_bundled()
    vocabulary = colours()
    assert set(vocabulary.by_key) == set(COLOURS)
    for word, key in vocabulary.words().items():
        assert word in data.lookups["color"], word
        if word != key:
            assert data.synonyms[word] == key, word


def test_colours_are_named_in_the_customers_language() -> None:
    assert colour_name("black", Language.ES) == "negro"
    assert colour_name("black", Language.PT) == "preto"
    assert colour_name("grey", Language.EN) == "grey"
    assert colours().by_key["white"].names[Language.ES] == (
        "blanco",
        "blanca",
        "blancos",
        "blancas",
    )
    assert colour_name("fuchsia", Language.ES) == "fuchsia"  # not ours: said as stored


def test_annotations_are_parsed_with_their_offsets() -> None:
    example = parse_example(
        'pedido [es100234](order_number) en [blanca]{"entity": "color", "value": "white"}',
        "order_status",
        Language.ES,
    )
    assert example.text == "pedido es100234 en blanca"
    first, second = example.entities
    assert (first.name, first.text, example.text[first.start : first.end]) == (
        "order_number",
        "es100234",
        "es100234",
    )
    assert (second.name, second.value, example.text[second.start : second.end]) == (
        "color",
        "white",
        "blanca",
    )


def test_malformed_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"nlu": [{"intent": "greet", "examples": "hola"}]}))
    with pytest.raises(TrainingDataError, match="- "):
        load_file(path)
    path.write_text("nlu: [\n")
    with pytest.raises(TrainingDataError, match="YAML"):
        load_file(path)


def test_files_without_nlu_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text('version: "3.1"\nrules: []\n')
    assert load_file(path).examples == ()
