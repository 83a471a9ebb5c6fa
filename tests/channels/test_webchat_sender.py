"""WebchatSender: what it can carry, what it publishes, and how its failures read."""

from __future__ import annotations

import json

import pytest

from adapters.channels.webchat import CAPABILITIES, WebchatSender, visitor_topic
from crm.models import Channel, DeliveryStatus
from dialogue.local_bus import InProcessBus
from dialogue.messages import Button, Outgoing
from dialogue.ports import (
    Capabilities,
    ChannelSender,
    PermanentSendError,
    TransientSendError,
)


class RecordingBus(InProcessBus):
    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, data: bytes) -> None:
        self.published.append((topic, data))
        await super().publish(topic, data)


def test_it_is_a_channel_sender_for_web_chat() -> None:
    sender: ChannelSender = WebchatSender(RecordingBus())
    assert sender.channel is Channel.WEBCHAT
    assert sender.capabilities == CAPABILITIES == Capabilities(10, 4000, typing=True)


async def test_send_publishes_the_message_frame_on_the_visitors_topic() -> None:
    bus = RecordingBus()
    buttons = tuple(Button(f"Option {n}", f"opt:{n}") for n in range(10))
    receipt = await WebchatSender(bus).send(
        Outgoing(9, Channel.WEBCHAT, "v_abc", "Elige <una> opción", buttons)
    )
    assert (receipt.provider_id, receipt.status) == ("webchat-9", DeliveryStatus.SENT)
    ((topic, data),) = bus.published
    assert topic == visitor_topic("v_abc") == "webchat.visitor.v_abc"
    frame = json.loads(data)
    assert frame["type"] == "message"
    assert frame["id"] == 9
    assert frame["text"] == "Elige <una> opción"  # escaping is the widget's job (textContent)
    assert frame["buttons"][9] == {"title": "Option 9", "payload": "opt:9"}


@pytest.mark.parametrize(
    "outgoing",
    [
        Outgoing(1, Channel.SMS, "+34600000000", "hola"),
        Outgoing(1, Channel.WEBCHAT, "v_abc", "x" * 4001),
        Outgoing(
            1, Channel.WEBCHAT, "v_abc", "hola", tuple(Button(str(n), str(n)) for n in range(11))
        ),
    ],
)
async def test_what_the_channel_cannot_carry_fails_for_good(outgoing: Outgoing) -> None:
    bus = RecordingBus()
    with pytest.raises(PermanentSendError):
        await WebchatSender(bus).send(outgoing)
    assert bus.published == []


class BrokenBus(InProcessBus):
    async def publish(self, topic: str, data: bytes) -> None:
        raise ConnectionError("Redis went away")


async def test_a_bus_failure_is_worth_a_retry() -> None:
    sender = WebchatSender(BrokenBus())
    with pytest.raises(TransientSendError) as failed:
        await sender.send(Outgoing(1, Channel.WEBCHAT, "v_abc", "hola"))
    assert isinstance(failed.value.__cause__, ConnectionError)
    with pytest.raises(TransientSendError):
        await sender.typing("v_abc")


async def test_typing_is_a_frame_of_its_own() -> None:
    bus = RecordingBus()
    await WebchatSender(bus).typing("v_abc")
    assert bus.published == [("webchat.visitor.v_abc", b'{"type":"typing"}')]
