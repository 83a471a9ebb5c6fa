"""The Telegram channel: python-telegram-bot in webhook mode, behind the hub's own route.

The hub owns the route (no Application or Updater): the webhook reads each update
with the library's Update.de_json and hands the router one Inbound; the sender sends
through the same Bot. Wiring:

    app.cleanup_ctx.append(telegram_ctx)   # app[BOT], when the channel is on
    add_routes(app)                        # POST /webhooks/telegram
    sender(app[BOT])                       # the ChannelSender for the outbox
"""

from adapters.channels.telegram.bot import BOT, TelegramOff, build_bot, is_on, telegram_ctx
from adapters.channels.telegram.inbound import (
    MalformedUpdate,
    UnreadableUpdate,
    read_update,
    to_inbound,
)
from adapters.channels.telegram.registration import (
    ALLOWED_UPDATES,
    WEBHOOK_PORTS,
    SetWebhookError,
    set_webhook,
    webhook_url,
)
from adapters.channels.telegram.sender import CAPABILITIES, TelegramSender, send_error, sender
from adapters.channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH, add_routes

__all__ = [
    "ALLOWED_UPDATES",
    "BOT",
    "CAPABILITIES",
    "SECRET_HEADER",
    "WEBHOOK_PATH",
    "WEBHOOK_PORTS",
    "MalformedUpdate",
    "SetWebhookError",
    "TelegramOff",
    "TelegramSender",
    "UnreadableUpdate",
    "add_routes",
    "build_bot",
    "is_on",
    "read_update",
    "send_error",
    "sender",
    "set_webhook",
    "telegram_ctx",
    "to_inbound",
    "webhook_url",
]
