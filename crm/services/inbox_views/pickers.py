"""What an agent picks from: canned responses, and the agents to transfer a conversation to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import AgentRole, CannedResponse, Language
from crm.services.staff import answerers_with_load


@dataclass(frozen=True)
class CannedView:
    id: int
    shortcut: str
    language: Language
    title: str
    body: str


@dataclass(frozen=True)
class AgentView:
    """Someone a conversation can be transferred to, and how busy they are."""

    id: int
    name: str
    role: AgentRole
    teams: list[str]
    available: bool
    open_conversations: int
    capacity: int


async def answering_agents(session: AsyncSession) -> list[AgentView]:
    """Active agents, supervisors and admins, by name, with their open conversations."""
    return [
        AgentView(a.id, a.name, a.role, list(a.teams or []), a.available, n, a.capacity)
        for a, n in await answerers_with_load(session)
    ]


async def canned_responses(
    session: AsyncSession, language: Language | None = None
) -> list[CannedView]:
    """The active canned responses, in one language or all, by shortcut."""
    stmt = select(CannedResponse).where(CannedResponse.active.is_(True))
    if language is not None:
        stmt = stmt.where(CannedResponse.language == language)
    rows = await session.scalars(stmt.order_by(CannedResponse.shortcut, CannedResponse.language))
    return [CannedView(r.id, r.shortcut, r.language, r.title, r.body) for r in rows]
