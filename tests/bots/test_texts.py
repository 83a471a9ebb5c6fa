"""Every reply exists in Spanish, Portuguese and English, with the same placeholders."""

from __future__ import annotations

import string

from bots.catalogue import keys, text
from crm.models import Language


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_text_exists_in_every_language() -> None:
    spanish = keys(Language.ES)
    assert spanish
    for language in Language:
        assert keys(language) == spanish, language


def test_translations_fill_the_same_placeholders() -> None:
    for key in keys(Language.ES):
        expected = _placeholders(text(key, Language.ES))
        for language in (Language.PT, Language.EN):
            assert _placeholders(text(key, language)) == expected, (key, language)
