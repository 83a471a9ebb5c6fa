"""Who wrote: turns a channel address into a customer, linking only on vouched evidence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    VerificationMethod,
)
from crm.phones import InvalidPhone, normalise_phone
from dialogue.messages import Inbound

PHONE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP})


def channel_address(channel: Channel, address: str) -> str:
    """The form an address is stored in: E.164 on phone channels, as given elsewhere."""
    return normalise_phone(address) if channel in PHONE_CHANNELS else address.strip()


def _vouched_phone(inbound: Inbound) -> str | None:
    if inbound.vouched_phone is None:
        return None
    try:
        return normalise_phone(inbound.vouched_phone)
    except InvalidPhone:
        return None


def _method(inbound: Inbound) -> VerificationMethod:
    if inbound.channel in PHONE_CHANNELS:
        return VerificationMethod.CARRIER
    if inbound.channel is Channel.TELEGRAM:
        return VerificationMethod.TELEGRAM_CONTACT
    return VerificationMethod.WEBCHAT_HMAC


async def resolve_sender(
    session: AsyncSession, inbound: Inbound, now: datetime
) -> tuple[Customer, ChannelIdentity]:
    """The customer behind an inbound message, and the identity it came through.

    - A known address is its customer.
    - A phone the carrier or Telegram vouches for joins the customer already known by
      that phone (a verified phone identity, or else the one shop record with it).
    - A web-chat visitor the shop's backend signed for is that shop customer.
    - Anyone else gets a profile of their own, never merged on unverified data.

    When evidence arrives later (a Telegram user shares their own contact, a visitor
    logs in), the identity moves to the vouched customer, with its conversation.
    """
    address = channel_address(inbound.channel, inbound.address)
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == inbound.channel, ChannelIdentity.address == address
        )
    )
    vouched = await _vouched_customer(session, inbound)
    if identity is None:
        customer = vouched or Customer(name=inbound.display_name)
        if customer.id is None:
            session.add(customer)
            await session.flush()
        identity = ChannelIdentity(
            customer_id=customer.id, channel=inbound.channel, address=address
        )
        session.add(identity)
    elif vouched is not None:
        customer = vouched
        if vouched.id != identity.customer_id:
            await _move_identity(session, identity, vouched, now)
    else:
        customer = await session.get_one(Customer, identity.customer_id)

    if vouched is not None or inbound.channel in PHONE_CHANNELS:
        if not identity.verified:
            identity.verified = True
            identity.verified_by = _method(inbound)
            identity.verified_at = now
        phone = _vouched_phone(inbound)
        if phone is not None and customer.phone is None:
            customer.phone = phone
    if inbound.display_name:
        identity.display_name = inbound.display_name
        if customer.name is None:
            customer.name = inbound.display_name
    identity.last_seen_at = now
    await session.flush()
    return customer, identity


async def _vouched_customer(session: AsyncSession, inbound: Inbound) -> Customer | None:
    """The customer that the provider's or the shop's word points to, if any."""
    if inbound.shop_customer_id:
        known = await session.scalar(
            select(Customer).where(Customer.external_id == inbound.shop_customer_id)
        )
        if known is not None:
            return known
        customer = Customer(external_id=inbound.shop_customer_id, name=inbound.display_name)
        session.add(customer)
        await session.flush()
        return customer
    phone = _vouched_phone(inbound)
    if phone is None:
        return None
    by_identity = await session.scalar(
        select(Customer)
        .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
        .where(
            ChannelIdentity.channel.in_(PHONE_CHANNELS),
            ChannelIdentity.address == phone,
            ChannelIdentity.verified.is_(True),
        )
        .limit(1)
    )
    if by_identity is not None:
        return by_identity
    # The shop's records: only an unambiguous match (a shared family phone is not).
    matches = (
        await session.scalars(select(Customer).where(Customer.phone == phone).limit(2))
    ).all()
    return matches[0] if len(matches) == 1 else None


async def _move_identity(
    session: AsyncSession, identity: ChannelIdentity, target: Customer, now: datetime
) -> None:
    """Re-point an identity at the customer someone vouched for, with its open chat."""
    source_id = identity.customer_id
    identity.customer_id = target.id
    source_open = await _open_conversation(session, source_id)
    if source_open is None:
        return
    target_open = await _open_conversation(session, target.id)
    if target_open is None:
        source_open.customer_id = target.id
        return
    # Both had an open conversation: one conversation per customer, so the newer
    # history joins the vouched customer's conversation.
    await session.execute(
        update(Message)
        .where(Message.conversation_id == source_open.id)
        .values(conversation_id=target_open.id)
        .execution_options(synchronize_session=False)
    )
    source_open.status = ConversationStatus.RESOLVED
    source_open.resolved_at = now


async def _open_conversation(session: AsyncSession, customer_id: int) -> Conversation | None:
    return await session.scalar(
        select(Conversation).where(
            Conversation.customer_id == customer_id,
            Conversation.status != ConversationStatus.RESOLVED,
        )
    )
