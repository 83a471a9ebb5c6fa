"""Proving who you are with a one-time code, for flows that show a customer's own data.

A visitor whose channel identity nobody vouches for (web chat without the shop's
signature, Telegram without a shared contact) gives a phone number or an order
number; a 6-digit code goes by SMS to the phone on file of the customer it points to,
and typing it back links the visitor's identity to that customer. The visitor hears
the same words whether or not such a customer exists, so nobody learns whose number
or order is real. The code is kept only hashed, for CODE_TTL and MAX_ATTEMPTS tries.

The SMS with the code is no message of the visitor's conversation, whose agents would
read it: its text exists only in memory until the provider has it (dialogue.aside),
the database keeps a masked record of it (one_time_code_events: "sent to the phone
ending in ··45"), and the conversation gets a `verification_requested` event that
names neither the phone nor whether anyone matched. How many codes may be sent and
guessed, per chat and per customer, is bots.flows.code_budget's.

A flow calls `ensure_verified` before showing anything of the customer's and waits
while it returns False; the verification keeps its step in the flow's `awaiting`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bots.catalogue import say
from bots.flows.base import Context
from bots.flows.code_budget import (
    MAX_CHAT_WRONG,
    PAUSED,
    SEND_WINDOW,
    SENT,
    WRONG,
    Pause,
    chat_wrong,
    pause_of,
    told_of_pause,
)
from bots.language import guess_language
from bots.notices import spoken_time
from bots.state import FlowState
from crm.models import (
    Channel,
    ChannelIdentity,
    ConversationEvent,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Language,
    OneTimeCodeEvent,
    Order,
    order_number_key,
)
from crm.phones import InvalidPhone, normalise_phone
from crm.zones import first_zone
from dialogue.identity import PHONE_CHANNELS
from dialogue.messages import Button, Destination, Reply
from dialogue.verification import verify_by_code

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5  # wrong codes before the code is void
# Codes asked for per conversation within SEND_WINDOW; the budgets per asking chat and
# per customer are in bots.flows.code_budget.
MAX_SENDS = 3
# In the visitor's conversation, for the agent: a code was asked for (never for whom).
VERIFICATION_REQUESTED = "verification_requested"

AWAITING_ID = "verify.id"
AWAITING_CODE = "verify.code"
_PENDING = "verification"  # in BotState.extra
_SENT = "verification_sent"  # in BotState.extra: when codes were sent, ISO times

# "ES-100234", "es100234", "MX 100455": two letters and the digits, as customers type them.
_ORDER_NUMBER = re.compile(r"\b([A-Za-z]{2})[-_ ]?(\d{6,8})\b")
_PHONE = re.compile(r"\+?\d[\d ().-]{7,}\d")
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
# National phone numbers are read as from the countries where each language is spoken.
_REGIONS = {Language.ES: ("ES", "MX"), Language.PT: ("PT", "BR"), Language.EN: ("GB", "US")}


def order_number_in(ctx: Context) -> str | None:
    """The order number the message names, in stored form ("ES-100234"), if any."""
    for candidate in (ctx.entity("order_number"), ctx.text):
        if candidate:
            found = _ORDER_NUMBER.search(candidate)
            if found:
                return f"{found.group(1).upper()}-{found.group(2)}"
    entity = ctx.entity("order_number")
    return order_number_key(entity) if entity else None


def phone_in(text: str, language: Language) -> str | None:
    """The phone number in `text` in E.164, read as the customer's countries write it."""
    found = _PHONE.search(text)
    if found is None:
        return None
    for region in (None, *_REGIONS[language]):
        try:
            return normalise_phone(found.group(0), region)
        except InvalidPhone:
            continue
    return None


def code_in(text: str) -> str | None:
    """A 6-digit code as typed: "482913", "482 913", "es el 482913"."""
    compact = re.sub(r"[\s.-]", "", text)
    if len(compact) == 6 and compact.isdigit():
        return compact
    found = _CODE.search(text)
    return found.group(0) if found else None


def answers_verification(ctx: Context, state: FlowState) -> bool:
    """Whether the message answers the verification's question (whatever the NLU made of
    a bare code or phone number)."""
    if ctx.verified or state.awaiting not in (AWAITING_ID, AWAITING_CODE):
        return False
    if ctx.choice(state.name) is not None:
        return True
    return (
        code_in(ctx.text) is not None
        or order_number_in(ctx) is not None
        or phone_in(ctx.text, ctx.language) is not None
    )


