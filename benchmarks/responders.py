"""Responders for the router benchmark: the least a bot can do, so the router is measured.

AcknowledgeResponder answers every message with one reply, in the customer's language,
and reads nothing from the database beyond what the router already loaded: the
router, the outbox and the channel adapters are what the benchmark then measures.
(An earlier version counted the conversation's replies first, to answer only its first
message: a round trip per message inside the answering transaction, which held a
niced `omnihub worker` at 440-470 replies/s where it now takes 500-600.)
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bots.catalogue import say
from bots.language import guess_language
from crm.models import Customer
from dialogue.messages import Reply
from dialogue.ports import Turn


class AcknowledgeResponder:
    """Implements dialogue.ports.Responder."""

    async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
        # The router loaded the batch's customers into the session: no statement here.
        customer = await session.get_one(Customer, turn.customer_id)
        return [Reply(say("greet.hello", guess_language(customer), name=""))]
