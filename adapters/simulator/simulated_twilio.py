"""The demo's Twilio for SMS and WhatsApp: the Messages API, a carrier, and customers' phones.

The hub's own Twilio adapter talks to it unchanged: replies arrive at the Messages
API (twilio_api.py) and are recorded; each is reported back to the hub as `sent`,
then `delivered`, through signed status callbacks. A simulated customer's message is
posted to the hub's /webhooks/twilio as Twilio would post it, signed for the hub's
public URL.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass

from adapters.channels.twilio import INBOUND_PATH
from adapters.simulator.events import ChatMessage, Direction, EventLog, Status, StatusChange
from adapters.simulator.hub_link import HubLink, HubUnreachable
from adapters.simulator.twilio_api import (
    WHATSAPP_PREFIX,
    SignedWebhook,
    TwilioMessage,
    TwilioMessagesApi,
    inbound_form,
)
from crm.models import Channel
from crm.phones import normalise_phone

logger = logging.getLogger(__name__)

# How long Twilio takes, in the simulation, from accepting a message to each status.
# The hub records the message's sid once the API has answered; a callback that came
# before that would find no message to update.
STATUS_STEP = 0.5


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str
    sms_from: str
    whatsapp_from: str

    @classmethod
    def generate(cls, *, sms_from: str, whatsapp_from: str) -> TwilioCredentials:
        return cls("AC" + secrets.token_hex(16), secrets.token_hex(16), sms_from, whatsapp_from)


class SimulatedTwilio(TwilioMessagesApi):
    """Twilio's side of SMS and WhatsApp, for one simulated account with two senders."""

    def __init__(
        self,
        credentials: TwilioCredentials,
        hub: HubLink,
        events: EventLog,
        *,
        status_step: float = STATUS_STEP,
    ) -> None:
        super().__init__(
            credentials.account_sid,
            credentials.auth_token,
            senders=(credentials.sms_from, credentials.whatsapp_from),
        )
        self.credentials = credentials
        self._hub = hub
        self._events = events
        self._status_step = status_step
        self._reports: set[asyncio.Task[None]] = set()

    def sender(self, channel: Channel) -> str:
        """The shop's number a customer writes to on `channel`, as Twilio writes it."""
        if channel is Channel.WHATSAPP:
            return WHATSAPP_PREFIX + self.credentials.whatsapp_from
        if channel is Channel.SMS:
            return self.credentials.sms_from
        raise ValueError(f"Twilio does not carry {channel.value}")

    # --- the customer's side: inbound webhooks -----------------------------------------

    def inbound_webhook(
        self, channel: Channel, phone: str, text: str, *, profile_name: str | None = None
    ) -> SignedWebhook:
        """The webhook Twilio posts when `phone` writes `text` to the shop on `channel`.

        Raises InvalidPhone for a phone the carrier could not have delivered from.
        """
        phone = normalise_phone(phone)
        whatsapp = channel is Channel.WHATSAPP
        form = inbound_form(
            account_sid=self.account_sid,
            from_=(WHATSAPP_PREFIX if whatsapp else "") + phone,
            to=self.sender(channel),
            body=text,
            profile_name=(profile_name or None) if whatsapp else None,
        )
        return self.signed(self._hub.public_url(INBOUND_PATH), form)

    async def send_from_customer(
        self, channel: Channel, phone: str, text: str, *, profile_name: str | None = None
    ) -> int | None:
        """Post a customer's message to the hub's webhook; the hub's HTTP status, or None.

        Raises InvalidPhone for a phone the carrier could not have delivered from.
        """
        webhook = self.inbound_webhook(channel, phone, text, profile_name=profile_name)
        sid, customer = webhook.form["MessageSid"], normalise_phone(phone)
        self._events.publish(
            ChatMessage(channel, customer, Direction.FROM_CUSTOMER, sid, text, Status.SENDING)
        )
        try:
            answer = await self._hub.post(webhook.url, form=webhook.form, headers=webhook.headers)
        except HubUnreachable:
            self._events.publish(StatusChange(channel, customer, sid, Status.UNREACHABLE))
            return None
        status = Status.RECEIVED if answer.status < 300 else Status.REFUSED
        self._events.publish(StatusChange(channel, customer, sid, status, str(answer.status)))
        return answer.status

    # --- Twilio's side: what becomes of the hub's messages -----------------------------

    def _accepted(self, message: TwilioMessage) -> None:
        self._events.publish(
            ChatMessage(
                message.channel,
                message.customer,
                Direction.TO_CUSTOMER,
                message.sid,
                _shown(message),
                Status.QUEUED,
            )
        )
        task = asyncio.create_task(self._report(message))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _report(self, message: TwilioMessage) -> None:
        """Play the carrier: the message is sent, then delivered, and the hub is told."""
        for status in (Status.SENT, Status.DELIVERED):
            await asyncio.sleep(self._status_step)
            message.status = status.value
            if message.status_callback is not None:
                await self._tell_hub(message, status)
            self._events.publish(
                StatusChange(message.channel, message.customer, message.sid, status)
            )

    async def _tell_hub(self, message: TwilioMessage, status: Status) -> None:
        try:
            answer = await self.callback(message.sid, status.value)
        except HubUnreachable as exc:
            logger.warning("status callback for %s not taken: %s", message.sid, exc)
            return
        if answer >= 300:
            logger.warning("the hub answered %d to the status callback for %s", answer, message.sid)

    async def _post(self, webhook: SignedWebhook) -> int:
        answer = await self._hub.post(webhook.url, form=webhook.form, headers=webhook.headers)
        return answer.status

    async def close(self) -> None:
        for task in list(self._reports):
            task.cancel()
        await asyncio.gather(*self._reports, return_exceptions=True)


def _shown(message: TwilioMessage) -> str:
    """What the customer's phone shows of a message."""
    if message.body or not message.content_sid:
        return message.body or ""
    # An approved WhatsApp template: Twilio fills it in from its Content API, which
    # the simulator does not hold; the customer's phone shows which one.
    return f"[{message.content_sid}] {message.content_variables or ''}".strip()
