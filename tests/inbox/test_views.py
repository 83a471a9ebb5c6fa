"""What agents read: the conversation list, one conversation, the customer panel, canned answers."""

from __future__ import annotations

from datetime import timedelta

from crm.models import (
    AgentRole,
    CannedResponse,
    Channel,
    Consent,
    ConsentPurpose,
    ConversationEvent,
    ConversationStatus,
    DeliveryStatus,
    Language,
    MessageAuthor,
    Reservation,
    ReservationStatus,
    utcnow,
)
from crm.seed.demo import seed_demo
from tests.builders import (
    T0,
    add_customer,
    add_identity,
    add_order,
    add_product,
    add_store,
)
from tests.inbox.conftest import Hub, add_conversation, add_message

ANA_PHONE = "+34612345678"


async def _ids(agent: object, query: str) -> list[int]:
    page = await agent.json("/inbox/api/conversations?" + query)  # type: ignore[attr-defined]
    return [c["id"] for c in page["conversations"]]


async def test_list_filters_by_view_channel_and_status(hub: Hub) -> None:
    sara = await hub.agent()
    rui = await hub.agent()
    async with hub.db.transaction() as session:
        c = [await add_customer(session, name=f"C{i}", phone=f"+3460000000{i}") for i in range(5)]
        queued_sms = await add_conversation(session, c[0], updated_at=T0)
        queued_wa = await add_conversation(
            session, c[1], channel=Channel.WHATSAPP, updated_at=T0 + timedelta(minutes=1)
        )
        saras = await add_conversation(
            session,
            c[2],
            status=ConversationStatus.AGENT,
            agent_id=sara.id,
            updated_at=T0 + timedelta(minutes=2),
        )
        ruis = await add_conversation(
            session,
            c[3],
            status=ConversationStatus.AGENT,
            agent_id=rui.id,
            channel=Channel.TELEGRAM,
            updated_at=T0 + timedelta(minutes=3),
        )
        resolved = await add_conversation(
            session,
            c[4],
            status=ConversationStatus.RESOLVED,
            agent_id=sara.id,
            resolved_at=T0,
            updated_at=T0 + timedelta(minutes=4),
        )
    assert await _ids(sara, "view=mine") == [saras.id]
    assert await _ids(rui, "view=mine") == [ruis.id]
    assert await _ids(sara, "view=queued") == [queued_wa.id, queued_sms.id]
    assert await _ids(sara, "view=open") == [ruis.id, saras.id, queued_wa.id, queued_sms.id]
    assert await _ids(sara, "") == await _ids(sara, "view=open")
    everything = [resolved.id, ruis.id, saras.id, queued_wa.id, queued_sms.id]
    assert await _ids(sara, "view=all") == everything
    assert await _ids(sara, "view=all&channel=whatsapp") == [queued_wa.id]
    assert await _ids(sara, "view=all&status=resolved") == [resolved.id]
    assert await _ids(sara, "view=open&status=agent&channel=telegram") == [ruis.id]

    page = await sara.json("/inbox/api/conversations?view=mine")
    (summary,) = page["conversations"]
    assert summary["customer"] == {
        "id": c[2].id,
        "name": "C2",
        "phone": "+34600000002",
        "language": None,
    }
    assert summary["assigned_agent"]["id"] == sara.id
    assert summary["status"] == "agent"
    bad = await sara.get("/inbox/api/conversations?channel=fax")
    assert bad.status == 400


async def test_search_by_name_phone_or_order_number(hub: Hub) -> None:
    sara = await hub.agent()
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana Lopes", phone=ANA_PHONE)
        bea = await add_customer(session, name="Beatriz Sá", phone="+351912000111")
        variant = (await add_product(session)).variants[0]
        await add_order(session, bea, [(variant, 1, 1000)], number="PT-200300")
        ana_talk = await add_conversation(session, ana)
        bea_talk = await add_conversation(session, bea, updated_at=T0 + timedelta(minutes=1))
        other = await add_customer(session, name="100% real_name", phone="+34699999999")
        await add_conversation(session, other, updated_at=T0 - timedelta(minutes=1))
    assert await _ids(sara, "q=ana") == [ana_talk.id]
    assert await _ids(sara, "q=LOPES") == [ana_talk.id]
    assert await _ids(sara, "q=%2B34 612 345 678") == [ana_talk.id]  # as people type it
    assert await _ids(sara, "q=612-345") == [ana_talk.id]
    assert await _ids(sara, "q=pt-200300") == [bea_talk.id]
    assert await _ids(sara, "q=PT-2003") == []  # order numbers match whole
    assert await _ids(sara, "q=%25") != [ana_talk.id, bea_talk.id]  # % is a character
    assert len(await _ids(sara, "q=%25")) == 1


