"""Telegram updates into the hub's Inbound messages; what the hub does not handle is None."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from telegram import Bot, CallbackQuery, Contact, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatType

from crm.models import Channel
from crm.phones import InvalidPhone, normalise_phone
from dialogue.messages import Inbound

logger = logging.getLogger(__name__)

T = TypeVar("T")


class MalformedUpdate(ValueError):
    """The body is JSON but not a Telegram update."""


def read_update(data: Any, bot: Bot) -> Update:
    """The library's Update for a decoded webhook body, or MalformedUpdate."""
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        raise MalformedUpdate("not a Telegram update: no integer update_id")
    try:
        return Update.de_json(data, bot)
    # de_json builds objects without checking types, so a broken payload surfaces as
    # whichever of these the constructor or a nested de_json happens to hit.
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise MalformedUpdate(f"not a Telegram update: {exc}") from exc


def to_inbound(update: Update) -> Inbound | None:
    """The customer's message in an update, or None for updates the hub ignores.

    Handled: text (or a caption) and shared contacts in private chats, and presses
    on inline buttons. Ignored: edits, groups, channels, and messages with nothing
    to read (stickers, photos without a caption...).
    """
    if update.message is not None:
        return _from_message(update.update_id, update.message)
    if update.callback_query is not None:
        return _from_callback(update.update_id, update.callback_query)
    return None


def _from_message(update_id: int, message: Message) -> Inbound | None:
    chat = _require(message.chat, "message without a chat")
    user = message.from_user
    if chat.type != ChatType.PRIVATE or user is None or user.is_bot:
        return None
    _check_user(user)
    if message.contact is not None:
        return _from_contact(update_id, message, user, message.contact)
    text = message.text if message.text is not None else message.caption
    if text is None:
        return None
    if not isinstance(text, str):
        raise MalformedUpdate("not a Telegram update: message text is not a string")
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
        raise MalformedUpdate("not a Telegram update: contact phone_number is not a string")
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
    user = _require(query.from_user, "callback query without a sender")
    data = query.data
    if data is None:  # game buttons carry no data
        return None
    if not isinstance(data, str):
        raise MalformedUpdate("not a Telegram update: callback data is not a string")
    message = query.message
    if message is not None:
        chat = _require(message.chat, "message without a chat")
        if chat.type != ChatType.PRIVATE:
            return None
    _check_user(user)
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


def _require(value: T | None, missing: str) -> T:
    # de_json passes None for a missing required object instead of refusing it.
    if value is None:
        raise MalformedUpdate(f"not a Telegram update: {missing}")
    return value


def _check_user(user: User) -> None:
    if type(user.id) is not int:
        raise MalformedUpdate("not a Telegram update: user id is not an integer")


def _display_name(user: User) -> str | None:
    return user.full_name.strip() or user.username or None
