"""Which of the languages we speak a browser (or a visitor's explicit choice) prefers."""

from __future__ import annotations

from collections.abc import Iterable

from crm.models import Language

DEFAULT_LANGUAGE = Language.EN


def preferred_language(
    accept_language: str | None, offered: Iterable[Language] = tuple(Language)
) -> Language | None:
    """The offered language an Accept-Language value ranks highest, or None.

    Ranked by q-value, then by position ("fr;q=0.9, pt;q=0.2, es;q=0.8" is es); a
    region counts as its language ("pt-BR" is pt); q=0 means "not this one". A single
    tag ("pt", from ?lang=pt or the widget's own choice) is the simplest such value.
    """
    codes = {language.value: language for language in offered}
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().replace("_", "-").split("-")[0]
        ranked.append((-quality, position, primary))
    for negative_quality, _, primary in sorted(ranked):
        if negative_quality < 0 and primary in codes:
            return codes[primary]
    return None


def pick_language(*candidates: str | None, default: Language = DEFAULT_LANGUAGE) -> Language:
    """The language of the first candidate that names one we speak (an explicit choice
    first, then the Accept-Language header), else `default`."""
    for candidate in candidates:
        language = preferred_language(candidate)
        if language is not None:
            return language
    return default
