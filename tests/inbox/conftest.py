"""The real hub app with the inbox, agents who sign in through the form, and conversations.

Agents are separate HTTP clients (separate cookie jars) on one running hub, so two of
them can act at once. The bot is the test EchoResponder: the inbox never needs it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient
from pytest_aiohttp.plugin import AiohttpClient
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.settings import Settings
from adapters.web.app import create_app
from adapters.web.inbox import CONFIG, InboxConfig
from crm.db import Database
from crm.models import (
    AgentRole,
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Message,
    MessageAuthor,
    MessageDirection,
)
from crm.services.staff import create_agent
from tests.builders import T0
from tests.router.doubles import EchoResponder

Client = TestClient[web.Request, web.Application]
PASSWORD = "correct horse battery staple"
_sids = itertools.count(1)


@dataclass
class SignedIn:
    """An agent's browser: their own cookies, and the CSRF token the page would send."""

    client: Client
    id: int
    role: AgentRole
    csrf: str

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.client.get(path, **kwargs)

    async def post(self, path: str, body: object | None = None) -> Any:
        headers = {"X-CSRF-Token": self.csrf}
        if body is None:
            return await self.client.post(path, headers=headers)
        return await self.client.post(path, json=body, headers=headers)

    async def json(self, path: str) -> Any:
        response = await self.client.get(path)
        assert response.status == 200, await response.text()
        return await response.json()


@dataclass
class Hub:
    db: Database
    server: BaseTestServer[web.Request]
    app: web.Application
    new_client: Callable[[], Awaitable[Client]]

    async def agent(self, role: AgentRole = AgentRole.AGENT, name: str | None = None) -> SignedIn:
        """A new agent of `role`, signed in through the sign-in form."""
        async with self.db.transaction() as session:
            email = f"{role.value}{next(_sids)}@shop.test"
            agent = await create_agent(session, email, name or email, role, PASSWORD)
            agent_id = agent.id
        client = await self.new_client()
        csrf = await sign_in(client, email, PASSWORD)
        assert csrf is not None
        return SignedIn(client, agent_id, role, csrf)


async def login_form_token(client: Client) -> str:
    page = await (await client.get("/inbox/login")).text()
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


async def sign_in(client: Client, email: str, password: str) -> str | None:
    """Signs in as a browser would; the page's CSRF token, or None when refused."""
    token = await login_form_token(client)
    response = await client.post(
        "/inbox/login",
        data={"email": email, "password": password, "csrf": token},
        allow_redirects=False,
    )
    if response.status != 303:
        return None
    me = await (await client.get("/inbox/api/me")).json()
    return str(me["csrf_token"])


def hub_settings(database_url: str, **extra: str) -> Settings:
    return Settings(OMNIHUB_DATABASE_URL=database_url, **extra)  # type: ignore[arg-type]


MakeHub = Callable[..., Awaitable[Hub]]


@pytest.fixture
def make_hub(db: Database, database_url: str, aiohttp_client: AiohttpClient) -> MakeHub:
    """Starts the hub, with the inbox's tunables changed as given."""

    async def make(config: InboxConfig | None = None, **settings: str) -> Hub:
        app = create_app(hub_settings(database_url, **settings), responder=EchoResponder())
        if config is not None:
            app[CONFIG] = config
        first = await aiohttp_client(app)

        async def new_client() -> Client:
            return await aiohttp_client(first.server)

        return Hub(db, first.server, app, new_client)

    return make


@pytest.fixture
async def hub(make_hub: MakeHub) -> Hub:
    return await make_hub()


# --- conversations as the router and the core leave them ---------------------------------


async def add_conversation(
    session: AsyncSession,
    customer: Customer,
    *,
    status: ConversationStatus = ConversationStatus.QUEUED,
    channel: Channel = Channel.SMS,
    address: str | None = None,
    agent_id: int | None = None,
    updated_at: datetime = T0,
    created_at: datetime | None = None,
    last_inbound_at: datetime | None = None,
    handoff: dict[str, Any] | None = None,
    **columns: Any,
) -> Conversation:
    conversation = Conversation(
        customer_id=customer.id,
        status=status,
        assigned_agent_id=agent_id,
        last_channel=channel,
        last_address=address or customer.phone or "+34600000000",
        last_inbound_at=last_inbound_at or updated_at,
        created_at=created_at or updated_at - timedelta(minutes=10),
        updated_at=updated_at,
        handoff=handoff,
        **columns,
    )
    if "queued_at" not in columns and status in (
        ConversationStatus.QUEUED,
        ConversationStatus.AGENT,
    ):
        conversation.queued_at = updated_at - timedelta(minutes=5)
    session.add(conversation)
    await session.flush()
    return conversation


async def add_message(
    session: AsyncSession,
    conversation: Conversation,
    text: str,
    *,
    author: MessageAuthor = MessageAuthor.CUSTOMER,
    channel: Channel | None = None,
    status: DeliveryStatus | None = None,
    at: datetime = T0,
    agent_id: int | None = None,
    private: bool = False,
) -> Message:
    inbound = author is MessageAuthor.CUSTOMER
    message = Message(
        conversation_id=conversation.id,
        direction=MessageDirection.INBOUND if inbound else MessageDirection.OUTBOUND,
        author=author,
        agent_id=agent_id,
        channel=channel or conversation.last_channel,
        address=conversation.last_address,
        provider_message_id=f"SM{next(_sids)}" if inbound else None,
        body=text,
        private=private,
        delivery_status=status
        or (DeliveryStatus.RECEIVED if inbound else DeliveryStatus.DELIVERED),
        created_at=at,
        processed_at=at if inbound else None,
    )
    session.add(message)
    await session.flush()
    return message