async def ensure_verified(ctx: Context, state: FlowState) -> bool:
    """True when the customer may see their own data now; else drive the code exchange.

    While it returns False it has answered the message (asked for a phone or an order
    number, announced a code, said the code was wrong...) and the flow should wait;
    unless it leaves `state.awaiting` None: it gave up (too many codes), and the flow
    should finish.
    On the right code the visitor's identity becomes the customer's (ctx.customer and
    ctx.verified change) and it returns True, for the flow to go on in the same turn.
    """
    if ctx.verified:
        ctx.state.extra.pop(_PENDING, None)
        if state.awaiting in (AWAITING_ID, AWAITING_CODE):
            state.awaiting = None
        return True
    pending = _Pending.load(ctx.state.extra)
    choice = ctx.choice(state.name)
    if choice is not None and choice[0] == "verify":
        if choice[1] == "resend" and pending is not None:
            phone = (
                await _phone_on_file(ctx, pending.customer_id)
                if pending.customer_id is not None
                else None
            )
            await _send_code(ctx, state, pending.customer_id, phone)
        else:
            _ask_identifier(ctx, state)
        return False
    phone = phone_in(ctx.text, ctx.language)
    number = order_number_in(ctx)
    if phone is not None or number is not None:
        customer_id, on_file = await _account_of(ctx, phone=phone, order_number=number)
        await _send_code(ctx, state, customer_id, on_file)
        return False
    code = code_in(ctx.text)
    if pending is not None and code is not None:
        return await _check(ctx, state, pending, code)
    if pending is not None and not pending.expired(ctx.now):
        state.awaiting = AWAITING_CODE
        ctx.say("verify.ask_code", buttons=_code_buttons(ctx, state))
        return False
    if state.awaiting == AWAITING_ID and ctx.text:
        ctx.say("verify.not_an_id")
        return False
    _ask_identifier(ctx, state)
    return False


@dataclass
class _Pending:
    """A code sent and not yet typed; who it is for is known only to the hub."""

    customer_id: int | None  # None: nobody matched; no code went out, none will fit
    salt: str
    digest: str
    expires_at: datetime
    attempts: int = 0

    @classmethod
    def load(cls, extra: dict[str, Any]) -> _Pending | None:
        raw = extra.get(_PENDING)
        if not raw:
            return None
        return cls(
            customer_id=raw["customer_id"],
            salt=raw["salt"],
            digest=raw["digest"],
            expires_at=datetime.fromisoformat(raw["expires_at"]),
            attempts=int(raw["attempts"]),
        )

    def save(self, extra: dict[str, Any]) -> None:
        extra[_PENDING] = {
            "customer_id": self.customer_id,
            "salt": self.salt,
            "digest": self.digest,
            "expires_at": self.expires_at.isoformat(),
            "attempts": self.attempts,
        }

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def fits(self, code: str) -> bool:
        return hmac.compare_digest(self.digest, _digest(self.salt, code))


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


async def _account_of(
    ctx: Context, *, phone: str | None, order_number: str | None
) -> tuple[int | None, str | None]:
    """The customer a phone or an order number points to, and the phone to text."""
    if order_number is not None:
        customer_id = await ctx.session.scalar(
            select(Order.customer_id).where(Order.number == order_number_key(order_number))
        )
        if customer_id is not None:
            return customer_id, await _phone_on_file(ctx, customer_id)
    if phone is not None:
        customer_id = await _owner_of_phone(ctx, phone)
        if customer_id is not None:
            return customer_id, phone
    return None, None


async def _owner_of_phone(ctx: Context, phone: str) -> int | None:
    """As dialogue.identity trusts a phone: a verified phone identity, else the one
    customer the shop's records give it (a shared family phone points to nobody)."""
    by_identity = await ctx.session.scalar(
        select(ChannelIdentity.customer_id)
        .where(
            ChannelIdentity.channel.in_(PHONE_CHANNELS),
            ChannelIdentity.address == phone,
            ChannelIdentity.verified.is_(True),
        )
        .order_by(ChannelIdentity.id)
        .limit(1)
    )
    if by_identity is not None:
        return by_identity
    matches = (
        await ctx.session.scalars(select(Customer.id).where(Customer.phone == phone).limit(2))
    ).all()
    return matches[0] if len(matches) == 1 else None


