"""Telegram updates into the hub's Inbound messages; what the hub does not handle is None."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from telegram import Bot, CallbackQuery, Contact, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatType

from crm.models import Channel
from crm.phones import InvalidPhone, normalise_phone
from crm.text import storable
from dialogue.messages import Inbound

logger = logging.getLogger(__name__)

T = TypeVar("T")


class MalformedUpdate(ValueError):
    """The body is JSON but not a Telegram update: it has no integer update_id."""


class UnreadableUpdate(ValueError):
    """A Telegram update (its update_id is known) whose content the hub cannot read.

    The reason names what was wrong, never the content: it is logged.
    """

    def __init__(self, update_id: int, reason: str) -> None:
        super().__init__(f"update {update_id}: {reason}")
        self.update_id = update_id
        self.reason = reason


def read_update(data: Any, bot: Bot) -> Update:
    """The library's Update for a decoded webhook body; MalformedUpdate without an
    update_id, UnreadableUpdate if the library cannot build the rest."""
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        raise MalformedUpdate("not a Telegram update: no integer update_id")
    try:
        return Update.de_json(data, bot)
    # de_json builds objects without checking types, so a broken payload surfaces as
    # whichever of these the constructor or a nested de_json happens to hit; objects
    # nested deep enough (reply_to_message in reply_to_message...) exhaust the stack.
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        OverflowError,
        OSError,  # a date out of the platform's range, on some platforms
        RecursionError,
    ) as exc:
        reason = f"the library could not read it ({type(exc).__name__})"
        raise UnreadableUpdate(data["update_id"], reason) from exc


def to_inbound(update: Update) -> Inbound | None:
    """The customer's message in an update, or None for updates the hub ignores.

    Handled: text (or a caption) and shared contacts in private chats, and presses
    on inline buttons. Ignored: edits, groups, channels, and messages with nothing
    to read (stickers, photos without a caption...). UnreadableUpdate for fields of
    the wrong type, and for text the database cannot hold (NUL, a lone surrogate).
    """
    if update.message is not None:
        inbound = _from_message(update.update_id, update.message)
    elif update.callback_query is not None:
        inbound = _from_callback(update.update_id, update.callback_query)
    else:
        return None
    if inbound is not None:
        texts = (inbound.text, inbound.payload, inbound.display_name, inbound.vouched_phone)
        if not all(storable(text) for text in texts if text is not None):
            raise UnreadableUpdate(update.update_id, "text holds a NUL or a lone surrogate")
    return inbound


def _from_message(update_id: int, message: Message) -> Inbound | None:
    chat = _require(update_id, message.chat, "message without a chat")
    user = message.from_user
    if chat.type != ChatType.PRIVATE or user is None or user.is_bot:
        return None
    _check_user(update_id, user)
    if message.contact is not None:
        return _from_contact(update_id, message, user, message.contact)
    text = message.text if message.text is not None else message.caption
    if text is None:
        return None
    if not isinstance(text, str):
        raise UnreadableUpdate(update_id, "message text is not a string")
    return Inbound(
        channel=Channel.TELEGRAM,
        provider_id=str(update_id),
        address=str(user.id),
        text=text,
        display_name=_display_name(user),
        sent_at=message.date,
    )


def _from_contact(update_id: int, message: Message, user: User, contact: Contact) -> Inbound:
    if not isinstance(contact.phone_number, str):
        raise UnreadableUpdate(update_id, "contact phone_number is not a string")
    vouched: str | None = None
    # Only the sender's own card proves the phone is theirs (Telegram then sets its
    # user_id to the sender's); anyone can forward someone else's card.
    if contact.user_id is not None and contact.user_id == user.id:
        try:
            vouched = normalise_phone(contact.phone_number)
        except InvalidPhone:
            logger.info("update %s: own contact with an unusable phone number", update_id)
    return Inbound(
        channel=Channel.TELEGRAM,
        provider_id=str(update_id),
        address=str(user.id),
        text=contact.phone_number,
        display_name=_display_name(user),
        vouched_phone=vouched,
        sent_at=message.date,
    )


def _from_callback(update_id: int, query: CallbackQuery) -> Inbound | None:
    user = _require(update_id, query.from_user, "callback query without a sender")
    data = query.data
    if data is None:  # game buttons carry no data
        return None
    if not isinstance(data, str):
        raise UnreadableUpdate(update_id, "callback data is not a string")
    message = query.message
    if message is not None:
        chat = _require(update_id, message.chat, "message without a chat")
        if chat.type != ChatType.PRIVATE:
            return None
    _check_user(update_id, user)
    title = _button_title(message, data) if isinstance(message, Message) else None
    return Inbound(
        channel=Channel.TELEGRAM,
        provider_id=str(update_id),
        address=str(user.id),
        text=title if title is not None else data,
        payload=data,
        display_name=_display_name(user),
    )


def _button_title(message: Message, data: str) -> str | None:
    """The title of the button that carries `data`, so the text reads as what was pressed."""
    markup = message.reply_markup
    if not isinstance(markup, InlineKeyboardMarkup):
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data and isinstance(button.text, str):
                return button.text
    return None


def _require(update_id: int, value: T | None, missing: str) -> T:
    # de_json passes None for a missing required object instead of refusing it.
    if value is None:
        raise UnreadableUpdate(update_id, missing)
    return value


def _check_user(update_id: int, user: User) -> None:
    # de_json takes any JSON for these; the display name is built from them.
    if type(user.id) is not int:
        raise UnreadableUpdate(update_id, "user id is not an integer")
    if type(user.first_name) is not str:
        raise UnreadableUpdate(update_id, "user first_name is not a string")
    if not all(name is None or type(name) is str for name in (user.last_name, user.username)):
        raise UnreadableUpdate(update_id, "user last_name or username is not a string")


def _display_name(user: User) -> str | None:
    return user.full_name.strip() or user.username or None
