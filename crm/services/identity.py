"""Who is writing: a channel address looked up to the customer it belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from crm.models import Channel, ChannelIdentity, Customer
from crm.phones import InvalidPhone, normalise_phone

# Channels whose address is a phone number, stored in E.164.
PHONE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP})


@dataclass(frozen=True)
class IdentityMatch:
    customer: Customer
    identity: ChannelIdentity
    verified: bool  # only a verified identity may unlock the customer's orders


def normalise_address(channel: Channel, address: str) -> str | None:
    """The address as the CRM stores it on that channel; None if it cannot be one."""
    if channel in PHONE_CHANNELS:
        try:
            return normalise_phone(address)
        except InvalidPhone:
            return None
    text = address.strip()
    return text or None


async def find_customer_by_identity(
    session: AsyncSession, channel: Channel, address: str
) -> IdentityMatch | None:
    """The customer who owns this address on this channel, or None.

    Phone channels (SMS, WhatsApp) compare in E.164, so "whatsapp:+34 612 34 56 78"
    finds "+34612345678"; an address that is no valid phone number finds nobody.
    A pure lookup: it never creates, links or merges customers, and `verified` tells
    the caller whether the identity may be trusted with the customer's data.
    """
    key = normalise_address(channel, address)
    if key is None:
        return None
    identity = await session.scalar(
        select(ChannelIdentity)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.address == key)
        .options(joinedload(ChannelIdentity.customer))
    )
    if identity is None:
        return None
    return IdentityMatch(customer=identity.customer, identity=identity, verified=identity.verified)
