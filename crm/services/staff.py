"""Agent accounts and the API tokens of the shop's systems."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import Database
from crm.errors import DomainError
from crm.models import Agent, AgentRole, ApiToken, Conversation, ConversationStatus, utcnow
from crm.services.passwords import PasswordChecks, hash_password

# The roles that answer customers (and so may own conversations).
ANSWERING_ROLES = (AgentRole.AGENT, AgentRole.SUPERVISOR, AgentRole.ADMIN)
USAGE_RESOLUTION = timedelta(minutes=1)
TOKEN_PREFIX = "ohk_"  # noqa: S105 (a marker that makes leaked tokens findable, not a secret)


class AgentExists(DomainError):
    pass


class InvalidCredentials(DomainError):
    pass


@dataclass(frozen=True)
class IssuedToken:
    id: int
    name: str
    token: str  # shown once; only its hash is stored


def _normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_agent(
    session: AsyncSession, email: str, name: str, role: AgentRole, password: str
) -> Agent:
    email = _normalise_email(email)
    if await session.scalar(select(Agent.id).where(Agent.email == email)) is not None:
        raise AgentExists(f"an agent with email {email} already exists")
    agent = Agent(email=email, name=name, role=role, password_hash=hash_password(password))
    session.add(agent)
    await session.flush()
    return agent


async def authenticate_agent(
    db: Database, checks: PasswordChecks, email: str, password: str
) -> Agent:
    """The active agent with this email and password; InvalidCredentials otherwise.

    It takes the database rather than a session: the password is checked between two
    short transactions, so no connection is held while a check waits for its turn and
    runs (a flood of sign-ins would otherwise hold the pool, and the webhooks need it).
    An unknown email costs a check too (PasswordChecks), like a wrong password.
    """
    async with db.transaction() as session:
        agent = await session.scalar(
            select(Agent).where(Agent.email == _normalise_email(email), Agent.active.is_(True))
        )
    check = await checks.check(agent.password_hash if agent is not None else None, password)
    if agent is None or not check.matches:
        raise InvalidCredentials("wrong email or password")
    if check.rehashed is not None:
        async with db.transaction() as session:
            # Only over the hash that was checked: a password changed meanwhile stays.
            await session.execute(
                update(Agent)
                .where(Agent.id == agent.id, Agent.password_hash == agent.password_hash)
                .values(password_hash=check.rehashed)
            )
        agent.password_hash = check.rehashed
    return agent


def _token_hash(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


async def create_api_token(session: AsyncSession, name: str) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=_token_hash(token), prefix=token[:10])
    session.add(row)
    await session.flush()
    return IssuedToken(id=row.id, name=name, token=token)


async def verify_api_token(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> ApiToken | None:
    """The live token with this value, marked as used; None if unknown or revoked.

    `last_used_at` is refreshed at most once a minute: enough to tell a live
    integration from a dead one, without a write (and, on SQLite, the write lock)
    on every API request.
    """
    now = now or utcnow()
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == _token_hash(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is not None and (row.last_used_at is None or now - row.last_used_at >= USAGE_RESOLUTION):
        row.last_used_at = now
    return row


async def revoke_api_token(session: AsyncSession, token_id: int) -> bool:
    result = await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


async def answerers_with_load(
    session: AsyncSession, *, available_only: bool = False
) -> list[tuple[Agent, int]]:
    """Active agents who answer customers, by name, each with the conversations they
    own now; `available_only`: only those who said they take conversations."""
    load = (
        select(Conversation.assigned_agent_id, func.count().label("open"))
        .where(Conversation.status == ConversationStatus.AGENT)
        .group_by(Conversation.assigned_agent_id)
        .subquery()
    )
    query = (
        select(Agent, func.coalesce(load.c.open, 0))
        .outerjoin(load, load.c.assigned_agent_id == Agent.id)
        .where(Agent.active.is_(True), Agent.role.in_(ANSWERING_ROLES))
        .order_by(Agent.name, Agent.id)
    )
    if available_only:
        query = query.where(Agent.available.is_(True))
    return [(agent, int(count)) for agent, count in await session.execute(query)]
