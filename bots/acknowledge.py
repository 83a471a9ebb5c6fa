"""The responder until the chatbot lands: says, once per conversation, that it listened.

It tells the customer the truth in their language (the message is kept, the automatic
assistant is not there yet) instead of pretending to understand.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bots.catalogue import DEFAULT_LANGUAGE, text
from crm.models import Customer, Language, Message, MessageDirection
from dialogue.messages import Reply
from dialogue.ports import Turn

# Until languages are detected from what customers write, the country of a phone
# is the best guess there is.
_LANGUAGE_BY_PREFIX = (
    ("+55", Language.PT),
    ("+351", Language.PT),
    ("+1", Language.EN),
    ("+44", Language.EN),
    ("+34", Language.ES),
    ("+52", Language.ES),
)


def guess_language(customer: Customer) -> Language:
    if customer.language is not None:
        return customer.language
    for prefix, language in _LANGUAGE_BY_PREFIX:
        if customer.phone and customer.phone.startswith(prefix):
            return language
    return DEFAULT_LANGUAGE


class AcknowledgeResponder:
    """Implements dialogue.ports.Responder."""

    async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
        already_answered = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.conversation_id == turn.conversation_id,
                Message.direction == MessageDirection.OUTBOUND,
            )
        )
        if already_answered:
            return []
        customer = await session.get_one(Customer, turn.customer_id)
        return [Reply(text("ack.received", guess_language(customer)))]
