"""What the hub tells customers when people take over or let go, in their language.

Implements dialogue.inbox.Notices; the bot's own handoff uses the same words.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bots.catalogue import say, text
from bots.language import guess_language
from crm.models import Customer, Language
from dialogue.inbox import Wait
from dialogue.messages import Button, Reply

SCORES = range(1, 6)


class CustomerNotices:
    """Implements dialogue.inbox.Notices."""

    def __init__(self, zone: str = "UTC") -> None:
        self.zone = ZoneInfo(zone)

    def queued(self, customer: Customer, wait: Wait, *, now: datetime | None = None) -> Reply:
        return Reply(queued_text(guess_language(customer), wait, self.zone, now))

    def satisfaction_question(self, customer: Customer) -> Reply:
        language = guess_language(customer)
        return Reply(
            say("csat.ask", language),
            tuple(Button(str(score), f"csat:{score}") for score in SCORES),
        )

    def handed_back(self, customer: Customer) -> Reply:
        return Reply(say("handback.notice", guess_language(customer)))


def queued_text(language: Language, wait: Wait, zone: ZoneInfo, now: datetime | None = None) -> str:
    if wait.opens_at is not None:
        return say("handoff.closed", language, when=_when(language, wait.opens_at, zone, now))
    if wait.assigned:
        return say("handoff.assigned", language)
    if wait.ahead > 0:
        return say("handoff.waiting_ahead", language, ahead=wait.ahead)
    return say("handoff.waiting", language)


def spoken_time(language: Language, at: datetime, zone: ZoneInfo, now: datetime | None) -> str:
    """ "today at 14:05", "tomorrow at 09:00", "on Monday at 10:00" in `zone`."""
    return _when(language, at, zone, now)


def _when(language: Language, at: datetime, zone: ZoneInfo, now: datetime | None) -> str:
    local = at.astimezone(zone)
    today = (now or datetime.now(zone)).astimezone(zone).date()
    clock = f"{local:%H:%M}"
    if local.date() == today:
        return say("when.today", language, time=clock)
    if local.date() == today + timedelta(days=1):
        return say("when.tomorrow", language, time=clock)
    day = text("days", language).split(",")[local.weekday()]
    return say("when.weekday", language, day=day, time=clock)
