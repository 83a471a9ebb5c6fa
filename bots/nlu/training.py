"""Reads Rasa 3.x NLU YAML (intents, lookups, synonyms, regexes) into typed training data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from crm.models import Language

# `[ES-100234](order_number)` or `[blanca]{"entity": "color", "value": "white"}`
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<name>[^)]+)\)|(?P<json>\{[^}]*\}))")


class TrainingDataError(ValueError):
    """A training file is not the Rasa NLU YAML this reader understands."""


@dataclass(frozen=True)
class Annotation:
    """An entity marked in a training example."""

    name: str
    text: str
    value: str | None  # a value given in the annotation, when it differs from the text
    start: int
    end: int


@dataclass(frozen=True)
class Example:
    """One training (or test) sentence with its intent, language and marked entities."""

    text: str
    intent: str
    language: Language | None
    entities: tuple[Annotation, ...] = ()


@dataclass(frozen=True)
class TrainingData:
    """Everything an NLU engine learns from, as Rasa's YAML files hold it."""

    examples: tuple[Example, ...] = ()
    lookups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    synonyms: Mapping[str, str] = field(default_factory=dict)  # written text -> value
    regexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def intents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(example.intent for example in self.examples))

    def merged(self, other: TrainingData) -> TrainingData:
        lookups = {name: tuple(values) for name, values in self.lookups.items()}
        for name, values in other.lookups.items():
            lookups[name] = tuple(dict.fromkeys((*lookups.get(name, ()), *values)))
        regexes = dict(self.regexes)
        for name, patterns in other.regexes.items():
            regexes[name] = (*regexes.get(name, ()), *patterns)
        return TrainingData(
            examples=(*self.examples, *other.examples),
            lookups=lookups,
            synonyms={**self.synonyms, **other.synonyms},
            regexes=regexes,
        )


def parse_example(line: str, intent: str, language: Language | None) -> Example:
    """Strip Rasa's entity markup from one example, keeping where each entity stands."""
    text: list[str] = []
    annotations: list[Annotation] = []
    position = 0
    length = 0
    for match in _ANNOTATION.finditer(line):
        before = line[position : match.start()]
        text.append(before)
        length += len(before)
        surface = match["text"]
        if match["json"] is not None:
            try:
                spec = json.loads(match["json"])
            except json.JSONDecodeError as exc:
                raise TrainingDataError(f"bad entity annotation in {line!r}") from exc
            name, value = str(spec["entity"]), spec.get("value")
        else:
            name, _, given = match["name"].partition(":")
            value = given or None
        annotations.append(
            Annotation(
                name, surface, None if value is None else str(value), length, length + len(surface)
            )
        )
        text.append(surface)
        length += len(surface)
        position = match.end()
    text.append(line[position:])
    return Example("".join(text), intent, language, tuple(annotations))


def _lines(block: Any, where: str) -> list[str]:
    if not isinstance(block, str):
        raise TrainingDataError(f"{where}: `examples` must be a block of `- ` lines")
    lines = []
    for raw in block.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("- "):
            raise TrainingDataError(f"{where}: example line without `- `: {line!r}")
        lines.append(line[2:].strip())
    return lines


def _language(metadata: Any, where: str) -> Language | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise TrainingDataError(f"{where}: `metadata` must be a mapping")
    value = metadata.get("language")
    if value is None:
        return None
    try:
        return Language(str(value))
    except ValueError as exc:
        raise TrainingDataError(f"{where}: unknown language {value!r}") from exc


def parse_nlu(document: Any, source: str = "<yaml>") -> TrainingData:
    """Training data from one parsed Rasa YAML document (files without `nlu:` give none)."""
    if not isinstance(document, dict) or "nlu" not in document:
        return TrainingData()
    items = document["nlu"] or []
    if not isinstance(items, list):
        raise TrainingDataError(f"{source}: `nlu` must be a list")
    examples: list[Example] = []
    lookups: dict[str, tuple[str, ...]] = {}
    synonyms: dict[str, str] = {}
    regexes: dict[str, tuple[str, ...]] = {}
    for item in items:
        if not isinstance(item, dict):
            raise TrainingDataError(f"{source}: every `nlu` entry must be a mapping")
        if "intent" in item:
            intent = str(item["intent"])
            where = f"{source}: intent {intent}"
            language = _language(item.get("metadata"), where)
            for line in _lines(item.get("examples"), where):
                examples.append(parse_example(line, intent, language))
        elif "lookup" in item:
            name = str(item["lookup"])
            values = _lines(item.get("examples"), f"{source}: lookup {name}")
            lookups[name] = tuple(dict.fromkeys((*lookups.get(name, ()), *values)))
        elif "synonym" in item:
            value = str(item["synonym"])
            for written in _lines(item.get("examples"), f"{source}: synonym {value}"):
                synonyms[written] = value
        elif "regex" in item:
            name = str(item["regex"])
            patterns = _lines(item.get("examples"), f"{source}: regex {name}")
            regexes[name] = (*regexes.get(name, ()), *patterns)
        else:
            raise TrainingDataError(f"{source}: unknown `nlu` entry {sorted(item)}")
    return TrainingData(tuple(examples), lookups, synonyms, regexes)


def load_file(path: Path) -> TrainingData:
    """Training data from one Rasa NLU YAML file."""
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise TrainingDataError(f"{path}: not valid YAML: {exc}") from exc
    return parse_nlu(document, str(path))


def load_files(paths: Iterable[Path]) -> TrainingData:
    data = TrainingData()
    for path in paths:
        data = data.merged(load_file(path))
    return data


def bundled_paths() -> tuple[Path, ...]:
    """The YAML files of the bots/ Rasa project's data directory."""
    directory = Path(str(resources.files("bots").joinpath("data")))
    return tuple(sorted(directory.glob("*.yml")))


def load_bundled() -> TrainingData:
    """The chatbot's own training data, bots/data/*.yml (files without `nlu:` are skipped)."""
    return load_files(bundled_paths())
