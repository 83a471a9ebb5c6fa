"""The inbox's metrics: the JSON for supervisors and the gauges on /metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm.models import AgentRole, ConversationEvent, ConversationStatus
from tests.builders import T0, add_customer
from tests.inbox.conftest import Hub, MakeHub, add_conversation

MIN = timedelta(minutes=1)


async def _known_conversations(hub: Hub) -> None:
    """Three reached a person (first replies after 1, 2 and 10 minutes), two the bot
    resolved alone, and one resolved outside the period."""
    resolved = ConversationStatus.RESOLVED
    async with hub.db.transaction() as session:
        people = [await add_customer(session, name=f"C{i}") for i in range(6)]

        async def talk(i: int, **columns: object) -> None:
            kind = columns.pop("event", None)
            conversation = await add_conversation(session, people[i], **columns)  # type: ignore[arg-type]
            if kind is not None:
                session.add(
                    ConversationEvent(conversation_id=conversation.id, kind=kind, created_at=T0)
                )

        await talk(
            0,
            status=resolved,
            created_at=T0 - 10 * MIN,
            queued_at=T0,
            first_response_at=T0 + MIN,
            resolved_at=T0 + 60 * MIN,
            resolved_by="agent",
            csat_score=5,
            event="queued",
        )
        await talk(
            1,
            status=resolved,
            created_at=T0 - 10 * MIN,
            queued_at=T0,
            first_response_at=T0 + 2 * MIN,
            resolved_at=T0 + 30 * MIN,
            resolved_by="agent",
            csat_score=4,
            event="claimed",
        )
        await talk(
            2,
            status=ConversationStatus.AGENT,
            created_at=T0 - 10 * MIN,
            queued_at=T0,
            first_response_at=T0 + 10 * MIN,
        )
        await talk(
            3,
            status=resolved,
            created_at=T0 - 5 * MIN,
            resolved_at=T0,
            resolved_by="bot",
            csat_score=2,
        )
        await talk(4, status=resolved, created_at=T0, resolved_at=T0 + 10 * MIN, resolved_by="bot")
        await talk(5, status=resolved, created_at=T0, resolved_at=T0 + timedelta(days=3),
                   resolved_by="agent", csat_score=1)  # fmt: skip


async def test_metrics_over_a_period(hub: Hub) -> None:
    await _known_conversations(hub)
    boss = await hub.agent(AgentRole.SUPERVISOR)
    since = (T0 - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    until = (T0 + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    metrics = await boss.json(f"/inbox/api/metrics?since={since}&until={until}")
    assert metrics["first_response"] == {"count": 3, "p50_seconds": 120.0, "p90_seconds": 504.0}
    # Resolution times 300, 600, 2400 and 4200 seconds.
    assert metrics["resolution"]["count"] == 4
    assert metrics["resolution"]["p50_seconds"] == 1500.0
    assert metrics["resolution"]["p90_seconds"] == pytest.approx(3660.0)
    assert (metrics["resolved"], metrics["resolved_by_bot"]) == (4, 2)
    assert metrics["bot_resolved_share"] == 0.5
    satisfaction = metrics["satisfaction"]
    assert satisfaction["responses"] == 3
    assert satisfaction["average"] == pytest.approx(11 / 3)
    assert satisfaction["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}


async def test_metrics_without_data_say_none(hub: Hub) -> None:
    admin = await hub.agent(AgentRole.ADMIN)
    metrics = await admin.json("/inbox/api/metrics")
    assert metrics["first_response"] == {"count": 0, "p50_seconds": None, "p90_seconds": None}
    assert metrics["bot_resolved_share"] is None
    assert metrics["satisfaction"]["average"] is None
    bad = await admin.get("/inbox/api/metrics?since=yesterday")
    assert bad.status == 400


async def test_prometheus_gauges_follow_the_database(make_hub: MakeHub) -> None:
    hub = await make_hub()
    async with hub.db.transaction() as session:
        for i in range(3):
            customer = await add_customer(session, name=f"Q{i}")
            await add_conversation(session, customer)
    client = await hub.new_client()

    # Read from the database at the scrape: no waiting for a refresh.
    text = await (await client.get("/metrics")).text()
    assert 'omnihub_inbox_conversations{status="queued"} 3.0' in text
    assert 'omnihub_inbox_conversations{status="agent"} 0.0' in text
    assert "omnihub_inbox_first_response_seconds_bucket" in text
    assert "omnihub_inbox_satisfaction_average" in text
