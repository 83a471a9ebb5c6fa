"""A visitor who proved who they are by a one-time code: their earlier tokens end.

A token issued to an anonymous visitor may have been copied (a shared browser); once
a code makes that visitor a customer, the copy must not act as them. So, in the
transaction that verifies the identity, every token of the visitor ends (the
generation moves on, as when signing in, crm.services.webchat), whoever holds one;
a visitor who closed the tab at once is covered too, since nothing waits for a
socket. After the commit the visitor's topic carries a `proved` frame naming the
message with the code: the socket that stored that message (its server side knows,
dialogue.ports.Accepted) gets a token of the new generation, signed there with the
site's secret and sent to that socket alone; every other socket of the visitor
closes with 4401. The new token is never on the bus: a socket opened with a copied
token listens on the same topic.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.channels.webchat.frames import proved_frame, visitor_topic
from crm.models import Channel
from crm.services.webchat import end_all_visitor_tokens
from dialogue.ports import AfterCommit, Bus, IdentityVerified

logger = logging.getLogger(__name__)


class WebchatProofs:
    """Implements dialogue.ports.IdentityGuard for the web chat (other channels hand out
    nothing to end: a Telegram chat is its Telegram account, a phone its number)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def verified(self, session: AsyncSession, event: IdentityVerified) -> AfterCommit | None:
        if event.channel is not Channel.WEBCHAT:
            return None
        visitor = event.address
        generation = await end_all_visitor_tokens(session, visitor)
        frame = proved_frame(generation, event.provider_id).encode()

        async def announce() -> None:
            await self._bus.publish(visitor_topic(visitor), frame)

        return announce
