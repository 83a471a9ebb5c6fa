"""The event log behind the simulator page, and the customers the page starts with."""

from __future__ import annotations

from adapters.simulator import customers
from adapters.simulator.events import (
    QUEUE_SIZE,
    ChatMessage,
    Direction,
    EventLog,
    Status,
    StatusChange,
    Typing,
)
from crm.models import Channel
from crm.seed.data import CUSTOMERS


def _said(text: str) -> ChatMessage:
    return ChatMessage(
        Channel.SMS, "+34612489327", Direction.FROM_CUSTOMER, "SM1", text, Status.SENDING
    )


async def test_a_subscriber_gets_the_backlog_then_live_events_without_gaps() -> None:
    log = EventLog()
    log.publish(_said("uno"))
    log.publish(_said("dos"))
    async with log.subscribe(after=1) as subscription:
        assert [e.id for e in subscription.backlog] == [2]
        log.publish(StatusChange(Channel.SMS, "+34612489327", "SM1", Status.RECEIVED, "200"))
        live = await subscription.next()
    assert live is not None
    assert live.id == 3
    assert live.to_json()["type"] == "status"
    assert live.to_json()["detail"] == "200"


async def test_a_subscriber_that_falls_behind_is_cut_off_and_can_catch_up() -> None:
    log = EventLog()
    async with log.subscribe() as subscription:
        for number in range(QUEUE_SIZE + 1):
            log.publish(_said(str(number)))
        assert await subscription.next() is None
    # What it missed is still in the log for its reconnect.
    assert len(log.since(0)) == QUEUE_SIZE + 1


async def test_closing_the_log_ends_every_stream() -> None:
    log = EventLog()
    async with log.subscribe() as subscription:
        log.close()
        assert await subscription.next() is None
    async with log.subscribe() as late:
        assert await late.next() is None


def test_events_read_as_the_page_expects() -> None:
    log = EventLog()
    typing = log.publish(Typing(Channel.TELEGRAM, "5812347906")).to_json()
    assert {k: typing[k] for k in ("type", "channel", "customer")} == {
        "type": "typing",
        "channel": "telegram",
        "customer": "5812347906",
    }
    message = log.publish(_said("<b>hola</b>")).to_json()
    assert message["text"] == "<b>hola</b>"  # as written; the page shows it as text
    assert (message["type"], message["direction"], message["buttons"]) == ("message", "in", [])


def test_the_default_customers_are_people_of_the_demo_chain() -> None:
    seeded = {c.phone: c for c in CUSTOMERS}
    assert seeded[customers.SMS_CUSTOMER.phone].name == customers.SMS_CUSTOMER.name
    assert seeded[customers.WHATSAPP_CUSTOMER.phone].name == customers.WHATSAPP_CUSTOMER.name
    carlos = seeded[customers.TELEGRAM_CUSTOMER_PHONE]
    assert "telegram" in carlos.tags
    assert carlos.name.startswith(
        f"{customers.TELEGRAM_CUSTOMER.first_name} {customers.TELEGRAM_CUSTOMER.last_name}"
    )
    assert {c.country for c in (seeded[customers.SMS_CUSTOMER.phone], carlos)} == {"ES", "MX"}
    assert seeded[customers.WHATSAPP_CUSTOMER.phone].country == "BR"
