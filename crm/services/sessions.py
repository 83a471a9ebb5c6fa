"""Agents' browser sessions: a random token in a cookie, stored hashed, idle ones expire."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Agent, AgentSession, utcnow

# A session unused this long is over; one used all day still ends after MAX_AGE.
IDLE_TIMEOUT = timedelta(hours=12)
MAX_AGE = timedelta(days=7)
# last_seen_at (and the idle expiry with it) moves at most once a minute: an agent's
# page polls and acts often, and a write per request would serialise them on SQLite.
TOUCH_RESOLUTION = timedelta(minutes=1)


class IssuedSession(NamedTuple):
    token: str  # for the cookie; only its hash is stored
    csrf_token: str  # sent back by the page on every state-changing request


def _token_hash(token: str) -> str:
    # 256 random bits: a fast hash is enough, there is no dictionary to attack.
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(
    session: AsyncSession, agent: Agent, *, now: datetime | None = None
) -> IssuedSession:
    """A new signed-in session for the agent; returns its token and CSRF token once."""
    now = now or utcnow()
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        AgentSession(
            agent_id=agent.id,
            token_hash=_token_hash(token),
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + IDLE_TIMEOUT,
        )
    )
    await session.flush()
    return IssuedSession(token, csrf)


async def session_agent(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> tuple[Agent, AgentSession] | None:
    """The active agent behind a live session token, the session marked as used.

    None when the token is unknown, revoked, idle past its expiry, older than
    MAX_AGE, or its agent was deactivated.
    """
    now = now or utcnow()
    row = (
        await session.execute(
            select(Agent, AgentSession)
            .join(AgentSession, AgentSession.agent_id == Agent.id)
            .where(
                AgentSession.token_hash == _token_hash(token),
                AgentSession.revoked_at.is_(None),
                AgentSession.expires_at > now,
                AgentSession.created_at > now - MAX_AGE,
                Agent.active.is_(True),
            )
        )
    ).first()
    if row is None:
        return None
    agent, agent_session = row
    if now - agent_session.last_seen_at >= TOUCH_RESOLUTION:
        agent_session.last_seen_at = now
        agent_session.expires_at = min(now + IDLE_TIMEOUT, agent_session.created_at + MAX_AGE)
    return agent, agent_session


async def revoke_session(session: AsyncSession, token: str, *, now: datetime | None = None) -> bool:
    """Sign the session out; False when it was unknown or already revoked."""
    result = await session.execute(
        update(AgentSession)
        .where(AgentSession.token_hash == _token_hash(token), AgentSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


async def revoke_agent_sessions(
    session: AsyncSession, agent_id: int, *, now: datetime | None = None
) -> int:
    """Sign an agent out everywhere (a deactivated account, a changed password)."""
    result = await session.execute(
        update(AgentSession)
        .where(AgentSession.agent_id == agent_id, AgentSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0))
