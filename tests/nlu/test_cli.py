"""`omnihub nlu parse` and `omnihub nlu evaluate`, through click as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from adapters.cli import cli

HELDOUT = Path(__file__).with_name("heldout.yml")
EMBEDDED: dict[str, str | None] = {"OMNIHUB_RASA_URL": None}  # unset: the embedded engine


def test_parse_prints_json() -> None:
    result = CliRunner().invoke(
        cli, ["nlu", "parse", "tienen la zapatila brisa en el 42?"], env=EMBEDDED
    )
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.output)
    assert parsed["intent"] == "check_stock"
    assert 0 < parsed["confidence"] <= 1
    assert parsed["language"] == "es"
    assert {"entity": "size", "value": "42", "start": 31, "end": 33, "text": "42"} in parsed[
        "entities"
    ]
    products = [e["value"] for e in parsed["entities"] if e["entity"] == "product"]
    assert products == ["Zapatilla urbana Brisa"]


def test_parse_says_null_for_a_language_it_cannot_tell() -> None:
    result = CliRunner().invoke(cli, ["nlu", "parse", "ok"], env=EMBEDDED)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["language"] is None


def test_evaluate_reports_per_intent_and_ends_with_the_accuracy() -> None:
    result = CliRunner().invoke(cli, ["nlu", "evaluate", str(HELDOUT)], env=EMBEDDED)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert re.fullmatch(r"accuracy: 0\.9\d\d", lines[-1]), lines[-1]
    assert any(line.startswith("order_status ") for line in lines)
    for language in ("es", "pt", "en"):
        assert any(line.startswith(f"accuracy {language}: ") for line in lines)


def test_evaluate_refuses_a_file_without_examples(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yml"
    empty.write_text('version: "3.1"\nnlu: []\n')
    result = CliRunner().invoke(cli, ["nlu", "evaluate", str(empty)], env=EMBEDDED)
    assert result.exit_code != 0
    assert "no intent examples" in result.output
