"""A customer talking to the real chatbot through the real router and outbox.

Only the providers are replaced, by senders that record what would leave; the
adapters' own tests cover the wire. Multi-turn scripts over real adapters and fake
provider servers live in tests/e2e.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bots.flows.registry import all_flows
from bots.notices import CustomerNotices
from bots.responder import ChatbotResponder
from crm.db import Database
from crm.models import Channel
from dialogue.inbox import Inbox, SupportHours
from dialogue.local_bus import InProcessBus
from dialogue.messages import Button, Inbound, Outgoing
from dialogue.outbox import Backoff, Outbox
from dialogue.ports import NluEngine
from dialogue.ratelimit import InProcessRateLimiter
from dialogue.replies import Replies
from dialogue.router import Router
from tests.router.doubles import CHAT, SMS, RecordingSender

_sids = itertools.count(1)


@dataclass
class Said:
    """What the customer got back for one message."""

    texts: list[str]
    buttons: list[Button] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def has(self, *fragments: str) -> bool:
        folded = self.text.casefold()
        return all(f.casefold() in folded for f in fragments)


class Chat:
    def __init__(self, db: Database, nlu: NluEngine, *, support: SupportHours | None = None):
        self.db = db
        self.senders = {
            Channel.SMS: RecordingSender(Channel.SMS, SMS),
            Channel.WHATSAPP: RecordingSender(Channel.WHATSAPP, SMS),
            Channel.TELEGRAM: RecordingSender(Channel.TELEGRAM, CHAT),
            Channel.WEBCHAT: RecordingSender(Channel.WEBCHAT, CHAT),
        }
        outbox = Outbox(db, self.senders, InProcessRateLimiter(), {}, backoff=Backoff(base=0.001))
        self.responder = ChatbotResponder(nlu, all_flows(), support=support)
        replies = Replies(outbox)
        self.bus = InProcessBus()
        self.inbox = Inbox(db, replies, self.senders, self.bus, CustomerNotices(), support=support)
        self.router = Router(db, self.responder, outbox, listener=self.inbox, replies=replies)
        self._seen = {channel: 0 for channel in Channel}

    async def send(self, inbound: Inbound) -> Said:
        await self.router.accept(inbound)
        await self.router.idle()
        return self._new()

    async def settled(self) -> Said:
        """What reached customers once everything under way (agents' replies) is sent."""
        await self.router.idle()
        return self._new()

    def _new(self) -> Said:
        out: list[Outgoing] = []
        for channel, sender in self.senders.items():
            out.extend(sender.sent[self._seen[channel] :])
            self._seen[channel] = len(sender.sent)
        out.sort(key=lambda m: m.message_id)
        return Said([m.text for m in out], [b for m in out for b in m.buttons])

    def sent_to(self, channel: Channel, address: str) -> list[str]:
        return [m.text for m in self.senders[channel].sent if m.address == address]

    # -- one customer message, per channel ----------------------------------------------

    async def sms(self, text: str, phone: str) -> Said:
        return await self.send(Inbound(Channel.SMS, _sid("SM"), phone, text, vouched_phone=phone))

    async def whatsapp(self, text: str, phone: str, *, payload: str | None = None) -> Said:
        return await self.send(
            Inbound(
                Channel.WHATSAPP,
                _sid("WA"),
                f"whatsapp:{phone}",
                text,
                payload=payload,
                vouched_phone=phone,
            )
        )

    async def telegram(
        self, text: str, user: str, *, payload: str | None = None, contact: str | None = None
    ) -> Said:
        return await self.send(
            Inbound(Channel.TELEGRAM, _sid(""), user, text, payload=payload, vouched_phone=contact)
        )

    async def webchat(
        self,
        text: str,
        visitor: str,
        *,
        payload: str | None = None,
        shop_customer_id: str | None = None,
    ) -> Said:
        return await self.send(
            Inbound(
                Channel.WEBCHAT,
                _sid("wc"),
                visitor,
                text,
                payload=payload,
                shop_customer_id=shop_customer_id,
            )
        )


def _sid(prefix: str) -> str:
    return f"{prefix}{next(_sids):08d}"
