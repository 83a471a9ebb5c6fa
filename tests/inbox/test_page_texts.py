"""The inbox page's texts: every key in Spanish, Portuguese and English; no markup sinks."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

from crm.models import (
    AgentRole,
    Channel,
    ConversationStatus,
    DeliveryStatus,
    Language,
    MessageAuthor,
    OrderStatus,
    ReservationStatus,
    ReturnReason,
    ReturnStatus,
)

STATIC = Path(__file__).parents[2] / "adapters" / "web" / "inbox" / "static"
MODULES = {path.name: path.read_text() for path in sorted(STATIC.glob("*.js"))}
SCRIPT = "\n".join(MODULES.values())
PAGE = (STATIC / "inbox.html").read_text()


def _texts(language: str) -> dict[str, str]:
    texts: dict[str, str] = json.loads((STATIC / "texts" / f"{language}.json").read_text())
    return texts


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_text_is_written_in_the_three_languages() -> None:
    files = {path.stem for path in (STATIC / "texts").glob("*.json")}
    assert files == {language.value for language in Language}
    english = _texts("en")
    assert english
    for language in ("es", "pt"):
        texts = _texts(language)
        assert set(texts) == set(english), language
        assert all(isinstance(text, str) and text for text in texts.values()), language
        for key, text in texts.items():
            assert _placeholders(text) == _placeholders(english[key]), (key, language)


def test_the_page_loads_the_languages_there_are_files_for() -> None:
    languages = re.search(r"const LANGUAGES = \[([^\]]*)\]", MODULES["texts.js"])
    assert languages is not None
    assert set(re.findall(r'"(\w+)"', languages[1])) == {language.value for language in Language}


def test_every_key_the_page_names_is_in_the_dictionary() -> None:
    keys = set(_texts("en"))
    named = set(re.findall(r'data-t(?:-placeholder|-aria-label)?="(\w+)"', PAGE))
    # t("key"), and the few helpers that take a key and call t() with it.
    named |= set(re.findall(r'\b(?:t|section|row|add)\("(\w+)"', SCRIPT))
    assert len(named) > 100
    assert named - keys == set()
    # A key made of a prefix and a value (t(`rr_${reason}`), term("os", status)): the
    # prefix names a vocabulary that has words.
    prefixes = set(re.findall(r"\bt\(`(\w+)_\$\{", SCRIPT))
    prefixes |= set(re.findall(r'\bterm\("(\w+)"', SCRIPT))
    assert prefixes >= {"ch", "st", "os", "rs", "rt", "rr", "ds", "author", "role"}
    for prefix in prefixes:
        assert any(key.startswith(f"{prefix}_") for key in keys), prefix


def test_the_hubs_vocabularies_have_words() -> None:
    keys = set(_texts("en"))
    vocabularies = {
        "ch": Channel,
        "st": ConversationStatus,
        "os": OrderStatus,
        "rs": ReservationStatus,
        "rt": ReturnStatus,
        "rr": ReturnReason,
        "role": AgentRole,
        "author": MessageAuthor,
    }
    for prefix, vocabulary in vocabularies.items():
        missing = {member.value for member in vocabulary} - {
            key.removeprefix(f"{prefix}_") for key in keys if key.startswith(f"{prefix}_")
        }
        assert missing == set(), prefix
    statuses = {status.value for status in DeliveryStatus}
    assert {key.removeprefix("ds_") for key in keys if key.startswith("ds_")} <= statuses


def test_the_script_never_parses_markup() -> None:
    assert set(MODULES) > {"inbox.js", "texts.js"}
    for name, module in MODULES.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in module, (name, sink)
