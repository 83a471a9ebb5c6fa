"""A test double of the router's inbound port: records what adapters deliver."""

from __future__ import annotations

from dialogue.messages import DeliveryUpdate, Inbound
from dialogue.ports import Accepted


class RecordingSink:
    """Implements dialogue.ports.InboundSink by keeping everything in lists.

    For adapter tests only: it shows exactly what an adapter handed the router (and
    that a rejected webhook handed over nothing). Deduplication, like the router's, is
    on (channel, provider id).
    """

    def __init__(self) -> None:
        self.inbound: list[Inbound] = []
        self.updates: list[DeliveryUpdate] = []
        self._ids: dict[tuple[str, str], int] = {}

    async def accept(self, inbound: Inbound) -> int:
        return (await self.accept_new(inbound)).message_id

    async def accept_new(self, inbound: Inbound) -> Accepted:
        key = (inbound.channel.value, inbound.provider_id)
        new = key not in self._ids
        if new:
            self.inbound.append(inbound)
            self._ids[key] = len(self.inbound)
        return Accepted(self._ids[key], new)

    async def receive(self, inbound: Inbound) -> None:
        await self.accept(inbound)

    async def delivery(self, update: DeliveryUpdate) -> None:
        self.updates.append(update)
