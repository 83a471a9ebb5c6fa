"""Agents act through /inbox/api: the core's actions, their errors as 4xx, the panel's services."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import select

from crm.models import (
    AgentRole,
    CannedResponse,
    Channel,
    ConversationStatus,
    Inventory,
    Language,
    OrderStatus,
    utcnow,
)
from crm.services.reservations import reserve_item
from tests.builders import add_customer, add_inventory, add_order, add_product, add_store
from tests.inbox.conftest import Hub, SignedIn, add_conversation

ANA = "+34612345678"


async def _queued(hub: Hub, **columns: Any) -> int:
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone=ANA)
        conversation = await add_conversation(
            session, ana, updated_at=utcnow(), last_inbound_at=utcnow(), **columns
        )
        return conversation.id


def _path(conversation_id: int, action: str = "") -> str:
    return f"/inbox/api/conversations/{conversation_id}" + (f"/{action}" if action else "")


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_an_agent_claims_a_queued_conversation_and_a_second_claim_fails(hub: Hub) -> None:
    sara = await hub.agent(name="Sara")
    rui = await hub.agent(name="Rui")
    conversation = await _queued(hub)
    claimed = await sara.post(_path(conversation, "claim"))
    assert claimed.status == 200
    summary = await claimed.json()
    assert summary["status"] == "agent"
    assert summary["assigned_agent"] == {"id": sara.id, "name": "Sara"}

    late = await rui.post(_path(conversation, "claim"))
    assert late.status == 409
    body = await late.json()
    assert body["code"] == "already_taken"
    assert body["by_agent_id"] == sara.id
    assert body["conversation"]["assigned_agent"]["id"] == sara.id
    mine = await sara.json("/inbox/api/conversations?view=mine")
    assert [c["id"] for c in mine["conversations"]] == [conversation]


async def test_two_agents_claiming_at_once_exactly_one_wins(hub: Hub) -> None:
    """Against PostgreSQL (the `db` fixture's postgresql run) as well as SQLite."""
    agents = [await hub.agent() for _ in range(2)]
    for _ in range(5):
        conversation = await _queued(hub)
        responses = await asyncio.gather(
            *(agent.post(_path(conversation, "claim")) for agent in agents)
        )
        assert sorted(r.status for r in responses) == [200, 409]
        winner = agents[[r.status for r in responses].index(200)]
        detail = await agents[0].json(_path(conversation))
        assert detail["summary"]["assigned_agent"]["id"] == winner.id
        claims = [e for e in detail["events"] if e["kind"] == "claimed"]
        assert len(claims) == 1


async def test_the_owner_replies_and_notes_and_others_may_not_reply(hub: Hub) -> None:
    sara = await hub.agent(name="Sara")
    rui = await hub.agent(name="Rui")
    conversation = await _queued(hub)
    before = _sample("omnihub_inbox_first_response_seconds_count")

    not_yet = await sara.post(_path(conversation, "messages"), {"text": "Hola"})
    assert not_yet.status == 409  # nobody owns it yet
    assert (await sara.post(_path(conversation, "claim"))).status == 200
    replied = await sara.post(_path(conversation, "messages"), {"text": "Hola Ana, soy Sara"})
    assert replied.status == 201
    assert (await replied.json())["first_response_at"] is not None
    noted = await rui.post(
        _path(conversation, "messages"), {"text": "she called yesterday", "private": True}
    )
    assert noted.status == 201
    intruder = await rui.post(_path(conversation, "messages"), {"text": "me too"})
    assert intruder.status == 403
    assert (await intruder.json())["code"] == "not_owner"
    assert (await sara.post(_path(conversation, "messages"), {"text": "  "})).status == 422
    # A note is private only when the body says true: "no", "false" or 0 from an
    # integrator is refused, never read as a choice about whether the customer sees it.
    for unclear in ("yes", "false", 0, 1, None):
        sent = await sara.post(_path(conversation, "messages"), {"text": "x", "private": unclear})
        assert sent.status == 422, unclear

    detail = await sara.json(_path(conversation))
    written = [
        (m["author"], m["agent"]["name"], m["text"], m["private"], m["channel"])
        for m in detail["messages"]
        if m["author"] == "agent"
    ]
    assert written == [
        ("agent", "Sara", "Hola Ana, soy Sara", False, "sms"),
        ("agent", "Rui", "she called yesterday", True, "sms"),
    ]
    assert _sample("omnihub_inbox_first_response_seconds_count") == before + 1


async def test_outside_the_whatsapp_window_free_text_is_refused(hub: Hub) -> None:
    sara = await hub.agent()
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone=ANA)
        old = utcnow() - timedelta(hours=30)
        conversation = (
            await add_conversation(
                session,
                ana,
                channel=Channel.WHATSAPP,
                status=ConversationStatus.AGENT,
                agent_id=sara.id,
                updated_at=old,
                last_inbound_at=old,
            )
        ).id
    detail = await sara.json(_path(conversation))
    assert detail["whatsapp_window"]["open"] is False
    refused = await sara.post(_path(conversation, "messages"), {"text": "¿Sigues ahí?"})
    assert refused.status == 409
    assert (await refused.json())["code"] == "outside_window"
    unknown = await sara.post(_path(conversation, "messages"), {"template": "follow_up"})
    assert unknown.status == 404  # no approved template of that name
    async with hub.db.transaction() as session:
        session.add(
            CannedResponse(
                shortcut="follow_up",
                language=Language.ES,
                title="Retomar",
                body="Hola {{1}}, ¿seguimos?",
                whatsapp_content_sid="HX" + "c" * 32,
            )
        )
    detail = await sara.json(_path(conversation))
    assert [t["name"] for t in detail["templates"]] == ["follow_up"]
    wrong = await sara.post(
        _path(conversation, "messages"), {"template": "follow_up", "params": {"2": "x"}}
    )
    assert wrong.status == 422
    sent = await sara.post(_path(conversation, "messages"), {"template": "follow_up"})
    assert sent.status == 201
    detail = await sara.json(_path(conversation))
    assert detail["messages"][-1]["text"] == "Hola Ana, ¿seguimos?"


