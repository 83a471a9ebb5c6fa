"""How many one-time codes may be sent and guessed, per asking chat and per customer.

Two budgets, counted apart in `one_time_code_events`, because they protect against
different people:

- Per asking chat (`asker_id`, the profile of the chat that types): wrong codes within
  GUESS_WINDOW. Past MAX_CHAT_WRONG that chat may not ask for or try codes, whoever it
  asks about; it is told so plainly (its own count tells it nothing about anyone).
  Every wrong code counts here, whether or not a customer matched.
- Per customer (whose phone gets the code), whatever chat asks: codes sent within
  SEND_WINDOW and wrong codes within GUESS_WINDOW. Past either, codes for that
  customer are paused: none is sent (and, after too many wrong ones, none accepted)
  until `Pause.until`, and the visitor hears the same words as ever, so a pause tells
  nobody whether the customer exists. The owner's phone is told once per pause, so
  that they are never left believing a code is on its way; and a pause only ever
  stops codes: the owner's channels someone already vouches for (their phone on SMS
  or WhatsApp, a Telegram account or web chat they verified) need none.

MAX_CUSTOMER_WRONG is above MAX_CHAT_WRONG: one chat alone cannot pause someone's
codes, and a stranger needs several chats (each limited by the web chat's new-visitor
limit) to do it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import OneTimeCodeEvent

# Codes sent per customer within SEND_WINDOW: an SMS costs money and bothers the
# phone's owner, who may not be the one asking.
MAX_CUSTOMER_SENDS = 3
SEND_WINDOW = timedelta(hours=1)
# Wrong codes within GUESS_WINDOW: per asking chat, and per customer across chats.
MAX_CHAT_WRONG = 10
MAX_CUSTOMER_WRONG = 20
GUESS_WINDOW = timedelta(days=1)

SENT = "sent"
WRONG = "wrong"
PAUSED = "paused"  # the owner's phone was told codes are paused until `until`


@dataclass(frozen=True)
class Pause:
    """Codes for a customer are paused until `until`; `guessing`: too many wrong ones
    (no code is accepted either), else only too many sent."""

    until: datetime
    guessing: bool


async def chat_wrong(session: AsyncSession, asker_id: int, now: datetime) -> int:
    """Wrong codes typed in the asking chat within GUESS_WINDOW."""
    count = await session.scalar(
        select(func.count())
        .select_from(OneTimeCodeEvent)
        .where(
            OneTimeCodeEvent.asker_id == asker_id,
            OneTimeCodeEvent.kind == WRONG,
            OneTimeCodeEvent.created_at > now - GUESS_WINDOW,
        )
    )
    return int(count or 0)


async def pause_of(session: AsyncSession, customer_id: int, now: datetime) -> Pause | None:
    """Whether codes for the customer are paused now, and until when."""
    guessing = await _full_until(session, customer_id, WRONG, GUESS_WINDOW, MAX_CUSTOMER_WRONG, now)
    sending = await _full_until(session, customer_id, SENT, SEND_WINDOW, MAX_CUSTOMER_SENDS, now)
    if guessing is not None:
        return Pause(max(guessing, sending or guessing), guessing=True)
    if sending is not None:
        return Pause(sending, guessing=False)
    return None


async def told_of_pause(session: AsyncSession, customer_id: int, now: datetime) -> bool:
    """Whether the owner's phone was told of a pause that is still running."""
    told = await session.scalar(
        select(OneTimeCodeEvent.id)
        .where(
            OneTimeCodeEvent.customer_id == customer_id,
            OneTimeCodeEvent.kind == PAUSED,
            OneTimeCodeEvent.until > now,
        )
        .limit(1)
    )
    return told is not None


async def _full_until(
    session: AsyncSession,
    customer_id: int,
    kind: str,
    window: timedelta,
    most: int,
    now: datetime,
) -> datetime | None:
    """When the customer's count of `kind` in the sliding `window` drops below `most`
    again, if it is not below now."""
    times = (
        await session.scalars(
            select(OneTimeCodeEvent.created_at)
            .where(
                OneTimeCodeEvent.customer_id == customer_id,
                OneTimeCodeEvent.kind == kind,
                OneTimeCodeEvent.created_at > now - window,
            )
            .order_by(OneTimeCodeEvent.created_at)
        )
    ).all()
    if len(times) < most:
        return None
    return times[len(times) - most] + window
