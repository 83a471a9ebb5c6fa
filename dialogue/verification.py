"""Linking a channel identity to a customer once they proved it with a one-time code.

Each proof is noted on the session (`verified_in` hands them to the router, which
has the channel end what it issued before, dialogue.ports.IdentityGuard): the
responder that checks the code runs inside the router's transaction and answers only
with replies, so the note travels with the transaction it belongs to, and is gone
with it if that rolls back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    VerificationMethod,
)
from dialogue.identity import _move_identity, channel_address
from dialogue.ports import IdentityVerified

_VERIFIED = "dialogue.verified"  # in AsyncSession.info: this transaction's proofs


class UnknownIdentity(LookupError):
    """No identity with that channel and address: nobody wrote from it."""


def verified_in(session: AsyncSession) -> list[IdentityVerified]:
    """The identities proved in this session's transaction so far; each is told once."""
    proofs: list[IdentityVerified] = session.info.pop(_VERIFIED, [])
    return proofs


async def verify_by_code(
    session: AsyncSession,
    channel: Channel,
    address: str,
    customer: Customer,
    now: datetime,
    *,
    provider_id: str,
) -> Conversation | None:
    """Vouch that (channel, address) is `customer`: they typed the code we sent to them.

    The identity moves to the customer with its open conversation (as when a provider
    vouches, see dialogue.identity) and is marked verified by one-time code. Returns the
    customer's open conversation, which goes on on this channel; when the customer had
    one already, it is that one (the identity's conversation joined it).
    `provider_id` is the message that carried the code: the channel may hand its
    sender, and only them, what replaces the credentials that end (`verified_in`).
    """
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel,
            ChannelIdentity.address == channel_address(channel, address),
        )
    )
    if identity is None:
        raise UnknownIdentity(f"no {channel} identity {address!r}")
    if identity.customer_id != customer.id:
        await _move_identity(session, identity, customer, now)
    identity.verified = True
    identity.verified_by = VerificationMethod.ONE_TIME_CODE
    identity.verified_at = now
    await session.flush()
    proof = IdentityVerified(channel, identity.address, provider_id)
    session.info.setdefault(_VERIFIED, []).append(proof)
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.customer_id == customer.id,
            Conversation.status != ConversationStatus.RESOLVED,
        )
    )
    if conversation is not None:
        conversation.last_channel = channel
        conversation.last_address = identity.address
        conversation.updated_at = now
        await session.flush()
    return conversation
