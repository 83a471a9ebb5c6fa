"""Opt-outs learnt while sending or from a delivery status: a STOP becomes a consent row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Channel, ConsentPurpose, Conversation
from crm.services.consents import record_consent


async def record_opt_out(
    session: AsyncSession, conversation_id: int, channel: Channel, source: str, now: datetime
) -> None:
    """The customer of a conversation said STOP on `channel`: record the opt-out."""
    conversation = await session.get_one(Conversation, conversation_id)
    await record_consent(
        session,
        conversation.customer_id,
        channel,
        ConsentPurpose.MARKETING,
        False,
        source,
        now=now,
    )
