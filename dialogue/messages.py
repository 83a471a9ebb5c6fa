"""The message types every channel is translated into and out of."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from crm.models import Channel, DeliveryStatus


@dataclass(frozen=True)
class Media:
    url: str
    content_type: str


@dataclass(frozen=True)
class Inbound:
    """One message from a customer, as an adapter parsed it from a provider's webhook.

    Adapters fill in only what the provider vouches for: `vouched_phone` is a phone
    the carrier (SMS, WhatsApp) or Telegram (the user's own shared contact) confirms
    belongs to the sender; `shop_customer_id` is the shop's customer id signed by
    the shop's backend (web chat). The router never trusts anything else to link
    the sender to a known customer.
    """

    channel: Channel
    # The provider's id for this message, repeated by its retries: Twilio MessageSid,
    # Telegram update_id, the web chat's client_msg_id (scoped by its session).
    provider_id: str
    # Who wrote, on this channel: E.164 phone (sms, whatsapp), Telegram user id,
    # web-chat visitor id.
    address: str
    text: str = ""
    payload: str | None = None  # a pressed button's payload, when one was pressed
    media: tuple[Media, ...] = ()
    display_name: str | None = None
    vouched_phone: str | None = None
    shop_customer_id: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Template:
    """A message the provider approved beforehand (a WhatsApp template): its id at the
    provider (Twilio's Content SID, HX...) and the values of its placeholders."""

    content_sid: str
    variables: dict[str, str]


@dataclass(frozen=True)
class Reply:
    """What the hub says to a customer, before it is rendered for a channel."""

    text: str
    buttons: tuple[Button, ...] = ()
    # Set: not a message of the conversation but one to someone else, sent once from
    # memory (a one-time code goes by SMS to the phone on file; see Destination).
    to: Destination | None = None
    # Sent as this approved template instead of free text (`text` is what it reads as,
    # kept in the history); the only kind WhatsApp accepts outside its 24-hour window.
    template: Template | None = None


@dataclass(frozen=True)
class Destination:
    """Someone other than the conversation's customer: the phone on file of the customer
    an order belongs to, who may not be the visitor asking for a code.

    A reply to a Destination is no message of the conversation, and its text is never
    stored: it is sent once, from memory, after the answer is committed
    (dialogue.aside), and what became of it is written on the one_time_code_events row
    `record_id`, which keeps only a masked text. It is never sent again.
    """

    channel: Channel
    address: str = field(repr=False)
    record_id: int


@dataclass(frozen=True)
class Outgoing:
    """One message as a channel will carry it: rendered, split, addressed.

    `buttons` is empty on channels without native choices: the outbox has already
    written them into the text as a numbered list.
    """

    message_id: int  # the hub's own id: status callbacks and retries refer to it
    channel: Channel
    address: str
    text: str
    buttons: tuple[Button, ...] = ()
    template: Template | None = None


@dataclass(frozen=True)
class SendReceipt:
    """What the provider answered to a send."""

    provider_id: str
    status: DeliveryStatus


@dataclass(frozen=True)
class DeliveryUpdate:
    """A provider's later word on a message it carried (a status callback)."""

    channel: Channel
    provider_id: str
    status: DeliveryStatus
    error_code: str | None = None
