"""Responders for the router benchmark: the least a bot can do, so the router is measured.

AcknowledgeResponder answers each conversation once, in the customer's language, so
every new customer gets exactly one reply: end-to-end latency is one reply per message.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bots.catalogue import say
from bots.language import guess_language
from crm.models import Customer, Message, MessageDirection
from dialogue.messages import Reply
from dialogue.ports import Turn


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
        return [Reply(say("greet.hello", guess_language(customer), name=""))]
