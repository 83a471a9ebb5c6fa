"""Sending on Telegram: text with an inline keyboard, and Bot API errors as SendErrors."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ChatAction
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from crm.models import Channel, DeliveryStatus
from dialogue.messages import Button, Outgoing, SendReceipt
from dialogue.ports import (
    Capabilities,
    PermanentSendError,
    RecipientUnreachable,
    SendError,
    TransientSendError,
)

CAPABILITIES = Capabilities(max_buttons=8, max_length=4096, typing=True)
# Telegram's limit on callback_data, in bytes of UTF-8.
MAX_PAYLOAD_BYTES = 64


class TelegramSender:
    """Implements dialogue.ports.ChannelSender for Telegram through one Bot."""

    def __init__(self, bot: Bot):
        self._bot = bot

    @property
    def channel(self) -> Channel:
        return Channel.TELEGRAM

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    async def send(self, message: Outgoing) -> SendReceipt:
        chat_id = _chat_id(message.address)
        markup = _keyboard(message.buttons) if message.buttons else None
        try:
            sent = await self._bot.send_message(
                chat_id=chat_id, text=message.text, reply_markup=markup
            )
        except TelegramError as exc:
            raise send_error(exc) from exc
        return SendReceipt(provider_id=str(sent.message_id), status=DeliveryStatus.SENT)

    async def typing(self, address: str) -> None:
        """Show "typing..." in the chat (Telegram clears it after 5 s or at the next message)."""
        try:
            await self._bot.send_chat_action(chat_id=_chat_id(address), action=ChatAction.TYPING)
        except TelegramError as exc:
            raise send_error(exc) from exc


def sender(bot: Bot) -> TelegramSender:
    return TelegramSender(bot)


def send_error(exc: TelegramError) -> SendError:
    """The SendError that says whether sending again can help; raise it `from exc`."""
    if isinstance(exc, RetryAfter):
        return TransientSendError(exc.message, code="429", retry_after=_retry_after(exc))
    if isinstance(exc, Forbidden):
        return RecipientUnreachable(exc.message, code="403")
    # BadRequest subclasses NetworkError in the library, so it must be tested first.
    if isinstance(exc, BadRequest):
        return PermanentSendError(exc.message, code="400")
    if isinstance(exc, NetworkError):  # TimedOut, connection errors, 5xx answers
        return TransientSendError(exc.message)
    # InvalidToken, Conflict, ChatMigrated...: the same request cannot succeed.
    return PermanentSendError(exc.message)


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after will become a timedelta; both forms are read.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _chat_id(address: str) -> int:
    # A private chat's id is the user's id, which is what Inbound.address carries;
    # int() alone would take "+34612345678", a phone, for one.
    if not (address.isascii() and address.isdigit()):
        raise PermanentSendError(f"not a Telegram user id: {address!r}")
    return int(address)


def _keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup:
    """One button per row: titles stay readable on a phone."""
    for button in buttons:
        size = len(button.payload.encode())
        if not 1 <= size <= MAX_PAYLOAD_BYTES:
            raise PermanentSendError(
                f"button payload {button.payload!r} is {size} bytes; "
                f"Telegram carries 1 to {MAX_PAYLOAD_BYTES}"
            )
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.title, callback_data=b.payload)] for b in buttons]
    )
