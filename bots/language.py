"""Which language to answer in: chosen, detected, or guessed from the phone's country."""

from __future__ import annotations

from bots.catalogue import DEFAULT_LANGUAGE
from bots.state import BotState
from crm.models import Customer, Language
from dialogue.ports import Understanding

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


def remember_choice(customer: Customer, state: BotState, language: Language) -> None:
    """The customer asked for `language`: it stays until they ask for another."""
    customer.language = language
    state.extra[_CHOSEN] = True
