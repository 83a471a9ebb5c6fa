"""What text the database can hold: no NUL, and no lone surrogates (not UTF-8)."""

from __future__ import annotations


def storable(text: str) -> bool:
    """True if PostgreSQL keeps `text` as given (SQLite would, but the two must agree).

    PostgreSQL refuses NUL in text and JSONB, and text that does not encode as UTF-8:
    a lone surrogate such as "\\ud800", which Python's json and some codecs produce.
    """
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
