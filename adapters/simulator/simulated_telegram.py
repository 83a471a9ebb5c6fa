"""The demo's Telegram: the Bot API the hub's bot calls, and the updates customers cause.

The hub's python-telegram-bot client talks to the Bot API (telegram_api.py) unchanged.
A simulated customer's text, shared contact or button press becomes an update posted
to the hub's /webhooks/telegram with the secret header, as Telegram posts it; what
the bot sends shows on the customer's phone.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from adapters.channels.telegram import WEBHOOK_PATH
from adapters.simulator.bot_api import JsonDict, inline_rows
from adapters.simulator.events import (
    ChatMessage,
    Direction,
    EventLog,
    InlineButton,
    Status,
    StatusChange,
    Typing,
)
from adapters.simulator.hub_link import HubLink, HubUnreachable
from adapters.simulator.telegram_api import SECRET_HEADER, BotApi, TelegramUser
from crm.models import Channel


@dataclass(frozen=True)
class TelegramCredentials:
    token: str
    webhook_secret: str

    @classmethod
    def generate(cls) -> TelegramCredentials:
        bot_id = 6_000_000_000 + secrets.randbelow(999_999_999)
        return cls(f"{bot_id}:AA{secrets.token_urlsafe(24)}", secrets.token_urlsafe(32))


class SimulatedTelegram(BotApi):
    """The Bot API of one bot, and the private chats its simulated users have with it."""

    def __init__(self, credentials: TelegramCredentials, hub: HubLink, events: EventLog) -> None:
        super().__init__(
            credentials.token,
            first_name="omnihub demo",
            username="omnihub_demo_bot",
            # Update ids must not repeat across runs against the same database, where
            # the hub dedupes on them: a restarted demo would see new messages as old
            # retries.
            first_update_id=time.time_ns() // 1_000_000,
            # After a restart the bot may answer someone this run has not seen write.
            writes_to_strangers=True,
            any_callback_query=False,
        )
        self.credentials = credentials
        self._hub = hub
        self._events = events

    # --- the customer's side: updates posted to the hub --------------------------------

    async def send_text(self, user: TelegramUser, text: str) -> int | None:
        """The user writes `text` to the bot; the hub's HTTP status, or None."""
        update = self.text_update(user, text)
        return await self._deliver(update, _shown(user, update["message"], text))

    async def share_contact(self, user: TelegramUser, phone: str) -> int | None:
        """The user shares their own contact card, as the "share my phone" button does."""
        # Telegram sends the number without its "+".
        number = phone.strip().lstrip("+")
        update = self.contact_update(
            user, number, contact_user_id=user.id, last_name=user.last_name
        )
        return await self._deliver(
            update, _shown(user, update["message"], number, detail="contact")
        )

    async def press(self, user: TelegramUser, message_id: int, data: str) -> int | None:
        """The user presses the inline button carrying `data` under the bot's message.

        Raises LookupError when the bot sent no such message or button to this user.
        """
        message = self.bot_message(user.id, message_id)
        if message is None:
            raise LookupError(f"the bot sent no message {message_id} to {user.id}")
        title = _button_title(message, data)
        if title is None:
            raise LookupError(f"message {message_id} has no button {data!r}")
        update = self.callback_update(user, data, message=message)
        shown = ChatMessage(
            Channel.TELEGRAM,
            str(user.id),
            Direction.FROM_CUSTOMER,
            f"q{update['callback_query']['id']}",
            title,
            Status.SENDING,
            detail="press",
        )
        return await self._deliver(update, shown)

    async def _deliver(self, update: JsonDict, shown: ChatMessage) -> int | None:
        self._events.publish(shown)
        try:
            answer = await self._hub.post(
                self._hub.public_url(WEBHOOK_PATH),
                json=update,
                headers={SECRET_HEADER: self.credentials.webhook_secret},
            )
        except HubUnreachable:
            self._events.publish(
                StatusChange(shown.channel, shown.customer, shown.ref, Status.UNREACHABLE)
            )
            return None
        status = Status.RECEIVED if answer.status < 300 else Status.REFUSED
        self._events.publish(
            StatusChange(shown.channel, shown.customer, shown.ref, status, str(answer.status))
        )
        return answer.status

    # --- what the bot does, on the customer's phone --------------------------------------

    def _sent(self, message: JsonDict) -> None:
        self._events.publish(
            ChatMessage(
                Channel.TELEGRAM,
                str(message["chat"]["id"]),
                Direction.TO_CUSTOMER,
                str(message["message_id"]),
                message["text"],
                # Bots learn nothing more of a message's fate than that Telegram took it.
                Status.SENT,
                buttons=_inline_keyboard(message.get("reply_markup")),
            )
        )

    def _typing(self, chat_id: int) -> None:
        self._events.publish(Typing(Channel.TELEGRAM, str(chat_id)))


def _shown(
    user: TelegramUser, message: JsonDict, text: str, *, detail: str | None = None
) -> ChatMessage:
    return ChatMessage(
        Channel.TELEGRAM,
        str(user.id),
        Direction.FROM_CUSTOMER,
        str(message["message_id"]),
        text,
        Status.SENDING,
        detail=detail,
    )


def _inline_keyboard(markup: Any) -> tuple[tuple[InlineButton, ...], ...]:
    """The buttons of an inline keyboard; none for no keyboard or another kind."""
    rows = None if markup is None else inline_rows(markup)
    if rows is None:
        return ()  # a reply keyboard, say: nothing to press here
    return tuple(
        tuple(
            InlineButton(
                str(b["text"]),
                None if b.get("callback_data") is None else str(b["callback_data"]),
            )
            for b in row
        )
        for row in rows
    )


def _button_title(message: JsonDict, data: str) -> str | None:
    markup = message.get("reply_markup")
    if not isinstance(markup, dict):
        return None
    for row in markup.get("inline_keyboard") or ():
        for button in row:
            if button.get("callback_data") == data:
                return str(button["text"])
    return None
