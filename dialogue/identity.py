"""Who wrote: turns a channel address into a customer, linking only on vouched evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar, cast

from sqlalchemy import Table, bindparam, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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


class _Holder(Protocol):
    """A customer as either path holds it: an ORM Customer, or a SenderRow."""

    phone: str | None
    name: str | None


class _Address(Protocol):
    """An identity as either path holds it: an ORM ChannelIdentity, or an _IdentityRow."""

    verified: bool
    verified_by: VerificationMethod | None
    verified_at: datetime | None
    display_name: str | None


H = TypeVar("H", bound=_Holder)


def _the_one_with_phone(shop_records: Sequence[H]) -> H | None:
    """The shop's records with a vouched phone vouch only when they agree on one
    customer: a shared family phone is not proof of who writes."""
    return shop_records[0] if len(shop_records) == 1 else None


@dataclass(frozen=True)
class _Learnt:
    """What a message taught about its customer (to be written back)."""

    phone: bool = False  # the vouched phone became the customer's
    name: bool = False  # the display name became the customer's


def _learn(
    inbound: Inbound,
    identity: _Address,
    customer: _Holder,
    *,
    vouched: bool,
    phone: str | None,
    now: datetime,
) -> _Learnt:
    """The rule both paths apply once a message's identity and customer are known.

    Evidence (someone vouched, or a phone channel, where the carrier does) verifies
    the identity, and a vouched phone becomes the customer's if it had none; a
    display name names the identity, and the customer if it had no name. Nothing
    else is ever taken from an unverified message.
    """
    phone_set = name_set = False
    if vouched or inbound.channel in PHONE_CHANNELS:
        if not identity.verified:
            identity.verified = True
            identity.verified_by = _method(inbound)
            identity.verified_at = now
        if phone is not None and customer.phone is None:
            customer.phone = phone
            phone_set = True
    if inbound.display_name:
        identity.display_name = inbound.display_name
        if customer.name is None:
            customer.name = inbound.display_name
            name_set = True
    return _Learnt(phone_set, name_set)


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

    _learn(
        inbound,
        identity,
        customer,
        vouched=vouched is not None,
        phone=_vouched_phone(inbound),
        now=now,
    )
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
    matches = (
        await session.scalars(select(Customer).where(Customer.phone == phone).limit(2))
    ).all()
    return _the_one_with_phone(matches)


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


# -- many messages at once (the router's hot path, in SQLAlchemy Core) --------------------

_customers = cast(Table, Customer.__table__)
_identities = cast(Table, ChannelIdentity.__table__)

# By (channel, address): the senders' own identities, and the phone identities that
# may vouch for a phone (`_vouched_customer`), in one index lookup.
_FIND_IDENTITIES = select(
    _identities.c.id,
    _identities.c.customer_id,
    _identities.c.channel,
    _identities.c.address,
    _identities.c.verified,
    _identities.c.verified_by,
    _identities.c.verified_at,
    _identities.c.display_name,
).where(tuple_(_identities.c.channel, _identities.c.address).in_(bindparam("keys", expanding=True)))
_FIND_CUSTOMERS = (
    select(_customers.c.id, _customers.c.external_id, _customers.c.phone, _customers.c.name)
    .where(
        or_(
            _customers.c.id.in_(bindparam("ids", expanding=True)),
            _customers.c.phone.in_(bindparam("phones", expanding=True)),
            _customers.c.external_id.in_(bindparam("external_ids", expanding=True)),
        )
    )
    .order_by(_customers.c.id)
)
_ADD_CUSTOMERS = insert(_customers).returning(_customers.c.id, sort_by_parameter_order=True)
_UPDATE_CUSTOMERS = (
    update(_customers)
    .where(_customers.c.id == bindparam("b_id"))
    .values(phone=bindparam("b_phone"), name=bindparam("b_name"), updated_at=bindparam("b_now"))
)
_ADD_IDENTITIES = insert(_identities)
_UPDATE_IDENTITIES = (
    update(_identities)
    .where(_identities.c.id == bindparam("b_id"))
    .values(
        verified=bindparam("b_verified"),
        verified_by=bindparam("b_verified_by"),
        verified_at=bindparam("b_verified_at"),
        display_name=bindparam("b_display_name"),
        last_seen_at=bindparam("b_last_seen_at"),
    )
)


@dataclass(eq=False)
class SenderRow:
    """A customer as resolving many senders at once sees it; `id` is None until added."""

    id: int | None
    external_id: str | None
    phone: str | None
    name: str | None
    changed: bool = False  # an existing row whose phone or name is to be written


@dataclass(eq=False)
class _IdentityRow:
    id: int | None  # None: to be added
    customer: SenderRow
    channel: Channel
    address: str
    verified: bool
    verified_by: VerificationMethod | None
    verified_at: datetime | None
    display_name: str | None


@dataclass(frozen=True)
class Resolved:
    """Who sent one message: the customer, and the address in its stored form."""

    customer: SenderRow
    address: str


async def resolve_senders(
    conn: AsyncConnection, inbounds: Sequence[Inbound], now: datetime
) -> list[Resolved | None]:
    """`resolve_sender` for many messages in one transaction, with a few statements.

    The same rules (`_the_one_with_phone`, `_learn`), applied in order as if one message
    came after the other; only the queries are grouped. None for
    a message whose identity is to move to the customer someone vouched for: that
    rare case is left to `resolve_sender`, in a transaction of its own.
    """
    addresses: list[str] = []
    phones: list[str | None] = []
    for inbound in inbounds:
        phone = _vouched_phone(inbound)
        # On phone channels the address is usually the vouched phone: parsed once.
        address = (
            phone
            if phone is not None
            and inbound.channel in PHONE_CHANNELS
            and inbound.address
            in (
                phone,
                f"whatsapp:{phone}",
            )
            else channel_address(inbound.channel, inbound.address)
        )
        addresses.append(address)
        phones.append(phone)
    known_phones = sorted({p for p in phones if p is not None})
    keys = {(i.channel, a) for i, a in zip(inbounds, addresses, strict=True)}
    keys |= {(channel, phone) for channel in PHONE_CHANNELS for phone in known_phones}
    identity_rows = (await conn.execute(_FIND_IDENTITIES, {"keys": sorted(keys)})).all()
    external_ids = sorted({i.shop_customer_id for i in inbounds if i.shop_customer_id})
    customer_rows = (
        await conn.execute(
            _FIND_CUSTOMERS,
            {
                "ids": sorted({row.customer_id for row in identity_rows}),
                "phones": known_phones,
                "external_ids": external_ids,
            },
        )
    ).all()

    customers = {
        row.id: SenderRow(row.id, row.external_id, row.phone, row.name) for row in customer_rows
    }
    by_external = {c.external_id: c for c in customers.values() if c.external_id}
    by_phone: dict[str, list[SenderRow]] = {}
    for customer in customers.values():  # in id order
        if customer.phone is not None:
            by_phone.setdefault(customer.phone, []).append(customer)
    identities: dict[tuple[Channel, str], _IdentityRow] = {}
    verified_phones: dict[str, SenderRow] = {}
    for row in sorted(identity_rows, key=lambda r: r.id):
        known = _IdentityRow(
            row.id,
            customers[row.customer_id],
            row.channel,
            row.address,
            row.verified,
            row.verified_by,
            row.verified_at,
            row.display_name,
        )
        identities[(row.channel, row.address)] = known
        if row.verified and row.channel in PHONE_CHANNELS:
            verified_phones.setdefault(row.address, known.customer)

    new_customers: list[SenderRow] = []
    seen: dict[int, _IdentityRow] = {}  # existing identities to write back
    new_identities: list[_IdentityRow] = []
    resolved: list[Resolved | None] = []
    for inbound, address, phone in zip(inbounds, addresses, phones, strict=True):
        # As in _vouched_customer; a shop customer not known yet is made below.
        vouched: SenderRow | None = None
        unknown_shop_customer = False
        if inbound.shop_customer_id:
            vouched = by_external.get(inbound.shop_customer_id)
            unknown_shop_customer = vouched is None
        elif phone is not None:
            vouched = verified_phones.get(phone)
            if vouched is None:
                vouched = _the_one_with_phone(by_phone.get(phone, []))
        identity = identities.get((inbound.channel, address))
        if identity is not None and (
            unknown_shop_customer or (vouched is not None and vouched is not identity.customer)
        ):
            resolved.append(None)  # moves to the vouched customer: resolve_sender's job
            continue
        if unknown_shop_customer:
            vouched = SenderRow(None, inbound.shop_customer_id, None, inbound.display_name)
            new_customers.append(vouched)
            by_external[inbound.shop_customer_id or ""] = vouched
        if identity is None:
            owner = vouched
            if owner is None:
                owner = SenderRow(None, None, None, inbound.display_name)
                new_customers.append(owner)
            identity = _IdentityRow(None, owner, inbound.channel, address, False, None, None, None)
            identities[(inbound.channel, address)] = identity
            new_identities.append(identity)
        elif identity.id is not None:
            seen[identity.id] = identity
        customer = identity.customer

        learnt = _learn(
            inbound, identity, customer, vouched=vouched is not None, phone=phone, now=now
        )
        if learnt.phone and phone is not None:  # what later messages of the batch see
            by_phone.setdefault(phone, []).append(customer)
        if inbound.channel in PHONE_CHANNELS:
            verified_phones.setdefault(address, customer)
        customer.changed = customer.changed or learnt.phone or learnt.name
        resolved.append(Resolved(customer, address))

    await _write(conn, new_customers, customers, new_identities, seen, now)
    return resolved


async def _write(
    conn: AsyncConnection,
    new_customers: list[SenderRow],
    known_customers: dict[int, SenderRow],
    new_identities: list[_IdentityRow],
    seen: dict[int, _IdentityRow],
    now: datetime,
) -> None:
    if new_customers:
        ids = await conn.execute(
            _ADD_CUSTOMERS,
            [
                {"external_id": c.external_id, "phone": c.phone, "name": c.name}
                for c in new_customers
            ],
        )
        for customer, customer_id in zip(new_customers, ids.scalars(), strict=True):
            customer.id = customer_id
    changed = [c for c in known_customers.values() if c.changed]
    if changed:
        await conn.execute(
            _UPDATE_CUSTOMERS,
            [{"b_id": c.id, "b_phone": c.phone, "b_name": c.name, "b_now": now} for c in changed],
        )
    if new_identities:
        await conn.execute(
            _ADD_IDENTITIES,
            [
                {
                    "customer_id": i.customer.id,
                    "channel": i.channel,
                    "address": i.address,
                    "display_name": i.display_name,
                    "verified": i.verified,
                    "verified_by": i.verified_by,
                    "verified_at": i.verified_at,
                    "last_seen_at": now,
                }
                for i in new_identities
            ],
        )
    if seen:
        await conn.execute(
            _UPDATE_IDENTITIES,
            [
                {
                    "b_id": i.id,
                    "b_verified": i.verified,
                    "b_verified_by": i.verified_by,
                    "b_verified_at": i.verified_at,
                    "b_display_name": i.display_name,
                    "b_last_seen_at": now,
                }
                for i in seen.values()
            ],
        )
