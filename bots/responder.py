"""The chatbot: understands a message, runs the flow it belongs to, answers.

Implements dialogue.ports.Responder. For each customer message, in the router's
transaction:

1. Understand it: a pressed button says exactly what it means; a bare carrier keyword
   (STOP, BAJA, SAIR, START...) is an opt-out or opt-in whatever else is going on;
   anything else goes through the NLU engine (embedded, or a Rasa server).
2. Settle the language: an explicit switch wins and is kept; else a confident
   detection is remembered on the customer.
3. Run what it asks for: the active flow when the message answers it; a new flow
   (the active one is paused, to be resumed later) when it clearly asks for another
   task; a person when the customer asks for one, or after two messages in a row the
   bot did not understand.
4. Keep the bot's state on the conversation (it follows the customer across channels).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bots.flows.base import CLEAR_REQUEST, Context, Flow, Step
from bots.flows.consent import (
    CANCEL_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    record_choice,
)
from bots.flows.language_switch import switch_language
from bots.language import choose_language
from bots.state import BotState, FlowState
from crm.models import (
    ChannelIdentity,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Customer,
    utcnow,
)
from dialogue.identity import channel_address
from dialogue.inbox import SupportHours
from dialogue.messages import Reply
from dialogue.ports import NluEngine, Turn, Understanding

# Intents handled whatever flow is under way.
_ANYWHERE = frozenset({"opt_out", "opt_in", "human_handoff", "change_language", "cancel_flow"})


class ChatbotResponder:
    """Implements dialogue.ports.Responder."""

    def __init__(
        self,
        nlu: NluEngine,
        flows: Sequence[Flow],
        *,
        support: SupportHours | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.nlu = nlu
        self.support = support or SupportHours()
        self.flows = {flow.name: flow for flow in flows}
        self.by_intent = {intent: flow for flow in flows for intent in flow.intents}
        self.clock = clock

    async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
        conversation = await session.get_one(Conversation, turn.conversation_id)
        customer = await session.get_one(Customer, turn.customer_id)
        state = BotState.from_json(conversation.bot_state)
        understanding = await self._understand(turn)
        ctx = Context(
            session=session,
            turn=turn,
            conversation=conversation,
            customer=customer,
            language=choose_language(customer, understanding, state),
            understanding=understanding,
            state=state,
            now=self.clock(),
            verified=await _verified(session, turn),
            support=self.support,
        )
        if not await _scored(ctx):
            await self._dispatch(ctx)
        # A flow may have moved the customer into another conversation (a verified
        # one-time code joins the one they already had): the state goes with them.
        ctx.conversation.bot_state = state.to_json()
        return ctx.replies

    async def _understand(self, turn: Turn) -> Understanding:
        payload = turn.inbound.payload
        if payload is not None:
            if payload.startswith("intent:"):
                return Understanding(payload.removeprefix("intent:"), 1.0)
            return Understanding("choice", 1.0)
        keyword = _keyword(turn.inbound.text)
        if keyword in OPT_OUT_KEYWORDS:
            return Understanding("opt_out", 1.0)
        if keyword in OPT_IN_KEYWORDS:
            return Understanding("opt_in", 1.0)
        if not turn.inbound.text.strip():
            return Understanding("out_of_scope", 0.0)  # a photo, a sticker, a location
        return await self.nlu.parse(turn.inbound.text)

    async def _dispatch(self, ctx: Context) -> None:
        state, intent = ctx.state, ctx.intent
        if intent != "out_of_scope":
            state.misses = 0
        offered_resume, state.offered_resume = state.offered_resume, False

        active = state.active
        if (
            active is not None
            and active.awaiting is not None
            and intent in _ANYWHERE
            and ctx.understanding.confidence < CLEAR_REQUEST
        ):
            # A hesitant guess ("paulista" is not an opt-out) while a flow waits for an
            # answer: it is the answer. Carrier keywords and buttons are always sure.
            await self._run(ctx, active)
            return
        if intent in ("opt_out", "opt_in"):
            if state.active is not None and _keyword(ctx.text) in CANCEL_KEYWORDS:
                ctx.say("cancel.left", task=ctx.t(f"flow.{state.active.name}.title"))
                state.active = None
            await record_choice(ctx, granted=intent == "opt_in")
            return
        if intent == "human_handoff":
            await ctx.hand_off("asked", flow=state.active)
            return
        if intent == "change_language":
            switch_language(ctx)
            if state.active is not None:
                await self._run(ctx, state.active, resume=True)
            return
        if intent == "cancel_flow":
            self._cancel(ctx)
            return
        if offered_resume and state.active is None:
            # Asked whether to go back to a task left half-done: yes resumes it; no,
            # or anything else, lets it go.
            paused = state.take_paused()
            if intent in ("affirm", "deny"):
                if paused is not None and intent == "affirm":
                    await self._run(ctx, paused, resume=True)
                    return
                ctx.say_menu("menu.what_else")
                return
        if intent == "greet" and state.active is not None and not ctx.understanding.entities:
            # Back after a while: greet, and offer to go on where they left off.
            state.pause_active()
            ctx.say("greet.hello", name=_first_name(ctx.customer))
            self._offer_resume(ctx)
            return

        flow = self._flow_for_payload(ctx)
        if active is not None and (flow is None or flow.name == active.name):
            active_flow = self.flows[active.name]
            if active_flow.wants(ctx, active) or intent not in self.by_intent:
                await self._run(ctx, active)
                return
        if flow is None:
            flow = self.by_intent.get(intent)
        if flow is not None:
            state.pause_active()
            await self._run(ctx, state.take_paused(flow.name) or FlowState(flow.name))
            return
        await self._small_talk(ctx)

    def _flow_for_payload(self, ctx: Context) -> Flow | None:
        payload = ctx.payload
        if payload is None or ":" not in payload or payload.startswith("intent:"):
            return None
        return self.flows.get(payload.split(":", 1)[0])

    async def _run(self, ctx: Context, flow_state: FlowState, *, resume: bool = False) -> None:
        ctx.state.active = flow_state
        flow = self.flows[flow_state.name]
        step = await (flow.resume if resume else flow.advance)(ctx, flow_state)
        if ctx.state.active is not flow_state:
            return  # the flow handed the conversation to a person, or started another
        if step is Step.DONE:
            ctx.state.active = None
            self._offer_resume(ctx)

    def _offer_resume(self, ctx: Context) -> None:
        if not ctx.state.paused:
            return
        if ctx.replies and ctx.replies[-1].buttons:
            return  # the answer just offered choices: a second set would confuse them
        title = ctx.t(f"flow.{ctx.state.paused[0].name}.title")
        ctx.say(
            "resume.offer",
            task=title,
            buttons=(
                ctx.button("answer.yes", "intent:affirm"),
                ctx.button("answer.no", "intent:deny"),
            ),
        )
        ctx.state.offered_resume = True

    def _cancel(self, ctx: Context) -> None:
        if ctx.state.active is None:
            ctx.say_menu("cancel.nothing")
            return
        ctx.state.active = None
        ctx.say_menu("cancel.done")

    async def _small_talk(self, ctx: Context) -> None:
        intent = ctx.intent
        if intent == "greet":
            ctx.say_menu("greet.hello", name=_first_name(ctx.customer))
        elif intent == "thanks":
            ctx.say("thanks.reply")
            self._offer_resume(ctx)
        elif intent == "goodbye":
            ctx.say("goodbye.reply")
        elif intent in ("affirm", "deny", "choice"):
            ctx.say_menu("menu.what_else")
        else:
            await ctx.not_understood()


# How long after resolving a conversation a bare 1-5 is taken as its score.
SCORE_WINDOW = timedelta(days=1)


async def _scored(ctx: Context) -> bool:
    """A 1-5 answer to the satisfaction question of the customer's last resolved chat."""
    payload, text = ctx.payload, ctx.text
    if payload is not None and payload.startswith("csat:"):
        answer = payload.removeprefix("csat:")
    elif payload is None and len(text) == 1 and text in "12345":
        answer = text
    else:
        return False
    asked = await ctx.session.scalar(
        select(Conversation)
        .where(
            Conversation.customer_id == ctx.customer.id,
            Conversation.status == ConversationStatus.RESOLVED,
            Conversation.csat_asked_at >= ctx.now - SCORE_WINDOW,
            Conversation.csat_score.is_(None),
        )
        .order_by(Conversation.csat_asked_at.desc())
        .limit(1)
    )
    if asked is None or not answer.isdigit() or not 1 <= int(answer) <= 5:
        return False
    asked.csat_score = int(answer)
    ctx.session.add(
        ConversationEvent(
            conversation_id=asked.id,
            kind="csat",
            from_status=asked.status.value,
            to_status=asked.status.value,
            data={"score": int(answer)},
            created_at=ctx.now,
        )
    )
    ctx.say("csat.thanks")
    return True


def _keyword(text: str) -> str:
    """A message that is one bare word, as carriers compare keywords: STOP, baja, Sair."""
    folded = unicodedata.normalize("NFKD", text.strip().strip(".!¡¿?")).upper()
    return "".join(c for c in folded if not unicodedata.combining(c))


def _first_name(customer: Customer) -> str:
    """ " Ana" for a greeting, or nothing when the name is unknown."""
    first = (customer.name or "").strip().split(" ")[0]
    return f" {first}" if first else ""


async def _verified(session: AsyncSession, turn: Turn) -> bool:
    inbound = turn.inbound
    verified = await session.scalar(
        select(ChannelIdentity.verified).where(
            ChannelIdentity.channel == inbound.channel,
            ChannelIdentity.address == channel_address(inbound.channel, inbound.address),
        )
    )
    return bool(verified)