async def test_a_supervisor_assigns_queues_and_resolves_others_conversations(hub: Hub) -> None:
    boss = await hub.agent(AgentRole.SUPERVISOR)
    sara = await hub.agent(name="Sara")
    rui = await hub.agent(name="Rui")
    conversation = await _queued(hub)
    assigned = await boss.post(_path(conversation, "assign"), {"agent_id": sara.id})
    assert assigned.status == 200
    assert (await assigned.json())["assigned_agent"]["name"] == "Sara"

    for action in ("resolve", "unassign", "handback"):
        refused = await rui.post(_path(conversation, action))
        assert refused.status == 403, action
        assert (await refused.json())["code"] == "not_owner"
    transferred = await boss.post(_path(conversation, "transfer"), {"agent_id": rui.id})
    assert (await transferred.json())["assigned_agent"]["name"] == "Rui"
    to_team = await rui.post(_path(conversation, "transfer"), {"team": "returns"})
    assert to_team.status == 200
    assert (await to_team.json())["team"] == "returns"
    unknown = await boss.post(_path(conversation, "assign"), {"agent_id": 987654})
    assert unknown.status == 404

    before = _sample("omnihub_inbox_resolution_seconds_count")
    await boss.post(_path(conversation, "assign"), {"agent_id": sara.id})
    resolved = await boss.post(_path(conversation, "resolve"))
    assert resolved.status == 200
    assert (await resolved.json())["status"] == "resolved"
    assert _sample("omnihub_inbox_resolution_seconds_count") == before + 1
    again = await boss.post(_path(conversation, "resolve"))
    assert again.status == 409
    assert (await again.json())["code"] == "illegal_transition"
    assert (await boss.post(_path(987654, "claim"))).status == 404


