"""Wires the hub's concrete parts: bus, rate limits, channel senders, outbox and router.

`serve` opens it inside the web app (so webhooks reach the router); `worker` opens it
on its own, to recover and send without serving pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis
from telegram import Bot

from adapters.channels import telegram, twilio, webchat
from adapters.chatbot import open_chatbot
from adapters.redis_backends import RedisAnswerQueue, RedisBus, RedisRateLimiter
from adapters.settings import Settings
from adapters.web.keys import BUS, DATABASE, INBOUND, REDIS, SETTINGS
from bots.notices import CustomerNotices
from crm.db import Database
from crm.models import Channel
from dialogue.inbox import Inbox
from dialogue.local_bus import InProcessBus
from dialogue.outbox import Outbox, SendRate
from dialogue.ports import AnswerQueue, Bus, ChannelSender, Responder
from dialogue.ratelimit import InProcessRateLimiter, RateLimiter, sender_rate
from dialogue.replies import Replies
from dialogue.router import HandOver, Mode, Router

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0  # seconds to finish answering what is in flight; the rest waits


@dataclass(frozen=True)
class Hub:
    router: Router
    outbox: Outbox
    bus: Bus
    senders: dict[Channel, ChannelSender]
    inbox: Inbox
    # Set with OMNIHUB_ANSWERING=worker: `serve` puts hints on it, `worker` takes them.
    answer_queue: AnswerQueue | None = None


def _rates(settings: Settings, senders: dict[Channel, ChannelSender]) -> dict[Channel, SendRate]:
    sender_ids = {
        Channel.SMS: settings.twilio_sms_from or "",
        Channel.WHATSAPP: settings.twilio_whatsapp_from or "",
        Channel.TELEGRAM: (settings.telegram_bot_token or "").split(":")[0],  # the bot id
        Channel.WEBCHAT: "widget",
    }
    return {
        channel: SendRate(
            f"send:{channel.value}:{sender_ids[channel]}",
            *sender_rate(channel, sender_ids[channel]),
        )
        for channel in senders
    }


@contextlib.asynccontextmanager
async def open_hub(
    settings: Settings,
    db: Database,
    redis: Redis | None,
    *,
    telegram_bot: Bot | None = None,
    responder: Responder | None = None,
    worker: bool = False,
) -> AsyncIterator[Hub]:
    bus: Bus
    limiter: RateLimiter
    if redis is not None:
        bus, limiter = RedisBus(redis), RedisRateLimiter(redis)
    else:
        bus, limiter = InProcessBus(), InProcessRateLimiter()
    twilio_senders = twilio.senders(settings)
    senders: dict[Channel, ChannelSender] = {s.channel: s for s in twilio_senders}
    if telegram_bot is not None:
        senders[Channel.TELEGRAM] = telegram.sender(telegram_bot)
    senders[Channel.WEBCHAT] = webchat.WebchatSender(bus)
    outbox = Outbox(db, senders, limiter, _rates(settings, senders))
    async with contextlib.AsyncExitStack() as stack:
        if responder is None:  # the product's chatbot; tests plug in their own
            responder = await stack.enter_async_context(open_chatbot(settings, db))
        answer_queue = None
        mode: Mode | HandOver = Mode.ALONE
        if settings.answering == "worker" and redis is not None:
            # `serve` hands what it receives to the workers; a worker answers it.
            answer_queue = RedisAnswerQueue(redis)
            mode = Mode.RECEIPTS if worker else HandOver(answer_queue)
        replies = Replies(outbox)
        inbox = Inbox(
            db,
            replies,
            senders,
            bus,
            CustomerNotices(settings.support_timezone),
            support=settings.support_hours,
        )
        router = Router(
            db,
            responder,
            outbox,
            mode=mode,
            listener=inbox,
            replies=replies,
            identity_guard=webchat.WebchatProofs(bus),
        )
        try:
            yield Hub(router, outbox, bus, senders, inbox, answer_queue)
        finally:
            try:
                await asyncio.wait_for(router.idle(), SHUTDOWN_GRACE)
            except TimeoutError:
                # Nothing is lost: what was not answered is answered by recover() at start.
                log.warning("stopped with messages still being answered")
            await router.close()
            await outbox.close()
            for sender in twilio_senders:
                if isinstance(sender, twilio.TwilioSender):
                    await sender.aclose()
            if isinstance(bus, RedisBus):
                await bus.aclose()


HUB = web.AppKey("hub", Hub)
# Who answers customers; unset means the product's own (tests plug in theirs).
RESPONDER = web.AppKey("responder", Responder)


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the router behind the webhooks, after the database, Redis and bot."""
    async with open_hub(
        app[SETTINGS],
        app[DATABASE],
        app.get(REDIS),
        telegram_bot=app.get(telegram.BOT),
        responder=app.get(RESPONDER),
    ) as hub:
        app[HUB] = hub
        app[INBOUND] = hub.router
        app[BUS] = hub.bus
        yield