async def _phone_on_file(ctx: Context, customer_id: int) -> str | None:
    """The customer's phone: the one in the shop's records, else one a carrier vouched for."""
    phone = await ctx.session.scalar(select(Customer.phone).where(Customer.id == customer_id))
    if phone:
        return phone
    return await ctx.session.scalar(
        select(ChannelIdentity.address)
        .where(
            ChannelIdentity.customer_id == customer_id,
            ChannelIdentity.channel.in_(PHONE_CHANNELS),
            ChannelIdentity.verified.is_(True),
        )
        .order_by(ChannelIdentity.id)
        .limit(1)
    )


async def _send_code(
    ctx: Context, state: FlowState, customer_id: int | None, phone: str | None
) -> None:
    """Send a fresh code to `phone` (when there is one) and say the same words anyway."""
    sent = [
        at
        for at in (datetime.fromisoformat(t) for t in ctx.state.extra.get(_SENT, []))
        if ctx.now - at < SEND_WINDOW
    ]
    if await _chat_locked(ctx, state):
        return
    if len(sent) >= MAX_SENDS:
        ctx.state.extra.pop(_PENDING, None)
        state.awaiting = None
        ctx.say("verify.limit", buttons=(_person_button(ctx),))
        return
    ctx.state.extra[_SENT] = [at.isoformat() for at in [*sent, ctx.now]]
    # The agent sees that a code was asked for; never for whom, nor whether anyone matched.
    ctx.session.add(
        ConversationEvent(
            conversation_id=ctx.conversation.id, kind=VERIFICATION_REQUESTED, created_at=ctx.now
        )
    )
    owner = await ctx.session.get(Customer, customer_id) if customer_id is not None else None
    if owner is not None and phone is not None:
        pause = await pause_of(ctx.session, owner.id, ctx.now)
        if pause is not None:
            await _tell_of_pause(ctx, owner, phone, pause)
            owner = None  # nothing goes out, and the words stay the same
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(16)
    if owner is None or phone is None:
        # Nothing goes out, and what is kept cannot be matched: the code was never told.
        _Pending(None, salt, _digest(salt, secrets.token_hex(16)), ctx.now + CODE_TTL).save(
            ctx.state.extra
        )
        state.awaiting = AWAITING_CODE
        ctx.say("verify.code_sent", minutes=_minutes(), buttons=_code_buttons(ctx, state))
        return
    language = guess_language(owner)
    record = await _record_sms(
        ctx, owner, phone, SENT, say("verify.sms_record", language, ending=_ending(phone))
    )
    _Pending(owner.id, salt, _digest(salt, code), ctx.now + CODE_TTL).save(ctx.state.extra)
    state.awaiting = AWAITING_CODE
    ctx.say("verify.code_sent", minutes=_minutes(), buttons=_code_buttons(ctx, state))
    # After the visitor's answer, and beside it: it must not wait for the SMS to go (the
    # delay would tell that the order or phone is real). The code's text exists only
    # here, in memory, until the provider has it (dialogue.aside).
    text = say("verify.sms", language, code=code, minutes=_minutes())
    ctx.replies.append(Reply(text, to=Destination(Channel.SMS, phone, record.id)))


async def _tell_of_pause(ctx: Context, owner: Customer, phone: str, pause: Pause) -> None:
    """Tell the owner's phone, once per pause, that codes are paused and what works."""
    if await told_of_pause(ctx.session, owner.id, ctx.now):
        return
    language = guess_language(owner)
    when = spoken_time(language, pause.until, first_zone(owner.timezone, ctx.support.zone), ctx.now)
    text = say("verify.paused_sms", language, when=when)
    record = await _record_sms(ctx, owner, phone, PAUSED, text, until=pause.until)
    ctx.replies.append(Reply(text, to=Destination(Channel.SMS, phone, record.id)))