async def test_pages_follow_each_other_without_gaps_or_repeats(hub: Hub) -> None:
    sara = await hub.agent()
    async with hub.db.transaction() as session:
        ids = []
        for i in range(7):
            customer = await add_customer(session, name=f"C{i}", phone=f"+3461111111{i}")
            # Two pairs share an updated_at: the id breaks the tie.
            at = T0 + timedelta(minutes=i // 2)
            ids.append((await add_conversation(session, customer, updated_at=at)).id)
    seen: list[int] = []
    before = ""
    while True:
        page = await sara.json(f"/inbox/api/conversations?limit=3&before={before}")
        seen += [c["id"] for c in page["conversations"]]
        if page["next_before"] is None:
            break
        before = page["next_before"]
    assert seen == sorted(ids, key=lambda i: ((i - ids[0]) // 2, i), reverse=True)
    assert len(set(seen)) == 7
    assert (await sara.get("/inbox/api/conversations?before=nonsense")).status == 400


async def test_the_detail_shows_every_channel_in_one_conversation(hub: Hub) -> None:
    sara = await hub.agent(name="Sara Vidal")
    now = utcnow()
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone=ANA_PHONE)
        talk = await add_conversation(
            session,
            ana,
            status=ConversationStatus.AGENT,
            agent_id=sara.id,
            channel=Channel.WHATSAPP,
            updated_at=now,
            last_inbound_at=now - timedelta(hours=2),
            handoff={
                "reason": "asked",
                "intent": "start_return",
                "flow": "returns",
                "slots": {"order_number": "ES-100234"},
                "language": "es",
                "requested_at": (now - timedelta(hours=1)).isoformat(),
            },
        )
        await add_message(
            session, talk, "Hola, mi pedido", channel=Channel.SMS, at=now - timedelta(hours=3)
        )
        await add_message(
            session,
            talk,
            "¿Qué número de pedido?",
            author=MessageAuthor.BOT,
            channel=Channel.SMS,
            status=DeliveryStatus.DELIVERED,
            at=now - timedelta(hours=3),
        )
        await add_message(
            session, talk, "ES-100234", channel=Channel.WHATSAPP, at=now - timedelta(hours=2)
        )
        await add_message(
            session,
            talk,
            "Te ayudo con la devolución",
            author=MessageAuthor.AGENT,
            agent_id=sara.id,
            channel=Channel.WHATSAPP,
            status=DeliveryStatus.READ,
            at=now - timedelta(minutes=30),
        )
        await add_message(
            session,
            talk,
            "check the receipt first",
            author=MessageAuthor.AGENT,
            agent_id=sara.id,
            private=True,
            status=DeliveryStatus.DELIVERED,
            at=now - timedelta(minutes=20),
        )
        session.add(
            ConversationEvent(
                conversation_id=talk.id,
                kind="claimed",
                from_status="queued",
                to_status="agent",
                agent_id=sara.id,
                created_at=now - timedelta(minutes=40),
            )
        )
    detail = await sara.json(f"/inbox/api/conversations/{talk.id}")
    messages = [
        (m["channel"], m["author"], m["text"], m["delivery_status"], m["private"])
        for m in detail["messages"]
    ]
    assert messages == [
        ("sms", "customer", "Hola, mi pedido", "received", False),
        ("sms", "bot", "¿Qué número de pedido?", "delivered", False),
        ("whatsapp", "customer", "ES-100234", "received", False),
        ("whatsapp", "agent", "Te ayudo con la devolución", "read", False),
        ("whatsapp", "agent", "check the receipt first", "delivered", True),
    ]
    assert detail["messages"][3]["agent"] == {"id": sara.id, "name": "Sara Vidal"}
    assert detail["messages"][0]["agent"] is None
    assert detail["handoff"]["intent"] == "start_return"
    assert detail["handoff"]["slots"] == {"order_number": "ES-100234"}
    assert [(e["kind"], e["agent"]["name"]) for e in detail["events"]] == [
        ("claimed", "Sara Vidal")
    ]
    window = detail["whatsapp_window"]
    assert window["open"] is True
    assert window["closes_at"].startswith((now + timedelta(hours=22)).isoformat()[:16])
    assert detail["summary"]["last_message"]["private"] is True


async def test_the_whatsapp_window_closes_after_24_hours_and_other_channels_have_none(
    hub: Hub,
) -> None:
    sara = await hub.agent()
    now = utcnow()
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone=ANA_PHONE)
        old = await add_conversation(
            session,
            ana,
            channel=Channel.WHATSAPP,
            updated_at=now,
            last_inbound_at=now - timedelta(hours=25),
        )
        bea = await add_customer(session, name="Bea", phone="+34622222222")
        sms = await add_conversation(session, bea, channel=Channel.SMS)
    closed = await sara.json(f"/inbox/api/conversations/{old.id}")
    assert closed["whatsapp_window"]["open"] is False
    assert (await sara.json(f"/inbox/api/conversations/{sms.id}"))["whatsapp_window"] is None
    assert (await sara.get("/inbox/api/conversations/999999")).status == 404


async def test_a_script_in_a_message_comes_back_as_plain_text(hub: Hub) -> None:
    sara = await hub.agent()
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    async with hub.db.transaction() as session:
        mallory = await add_customer(session, name=attack, phone=ANA_PHONE)
        talk = await add_conversation(session, mallory)
        await add_message(session, talk, attack)
    response = await sara.get(f"/inbox/api/conversations/{talk.id}")
    assert response.content_type == "application/json"
    detail = await response.json()
    assert detail["messages"][0]["text"] == attack
    assert detail["summary"]["customer"]["name"] == attack
    listed = await sara.json("/inbox/api/conversations")
    assert listed["conversations"][0]["last_message"]["text"] == attack


async def test_the_customer_panel(hub: Hub) -> None:
    sara = await hub.agent()
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone=ANA_PHONE, email="ana@example.com")
        ana.tags = ["vip"]
        await add_identity(session, ana, Channel.WHATSAPP, ANA_PHONE, verified=True)
        await add_identity(session, ana, Channel.TELEGRAM, "777", verified=False)
        store = await add_store(session, "MAD-01")
        variant = (await add_product(session)).variants[0]
        await add_order(session, ana, [(variant, 2, 1500)], number="ES-100234")
        session.add(
            Reservation(
                customer_id=ana.id,
                store_id=store.id,
                variant_id=variant.id,
                quantity=1,
                pickup_code="KXMPQR",
                status=ReservationStatus.HELD,
                held_until=T0 + timedelta(days=2),
            )
        )
        for granted, at in [(True, T0), (False, T0 + timedelta(days=1))]:
            session.add(
                Consent(
                    customer_id=ana.id,
                    channel=Channel.WHATSAPP,
                    purpose=ConsentPurpose.MARKETING,
                    granted=granted,
                    source="keyword:BAJA" if not granted else "api",
                    recorded_at=at,
                )
            )
    panel = await sara.json(f"/inbox/api/customers/{ana.id}")
    assert panel["name"] == "Ana"
    assert panel["tags"] == ["vip"]
    assert [(i["channel"], i["verified"]) for i in panel["identities"]] == [
        ("whatsapp", True),
        ("telegram", False),
    ]
    (order,) = panel["orders"]
    assert order["number"] == "ES-100234"
    assert order["status"] == "delivered"
    assert [(line["line_no"], line["quantity"]) for line in order["lines"]] == [(1, 2)]
    (reservation,) = panel["reservations"]
    assert (reservation["pickup_code"], reservation["store_code"]) == ("KXMPQR", "MAD-01")
    assert panel["returns"] == []
    assert [(c["channel"], c["granted"], c["source"]) for c in panel["consents"]] == [
        ("whatsapp", False, "keyword:BAJA")
    ]
    assert (await sara.get("/inbox/api/customers/424242")).status == 404


