"""Messages to someone other than the conversation's customer, sent once from memory.

A one-time code goes by SMS to the phone on file of the customer an order belongs to,
asked for by a visitor who may be someone else. Its text must reach that phone and no
one else: it is no message of the visitor's conversation (whose agents would read it),
and it is never stored. The flow writes a `one_time_code_events` row holding a masked
text and the phone's last digits (status pending) and returns a Reply to a
`Destination` naming that row; the router hands the text here after its commit; it is
sent once through the outbox's sender and rate limits, and the provider's id, status
or error are written on the row (status callbacks find it by that id,
dialogue.deliveries). Nothing can send it again: the text is gone once sent, so a
failure, or a crash before the send (`give_up_unsent`), leaves the row failed, and the
visitor asks for a new code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast

from sqlalchemy import String, Table, bindparam, update

from crm.models import Channel, DeliveryStatus, OneTimeCodeEvent
from dialogue.messages import Outgoing, Reply
from dialogue.outbox import CHANNEL_OFF, Outbox
from dialogue.ports import SendError

log = logging.getLogger(__name__)

# A row still pending this long after it was written was never sent (its process died
# first): it is marked failed. Longer than a send can take, rate limit included.
UNSENT_AFTER = timedelta(minutes=5)
NOT_SENT = "not_sent"

_events = cast(Table, OneTimeCodeEvent.__table__)
_RECORD = (
    update(_events)
    .where(_events.c.id == bindparam("b_id"))
    .values(
        channel=bindparam("b_channel"),
        delivery_status=bindparam("b_status"),
        provider_message_id=bindparam("b_provider_id", type_=String),
        error_code=bindparam("b_error_code", type_=String),
        updated_at=bindparam("b_now"),
    )
)
_GIVE_UP = (
    update(_events)
    .where(
        _events.c.delivery_status == DeliveryStatus.PENDING,
        _events.c.created_at <= bindparam("before"),
    )
    .values(
        delivery_status=DeliveryStatus.FAILED,
        error_code=NOT_SENT,
        updated_at=bindparam("now"),
    )
)


@dataclass(frozen=True)
class Aside:
    """One message to a Destination, as the router hands it over: never printed."""

    record_id: int
    channel: Channel
    address: str = field(repr=False)
    text: str = field(repr=False)

    @classmethod
    def of(cls, reply: Reply) -> Aside:
        if reply.to is None:
            raise ValueError("a reply without a destination belongs to its conversation")
        return cls(reply.to.record_id, reply.to.channel, reply.to.address, reply.text)


async def send_asides(outbox: Outbox, asides: Sequence[Aside]) -> None:
    """Send each message once, through the outbox's senders and rate limits, and write
    what became of it on its row. A failure of any kind is final."""
    outcomes = []
    for aside in asides:
        outcomes.append(await _send(outbox, aside))
    async with outbox.db.connection() as conn:
        await conn.execute(
            _RECORD,
            [
                {
                    "b_id": aside.record_id,
                    "b_channel": aside.channel,
                    "b_status": status,
                    "b_provider_id": provider_id,
                    "b_error_code": error,
                    "b_now": outbox.clock(),
                }
                for aside, (status, provider_id, error) in zip(asides, outcomes, strict=True)
            ],
        )


async def _send(outbox: Outbox, aside: Aside) -> tuple[DeliveryStatus, str | None, str | None]:
    sender = outbox.senders.get(aside.channel)
    if sender is None:
        return DeliveryStatus.FAILED, None, CHANNEL_OFF
    await outbox.book(aside.channel, aside.text)
    outgoing = Outgoing(
        message_id=aside.record_id, channel=aside.channel, address=aside.address, text=aside.text
    )
    try:
        receipt = await sender.send(outgoing)
    except SendError as exc:
        # The text is not kept anywhere to try again with: the visitor asks for another.
        # The error's words are the provider's; the record id says which row.
        log.warning("one-time code record %d: send failed for good: %s", aside.record_id, exc)
        return DeliveryStatus.FAILED, None, exc.code or "send_failed"
    return receipt.status, receipt.provider_id, None


async def give_up_unsent(outbox: Outbox) -> int:
    """Mark failed the rows whose message a crash kept from going (recovery sweeps)."""
    now = outbox.clock()
    async with outbox.db.connection() as conn:
        result = await conn.execute(_GIVE_UP, {"before": now - UNSENT_AFTER, "now": now})
    return int(result.rowcount or 0)
