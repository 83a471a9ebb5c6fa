"""WebchatSender: the hub's replies to a visitor, published to every widget they have open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from adapters.channels.webchat.frames import (
    MAX_BUTTONS,
    MAX_TEXT,
    TYPING_FRAME,
    MessageFrame,
    visitor_topic,
)
from crm.models import Channel, DeliveryStatus, utcnow
from dialogue.messages import Outgoing, SendReceipt
from dialogue.ports import Bus, Capabilities, PermanentSendError, TransientSendError

CAPABILITIES = Capabilities(max_buttons=MAX_BUTTONS, max_length=MAX_TEXT, typing=True)


class WebchatSender:
    """A ChannelSender for Channel.WEBCHAT.

    Sending is publishing on the visitor's bus topic: with the Redis bus it reaches the
    widget whichever hub process holds its websocket. A visitor with no widget open
    gets the message by replay when they come back, so SENT is the truthful status:
    the hub has no way to know it was read.
    """

    def __init__(self, bus: Bus, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._bus = bus
        self._clock = clock

    @property
    def channel(self) -> Channel:
        return Channel.WEBCHAT

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    async def send(self, message: Outgoing) -> SendReceipt:
        if message.channel is not Channel.WEBCHAT:
            raise PermanentSendError(f"WebchatSender cannot send on {message.channel}")
        if len(message.text) > MAX_TEXT or len(message.buttons) > CAPABILITIES.max_buttons:
            raise PermanentSendError("message does not fit the web chat's capabilities")
        frame = MessageFrame.from_outgoing(message, self._clock())
        await self._publish(message.address, frame.encode())
        return SendReceipt(provider_id=f"webchat-{message.message_id}", status=DeliveryStatus.SENT)

    async def typing(self, address: str) -> None:
        """Shows the visitor that an answer is being written (until the next message)."""
        await self._publish(address, TYPING_FRAME)

    async def _publish(self, address: str, frame: str) -> None:
        try:
            await self._bus.publish(visitor_topic(address), frame.encode())
        except Exception as exc:
            # Whatever the bus is (in-process, Redis), a failed publish is worth a retry.
            raise TransientSendError(f"web-chat bus publish failed: {exc}") from exc