async def test_canned_responses_in_the_customers_language(hub: Hub) -> None:
    sara = await hub.agent()
    async with hub.db.transaction() as session:
        for language, body in [
            (Language.ES, "¡Hola!"),
            (Language.PT, "Olá!"),
            (Language.EN, "Hi!"),
        ]:
            session.add(
                CannedResponse(shortcut="hello", language=language, title="Hello", body=body)
            )
        session.add(
            CannedResponse(
                shortcut="old", language=Language.ES, title="Old", body="x", active=False
            )
        )
    spanish = await sara.json("/inbox/api/canned?language=es")
    assert [(c["shortcut"], c["body"]) for c in spanish["canned"]] == [("hello", "¡Hola!")]
    everything = await sara.json("/inbox/api/canned")
    assert sorted(c["language"] for c in everything["canned"]) == ["en", "es", "pt"]
    assert (await sara.get("/inbox/api/canned?language=de")).status == 400


async def test_a_supervisor_reads_what_an_agent_reads(hub: Hub) -> None:
    boss = await hub.agent(AgentRole.SUPERVISOR)
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone=ANA_PHONE)
        talk = await add_conversation(session, ana)
    assert (await boss.json(f"/inbox/api/conversations/{talk.id}"))["summary"]["id"] == talk.id


