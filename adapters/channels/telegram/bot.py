"""The python-telegram-bot client: built from the settings, opened and closed with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from telegram import Bot

from adapters.settings import Settings
from adapters.web.keys import SETTINGS

# Present only while the Telegram channel is on (token and webhook secret set).
BOT = web.AppKey("telegram_bot", Bot)


class TelegramOff(RuntimeError):
    """TELEGRAM_BOT_TOKEN or TELEGRAM_WEBHOOK_SECRET is unset: the channel is off."""


def is_on(settings: Settings) -> bool:
    return settings.channel_status()["telegram"]


def build_bot(settings: Settings) -> Bot:
    """A Bot reaching OMNIHUB_TELEGRAM_API_URL; the caller initializes and shuts it down."""
    if not settings.telegram_bot_token:
        raise TelegramOff("TELEGRAM_BOT_TOKEN is not set")
    api = str(settings.telegram_api_url).rstrip("/")
    # The library appends the token to both base URLs.
    return Bot(settings.telegram_bot_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")


async def telegram_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the Bot for the webhook and the sender, when the channel is on.

    initialize() calls getMe, so a wrong token or an unreachable API stops the start
    with the library's error instead of failing on the first message.
    """
    settings = app[SETTINGS]
    if not is_on(settings):
        yield
        return
    # The Bot's context manager shuts it down also when initialize() fails.
    async with build_bot(settings) as bot:
        app[BOT] = bot
        yield
