"""What the chatbot says about the limits on holds by customers nobody vouched for.

The limits themselves are crm.services.reservations' (UNVERIFIED_*): one unit, one
reservation at a time, a shorter hold, a share of each store's units. Here they become
words in the customer's language, with the way out: proving who they are (the shop's
sign-in on web chat, or a one-time code, bots.flows.verification).
"""

from __future__ import annotations

from datetime import timedelta

from bots.flows.base import Context
from bots.flows.verification import AWAITING_CODE, AWAITING_ID
from bots.state import FlowState
from crm.errors import HoldLimit, UnverifiedHoldLimit
from crm.models import Channel, Store
from crm.services.reservations import DEFAULT_HOLD, UNVERIFIED_HOLD, HoldTerms
from dialogue.messages import Button

# A flow's `awaiting` while the customer proves who they are.
VERIFYING = frozenset({AWAITING_ID, AWAITING_CODE})


def hours(hold: timedelta) -> int:
    return int(hold.total_seconds() // 3600)


def short_hold_note(ctx: Context, terms: HoldTerms) -> str | None:
    """For a confirmation: why the hold is shorter than usual, when it is."""
    if not terms.limited or terms.hold >= DEFAULT_HOLD:
        return None
    return ctx.t("holds.short", hours=hours(terms.hold), usual=hours(DEFAULT_HOLD))


def say_limit(
    ctx: Context,
    flow: str,
    state: FlowState,
    limit: UnverifiedHoldLimit,
    *,
    quantity: int,
    store: Store,
) -> None:
    """Why the hub cannot hold this now, and what the customer can do instead."""
    how = ctx.t(
        "holds.how.webchat" if ctx.turn.inbound.channel is Channel.WEBCHAT else "holds.how.other"
    )
    verify = verify_button(ctx, flow)
    if limit.limit is HoldLimit.UNITS:
        state.awaiting = "quantity"  # a typed "1" is an answer
        ctx.say(
            "holds.units",
            hours=hours(UNVERIFIED_HOLD),
            quantity=quantity,
            how=how,
            buttons=(ctx.button("holds.button.one", f"{flow}:quantity={limit.allowed}"), verify),
        )
    elif limit.limit is HoldLimit.HOLDS:
        state.awaiting = None
        code = limit.held_code or ""
        cancel = ctx.button("holds.button.cancel", f"cancel_reservation:code={code}", code=code)
        ctx.say("holds.holds", code=code, how=how, buttons=(verify, cancel))
    else:
        state.awaiting = None
        ctx.say("holds.share", store=store.name, how=how, buttons=(verify,))


def verify_button(ctx: Context, flow: str) -> Button:
    return ctx.button("holds.button.verify", f"{flow}:verify=start")


def ask_who(ctx: Context, state: FlowState) -> None:
    """Start proving who they are: the one-time code exchange takes the answer from here
    (bots.flows.verification reads its step in `awaiting`)."""
    state.awaiting = AWAITING_ID
    ctx.say("holds.verify_ask")
