"""Which language to answer in: chosen, detected, or guessed from the phone's country."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.catalogue import DEFAULT_LANGUAGE
from bots.state import BotState
from crm.models import Customer, Language
from dialogue.ports import Understanding

if TYPE_CHECKING:
    from bots.flows.base import Context

# Until a customer writes something that tells, the country of the phone is the best
# guess there is.
_LANGUAGE_BY_PREFIX = (
    ("+55", Language.PT),
    ("+351", Language.PT),
    ("+1", Language.EN),
    ("+44", Language.EN),
    ("+34", Language.ES),
    ("+52", Language.ES),
)
_CHOSEN = "language_chosen"  # in BotState.extra: the customer asked for a language


def guess_language(customer: Customer) -> Language:
    if customer.language is not None:
        return customer.language
    for prefix, language in _LANGUAGE_BY_PREFIX:
        if customer.phone and customer.phone.startswith(prefix):
            return language
    return DEFAULT_LANGUAGE


def choose_language(customer: Customer, understanding: Understanding, state: BotState) -> Language:
    """The language to answer this message in, remembered on the customer.

    A language the customer asked for ("in English please") stays until they ask for
    another; otherwise the language of what they write, when the engine is sure of it.
    """
    detected = understanding.language
    if detected is not None and not state.extra.get(_CHOSEN):
        customer.language = detected
    return guess_language(customer)


def switch_language(ctx: Context) -> None:
    """The customer asked for a language: use it from now on, and say so in it."""
    wanted = _parse_language(ctx.entity("language")) or ctx.understanding.language
    if wanted is None:
        ctx.say("language.which")
        return
    ctx.customer.language = wanted
    ctx.state.extra[_CHOSEN] = True
    ctx.language = wanted
    ctx.say("language.switched")


_NAMES = {
    Language.ES: ("es", "espanol", "español", "castellano", "spanish", "espanhol"),
    Language.PT: ("pt", "portugues", "português", "portuguese", "portugués", "brasileiro"),
    Language.EN: ("en", "english", "ingles", "inglés", "inglês"),
}


def _parse_language(value: str | None) -> Language | None:
    if value is None:
        return None
    value = value.strip().casefold()
    for language, names in _NAMES.items():
        if value in names or any(value.startswith(n[:5]) for n in names if len(n) > 4):
            return language
    return None