async def test_the_owner_unassigns_or_hands_back_and_a_supervisor_queues(hub: Hub) -> None:
    boss = await hub.agent(AgentRole.SUPERVISOR)
    sara = await hub.agent()
    conversation = await _queued(hub)
    await sara.post(_path(conversation, "claim"))
    unassigned = await sara.post(_path(conversation, "unassign"))
    assert (await unassigned.json())["status"] == "queued"
    await sara.post(_path(conversation, "claim"))
    handed = await sara.post(_path(conversation, "handback"))
    assert (await handed.json())["status"] == "bot"
    queued = await boss.post(_path(conversation, "queue"), {"reason": "vip"})
    assert queued.status == 200
    assert (await queued.json())["status"] == "queued"
    assert (await sara.post(_path(conversation, "transfer"), {})).status == 422


async def test_an_agents_availability(hub: Hub) -> None:
    sara = await hub.agent()
    response = await sara.client.put(
        "/inbox/api/me/availability",
        json={"available": True},
        headers={"X-CSRF-Token": sara.csrf},
    )
    assert response.status == 200
    assert (await response.json())["available"] is True
    assert (await sara.json("/inbox/api/me"))["available"] is True


async def test_claims_reach_every_agents_socket(hub: Hub) -> None:
    sara = await hub.agent()
    rui = await hub.agent()
    conversation = await _queued(hub)
    origin = f"http://{hub.server.host}:{hub.server.port}"
    ws = await rui.client.ws_connect("/inbox/ws", headers={"Origin": origin})
    assert (await sara.post(_path(conversation, "claim"))).status == 200
    event = await ws.receive_json(timeout=5)
    while event["kind"] != "claimed":
        event = await ws.receive_json(timeout=5)
    assert event["conversation_id"] == conversation
    assert event["assigned_agent_id"] == sara.id
    await ws.close()


async def _ana_with_goods(hub: Hub) -> tuple[int, int, str]:
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone=ANA)
        store = await add_store(session, "MAD-01")
        variant = (await add_product(session)).variants[0]
        await add_inventory(session, store, variant, 5)
        order = await add_order(
            session, ana, [(variant, 2, 2000)], status=OrderStatus.DELIVERED,
            placed_at=utcnow() - timedelta(days=5),
        )  # fmt: skip
        reservation = await reserve_item(session, ana.id, "MAD-01", variant.sku, 2)
        return ana.id, reservation.id, order.number


async def test_an_agent_cancels_a_reservation_from_the_panel(hub: Hub) -> None:
    sara = await hub.agent()
    ana, reservation, _ = await _ana_with_goods(hub)
    path = f"/inbox/api/reservations/{reservation}/cancel"
    cancelled = await sara.post(path)
    assert cancelled.status == 200
    assert (await cancelled.json())["status"] == "cancelled"
    async with hub.db.transaction() as session:
        assert await session.scalar(select(Inventory.reserved)) == 0  # the stock is back
    panel = await sara.json(f"/inbox/api/customers/{ana}")
    assert [r["status"] for r in panel["reservations"]] == ["cancelled"]
    twice = await sara.post(path)
    assert twice.status == 409
    assert (await sara.post("/inbox/api/reservations/999999/cancel")).status == 404


async def test_an_agent_starts_a_return_from_the_panel(hub: Hub) -> None:
    sara: SignedIn = await hub.agent()
    ana, _, number = await _ana_with_goods(hub)
    body = {
        "customer_id": ana,
        "order_number": number,
        "lines": [{"line_no": 1, "quantity": 1}],
        "reason": "wrong_size",
        "method": "courier",
    }
    started = await sara.post("/inbox/api/returns", body)
    assert started.status == 201, await started.text()
    rma = await started.json()
    assert (rma["order_number"], rma["status"], rma["refund_minor"]) == (number, "requested", 2000)
    panel = await sara.json(f"/inbox/api/customers/{ana}")
    assert [r["rma_code"] for r in panel["returns"]] == [rma["rma_code"]]
    too_many = await sara.post(
        "/inbox/api/returns", {**body, "lines": [{"line_no": 1, "quantity": 2}]}
    )
    assert too_many.status == 422
    someone_else = await sara.post("/inbox/api/returns", {**body, "customer_id": ana + 1000})
    assert someone_else.status == 404
