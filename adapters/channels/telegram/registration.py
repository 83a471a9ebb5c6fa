"""Registering the hub's webhook with Telegram (`omnihub telegram set-webhook`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from telegram.error import TelegramError

from adapters.channels.telegram.bot import build_bot, is_on
from adapters.channels.telegram.webhook import WEBHOOK_PATH
from adapters.settings import Settings

# The updates the webhook reads; Telegram then does not send the others at all.
ALLOWED_UPDATES = ("message", "callback_query")
# The only ports Telegram delivers webhooks to.
WEBHOOK_PORTS = (443, 80, 88, 8443)
_DEFAULT_PORTS = {"https": 443, "http": 80}


class SetWebhookError(Exception):
    """The webhook cannot be registered; the message says why, for the operator."""


def webhook_url(settings: Settings) -> str:
    """The public URL Telegram is to call, checked against what Telegram accepts."""
    url = settings.public_base + WEBHOOK_PATH
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    if port not in WEBHOOK_PORTS:
        ports = ", ".join(str(p) for p in WEBHOOK_PORTS)
        raise SetWebhookError(
            f"Telegram only calls webhooks on ports {ports}; {url} is on port {port}. "
            "Set OMNIHUB_PUBLIC_URL to the address of a proxy on one of those ports."
        )
    if parts.scheme != "https":
        raise SetWebhookError(
            f"Telegram only calls HTTPS webhooks; set OMNIHUB_PUBLIC_URL to an https:// "
            f"address (now {url})."
        )
    return url


async def set_webhook(settings: Settings) -> str:
    """Register public_base + /webhooks/telegram with the secret token; returns the URL."""
    if not is_on(settings) or settings.telegram_webhook_secret is None:
        raise SetWebhookError(
            "the Telegram channel is off: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET"
        )
    url = webhook_url(settings)
    try:
        async with build_bot(settings) as bot:
            await bot.set_webhook(
                url,
                secret_token=settings.telegram_webhook_secret,
                allowed_updates=list(ALLOWED_UPDATES),
            )
    except TelegramError as exc:
        raise SetWebhookError(f"Telegram refused the webhook {url}: {exc.message}") from exc
    return url
