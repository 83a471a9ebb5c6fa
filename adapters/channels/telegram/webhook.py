"""POST /webhooks/telegram: check the secret token, read the update, hand it to the router."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from telegram import Bot
from telegram.error import TelegramError

from adapters.channels.telegram.bot import BOT, is_on
from adapters.channels.telegram.inbound import (
    MalformedUpdate,
    UnreadableUpdate,
    read_update,
    to_inbound,
)
from adapters.web.errors import error_response
from adapters.web.keys import INBOUND, SETTINGS

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


def add_routes(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATH, receive_update, name="telegramWebhook")


async def receive_update(request: web.Request) -> web.Response:
    """Answers 2xx only once the router has stored the message: Telegram redelivers otherwise.

    Updates the hub does not handle get 200 too, or Telegram would send them again
    and again; so do updates it cannot read (a field of the wrong type, text the
    database cannot hold, nesting too deep to parse), which are logged without their
    content and skipped. A body that is not an update at all (not JSON, no integer
    update_id) is a 400. Any other failure (the router's, the library's) propagates
    as a 500, so Telegram retries and the error is logged rather than lost.
    """
    settings = request.app[SETTINGS]
    bot = request.app.get(BOT)
    secret = settings.telegram_webhook_secret
    if not is_on(settings) or secret is None or bot is None:
        return error_response(404, "the Telegram channel is off")
    if not _secret_matches(request.headers.get(SECRET_HEADER), secret):
        return error_response(403, f"missing or wrong {SECRET_HEADER}")
    if request.content_type != "application/json":
        return error_response(415, "a Telegram update is sent as application/json")
    try:
        data = await request.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return error_response(400, "the body is not JSON")
    except RecursionError:
        logger.warning("skipped a Telegram update nested too deep to parse")
        return web.Response()
    try:
        update = read_update(data, bot)
        inbound = to_inbound(update)
    except MalformedUpdate as exc:
        return error_response(400, str(exc))
    except UnreadableUpdate as exc:
        logger.warning("skipped Telegram update %s: %s", exc.update_id, exc.reason)
        return web.Response()
    if inbound is None:
        kinds = sorted(key for key in data if key != "update_id")
        logger.debug("ignoring Telegram update %s (%s)", update.update_id, ", ".join(kinds))
        return web.Response()
    await request.app[INBOUND].receive(inbound)
    if update.callback_query is not None:
        await _stop_spinner(bot, update.callback_query.id)
    return web.Response()


def _secret_matches(given: str | None, secret: str) -> bool:
    if given is None:
        return False
    # Bytes, because compare_digest refuses str with non-ASCII characters.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape")
    )


async def _stop_spinner(bot: Bot, query_id: str) -> None:
    """Answer a button press so the client stops showing it as pending."""
    try:
        await bot.answer_callback_query(query_id)
    except TelegramError as exc:
        # The press is already stored, so the webhook still succeeds; a redelivered
        # update's query was answered the first time and Telegram now refuses it.
        logger.warning("could not answer Telegram callback query %s: %s", query_id, exc)
