"""The web chat on loopback for tests: its routes on a bare app, sites, history, a storing sink."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.channels.webchat import WebchatConfig, add_routes
from adapters.web.errors import json_errors
from adapters.web.keys import BUS, DATABASE, INBOUND, REDIS
from crm.db import Database
from crm.models import (
    Channel,
    Conversation,
    Customer,
    DeliveryStatus,
    Message,
    MessageAuthor,
    MessageDirection,
    WebchatSite,
)
from crm.services.webchat import create_webchat_site
from dialogue.messages import DeliveryUpdate, Inbound
from dialogue.ports import Accepted, Bus, InboundSink

# The protocol tests run on SQLite; those that read or write history run on both
# backends (the `backend` fixture of tests/conftest.py, parametrized directly).
on_both_backends = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])


async def eventually(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    """Polls `condition` until it holds, failing the test after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"still false after {within} s: {condition}")
        await asyncio.sleep(0.01)


class Clock:
    """A clock the test moves: token expiry without waiting 30 days."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def webchat_app(
    db: Database,
    sink: InboundSink,
    bus: Bus,
    config: WebchatConfig | None = None,
    *,
    redis: Redis | None = None,
) -> web.Application:
    """The channel's routes on an app holding only what they need (the lead wires the rest)."""
    app = web.Application(middlewares=[json_errors])
    app[DATABASE] = db
    app[INBOUND] = sink
    app[BUS] = bus
    if redis is not None:
        app[REDIS] = redis
    add_routes(app, config)
    return app


async def new_site(db: Database, *origins: str, name: str = "Sol & Mar") -> WebchatSite:
    async with db.transaction() as session:
        return await create_webchat_site(session, name, origins)


@dataclass(frozen=True)
class Said:
    """One history row to insert: who said what to the visitor."""

    direction: MessageDirection
    text: str
    author: MessageAuthor | None = None
    private: bool = False
    buttons: Sequence[tuple[str, str]] = ()
    client_msg_id: str | None = None
    channel: Channel = Channel.WEBCHAT


def said_by_visitor(text: str, client_msg_id: str | None = None) -> Said:
    return Said(MessageDirection.INBOUND, text, MessageAuthor.CUSTOMER, client_msg_id=client_msg_id)


def said_to_visitor(
    text: str,
    *,
    author: MessageAuthor = MessageAuthor.BOT,
    buttons: Sequence[tuple[str, str]] = (),
    private: bool = False,
) -> Said:
    return Said(MessageDirection.OUTBOUND, text, author, private=private, buttons=buttons)


async def add_history(db: Database, visitor_id: str, rows: Sequence[Said]) -> list[int]:
    """Inserts messages the router would have stored; returns their ids in order."""
    async with db.transaction() as session:
        conversation = await _conversation(session, visitor_id)
        messages = [_row(conversation, visitor_id, said) for said in rows]
        session.add_all(messages)
        await session.flush()
        return [m.id for m in messages]


async def _conversation(session: AsyncSession, address: str) -> Conversation:
    existing = await session.scalar(
        select(Conversation).where(Conversation.last_address == address)
    )
    if existing is not None:
        return existing
    customer = Customer(name=None)
    session.add(customer)
    await session.flush()
    conversation = Conversation(
        customer_id=customer.id, last_channel=Channel.WEBCHAT, last_address=address
    )
    session.add(conversation)
    await session.flush()
    return conversation


def _row(conversation: Conversation, visitor_id: str, said: Said) -> Message:
    inbound = said.direction is MessageDirection.INBOUND
    return Message(
        conversation_id=conversation.id,
        direction=said.direction,
        author=said.author or (MessageAuthor.CUSTOMER if inbound else MessageAuthor.BOT),
        channel=said.channel,
        address=visitor_id,
        provider_message_id=f"{visitor_id}:{said.client_msg_id}" if said.client_msg_id else None,
        body=said.text,
        payload={"buttons": [{"title": t, "payload": p} for t, p in said.buttons]}
        if said.buttons
        else None,
        private=said.private,
        delivery_status=DeliveryStatus.RECEIVED if inbound else DeliveryStatus.SENT,
    )


@dataclass
class StoringSink:
    """An InboundSink that stores web-chat messages as the router would (for the browser).

    The ids it answers are real message ids, so replayed history and acks agree.
    """

    db: Database
    inbound: list[Inbound] = field(default_factory=list)

    async def accept(self, inbound: Inbound) -> int:
        return (await self.accept_new(inbound)).message_id

    async def accept_new(self, inbound: Inbound) -> Accepted:
        # Shielded like the router's: a socket closed mid-store must not cut it off.
        return await asyncio.shield(self._store(inbound))

    async def _store(self, inbound: Inbound) -> Accepted:
        async with self.db.transaction() as session:
            known = await session.scalar(
                select(Message.id).where(
                    Message.channel == inbound.channel,
                    Message.provider_message_id == inbound.provider_id,
                )
            )
            if known is not None:
                return Accepted(known, False)
            conversation = await _conversation(session, inbound.address)
            message = Message(
                conversation_id=conversation.id,
                direction=MessageDirection.INBOUND,
                author=MessageAuthor.CUSTOMER,
                channel=inbound.channel,
                address=inbound.address,
                provider_message_id=inbound.provider_id,
                body=inbound.text,
                delivery_status=DeliveryStatus.RECEIVED,
            )
            session.add(message)
            await session.flush()
        self.inbound.append(inbound)
        return Accepted(message.id, True)

    async def delivery(self, update: DeliveryUpdate) -> None:
        raise AssertionError("the web chat has no delivery callbacks")
