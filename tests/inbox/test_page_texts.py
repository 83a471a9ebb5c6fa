"""The inbox page's texts: every key in Spanish, Portuguese and English; no markup sinks."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).parents[2] / "adapters" / "web" / "inbox" / "static"
SCRIPT = (STATIC / "inbox.js").read_text()
PAGE = (STATIC / "inbox.html").read_text()


def _dictionary() -> dict[str, set[str]]:
    block = SCRIPT[SCRIPT.index("const TEXTS = {") : SCRIPT.index("\n};\n")]
    languages: dict[str, set[str]] = {}
    current = ""
    for line in block.splitlines():
        if opened := re.fullmatch(r"  (\w\w): \{", line):
            current = opened[1]
            languages[current] = set()
        elif key := re.match(r"    (\w+):", line):
            languages[current].add(key[1])
    return languages


def test_every_text_is_written_in_the_three_languages() -> None:
    languages = _dictionary()
    assert set(languages) == {"en", "es", "pt"}
    assert languages["es"] == languages["en"]
    assert languages["pt"] == languages["en"]


def test_every_key_the_page_names_is_in_the_dictionary() -> None:
    keys = _dictionary()["en"]
    named = set(re.findall(r'data-t(?:-placeholder|-aria-label)?="(\w+)"', PAGE))
    named |= set(re.findall(r'\bt\("(\w+)"', SCRIPT))
    assert named - keys == set()


def test_the_script_never_parses_markup() -> None:
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in SCRIPT
