"""The customer asks for a language ("in English please"): it is used from then on."""

from __future__ import annotations

from bots.flows.base import Context
from bots.language import remember_choice
from crm.models import Language

_NAMES = {
    Language.ES: ("es", "espanol", "español", "castellano", "spanish", "espanhol"),
    Language.PT: ("pt", "portugues", "português", "portuguese", "portugués", "brasileiro"),
    Language.EN: ("en", "english", "ingles", "inglés", "inglês"),
}


def switch_language(ctx: Context) -> None:
    """Use the language asked for from now on, and say so in it."""
    wanted = _parse_language(ctx.entity("language")) or ctx.understanding.language
    if wanted is None:
        ctx.say("language.which")
        return
    remember_choice(ctx.customer, ctx.state, wanted)
    ctx.language = wanted
    ctx.say("language.switched")


def _parse_language(value: str | None) -> Language | None:
    if value is None:
        return None
    value = value.strip().casefold()
    for language, names in _NAMES.items():
        if value in names or any(value.startswith(n[:5]) for n in names if len(n) > 4):
            return language
    return None