async def _record_sms(
    ctx: Context,
    owner: Customer,
    phone: str,
    kind: str,
    body: str,
    *,
    until: datetime | None = None,
) -> OneTimeCodeEvent:
    """The record of an SMS to the owner's phone: what it said, masked; no conversation's."""
    record = OneTimeCodeEvent(
        customer_id=owner.id,
        asker_id=ctx.customer.id,
        kind=kind,
        created_at=ctx.now,
        until=until,
        channel=Channel.SMS,
        destination=_ending(phone),
        body=body,
        delivery_status=DeliveryStatus.PENDING,
        updated_at=ctx.now,
    )
    ctx.session.add(record)
    await ctx.session.flush()
    return record


async def _chat_locked(ctx: Context, state: FlowState) -> bool:
    """Past its own budget of wrong codes, this chat gets no codes and tries none: the
    verification gives up, and says so."""
    if await chat_wrong(ctx.session, ctx.customer.id, ctx.now) < MAX_CHAT_WRONG:
        return False
    ctx.state.extra.pop(_PENDING, None)
    state.awaiting = None
    ctx.say("verify.chat_locked", buttons=(_person_button(ctx),))
    return True


async def _check(ctx: Context, state: FlowState, pending: _Pending, code: str) -> bool:
    if pending.expired(ctx.now):
        ctx.state.extra.pop(_PENDING, None)
        state.awaiting = AWAITING_ID
        ctx.say("verify.expired")
        return False
    if await _chat_locked(ctx, state):
        return False
    pause = (
        await pause_of(ctx.session, pending.customer_id, ctx.now)
        if pending.customer_id is not None
        else None
    )
    locked_out = pause is not None and pause.guessing
    customer = (
        await ctx.session.get(Customer, pending.customer_id)
        if pending.customer_id is not None and pending.fits(code) and not locked_out
        else None
    )
    if customer is None:
        # Counted for the chat always, and for the customer unless their codes are
        # paused already (refused unread: guessing then must not make the pause longer).
        ctx.session.add(
            OneTimeCodeEvent(
                customer_id=None if locked_out else pending.customer_id,
                asker_id=ctx.customer.id,
                kind=WRONG,
                created_at=ctx.now,
            )
        )
        await ctx.session.flush()
        pending.attempts += 1
        chat_left = MAX_CHAT_WRONG - await chat_wrong(ctx.session, ctx.customer.id, ctx.now)
        left = min(MAX_ATTEMPTS - pending.attempts, chat_left)
        if left <= 0:
            ctx.state.extra.pop(_PENDING, None)
            state.awaiting = AWAITING_ID
            ctx.say("verify.too_many")
            return False
        pending.save(ctx.state.extra)
        state.awaiting = AWAITING_CODE
        ctx.say("verify.wrong", left=left, buttons=_code_buttons(ctx, state))
        return False
    inbound = ctx.turn.inbound
    conversation = await verify_by_code(
        ctx.session,
        inbound.channel,
        inbound.address,
        customer,
        ctx.now,
        provider_id=inbound.provider_id,
    )
    ctx.state.extra.pop(_PENDING, None)
    ctx.state.extra.pop(_SENT, None)
    ctx.customer = customer
    ctx.verified = True
    state.awaiting = None
    ctx.say("verify.done")
    if conversation is not None and conversation.status is not ConversationStatus.BOT:
        # The customer's own conversation is with a person: the bot says no more, and
        # leaves that conversation's state alone; the person sees this chat joined.
        return False
    if conversation is not None:
        ctx.conversation = conversation
    return True


def _ask_identifier(ctx: Context, state: FlowState) -> None:
    ctx.state.extra.pop(_PENDING, None)
    state.awaiting = AWAITING_ID
    ctx.say("verify.ask")


def _code_buttons(ctx: Context, state: FlowState) -> tuple[Button, ...]:
    return (
        ctx.button("verify.button.resend", f"{state.name}:verify=resend"),
        ctx.button("verify.button.other", f"{state.name}:verify=other"),
    )


def _person_button(ctx: Context) -> Button:
    return ctx.button("orders.button.person", "intent:human_handoff")


def _ending(phone: str) -> str:
    """The phone as an agent or a record may show it: its last two digits."""
    return "··" + phone[-2:]


def _minutes() -> int:
    return int(CODE_TTL.total_seconds() // 60)