async def test_the_demo_has_canned_responses_in_every_language(hub: Hub) -> None:
    await seed_demo(hub.db, now=T0)
    sara = await hub.agent()
    shortcuts = {}
    for language in ("es", "pt", "en"):
        canned = (await sara.json(f"/inbox/api/canned?language={language}"))["canned"]
        assert {c["language"] for c in canned} == {language}
        shortcuts[language] = sorted(c["shortcut"] for c in canned)
    assert shortcuts["es"] == shortcuts["pt"] == shortcuts["en"]
    assert len(shortcuts["es"]) >= 3


async def test_the_agents_to_transfer_to_with_their_load(hub: Hub) -> None:
    sara = await hub.agent(name="Sara")
    await hub.agent(AgentRole.SUPERVISOR, name="Tomás")
    await hub.agent(AgentRole.MARKETER, name="Mia")  # answers no customers
    listed = await sara.json("/inbox/api/agents")
    assert [(a["name"], a["role"]) for a in listed["agents"]] == [
        ("Sara", "agent"),
        ("Tomás", "supervisor"),
    ]
    assert all(a["open_conversations"] == 0 for a in listed["agents"])


async def test_out_of_range_input_gets_a_4xx_not_a_crash(hub: Hub) -> None:
    sara = await hub.agent(name="Sara")
    for path, status in (
        ("/inbox/api/conversations?before=99999999999999999999.1", 400),
        ("/inbox/api/conversations?q=ana%00", 400),
        ("/inbox/api/conversations/99999999999999999999", 404),
        ("/inbox/api/customers/99999999999999999999", 404),
    ):
        assert (await sara.get(path)).status == status, path
    boss = await hub.agent(AgentRole.SUPERVISOR)
    assert (await boss.get("/inbox/api/metrics?until=0001-01-01T00:00:00%2B00:00")).status == 400
    huge = await boss.post("/inbox/api/conversations/1/assign", {"agent_id": 2**70})
    assert huge.status == 422


async def test_query_parameters_that_are_not_what_they_say_are_400_naming_them(hub: Hub) -> None:
    sara = await hub.agent(name="Sara")
    for query, name in (
        ("before=1.100000000000000000000", "before"),  # an id past BIGINT: a 500 before
        ("before=1.9223372036854775808", "before"),  # 2**63
        ("before=1_000.1", "before"),
        ("before=%201.1", "before"),
        ("before=1.1.1", "before"),
        ("before=1.%D9%A1", "before"),  # an Arabic-Indic one, which int() takes
        ("limit=1.5", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("limit=1_0", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=%D9%A1", "limit"),
        ("limit=201", "limit"),
    ):
        response = await sara.get(f"/inbox/api/conversations?{query}")
        assert response.status == 400, query
        assert (await response.json())["error"].startswith(f"{name} must be"), query
    assert (await sara.get("/inbox/api/conversations?limit=200&before=1.1")).status == 200


async def test_ids_and_counts_in_bodies_are_strict_whole_numbers_in_range(hub: Hub) -> None:
    boss = await hub.agent(AgentRole.SUPERVISOR)
    assign = "/inbox/api/conversations/1/assign"
    for agent_id in (True, 1.0, "1", 2**63):
        response = await boss.post(assign, {"agent_id": agent_id})
        assert response.status == 422, agent_id
        assert [e["loc"] for e in (await response.json())["errors"]] == [["body", "agent_id"]]
    body = {
        "customer_id": 2**63,
        "order_number": "ES-1",
        "lines": [{"line_no": True, "quantity": 2**31}],
        "reason": "wrong_size",
        "method": "courier",
    }
    response = await boss.post("/inbox/api/returns", body)
    assert response.status == 422
    assert [e["loc"] for e in (await response.json())["errors"]] == [
        ["body", "customer_id"],
        ["body", "lines", 0, "line_no"],
        ["body", "lines", 0, "quantity"],
    ]
    note = await boss.post("/inbox/api/conversations/1/messages", {"text": "hola\u0000"})
    assert note.status == 422
    assert (await note.json())["errors"][0]["type"] == "string_nul"
