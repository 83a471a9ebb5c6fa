"""Opt-out and opt-in: a carrier keyword or a sentence, on any channel, for every channel.

An opt-out is never lost: it is recorded whatever else the conversation is doing, for
every channel the shop writes on, and confirmed in the customer's language with how to
come back.
"""

from __future__ import annotations

from bots.flows.base import Context
from crm.models import Channel, ConsentPurpose
from crm.services.consents import record_consent

# Bare one-word messages, compared upper-case without accents (as carriers do).
OPT_OUT_KEYWORDS = frozenset(
    {
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT",
        "BAJA", "PARAR", "CANCELAR", "DESUSCRIBIR", "DESUSCRIBIRME", "ALTO",
        "SAIR", "PARE", "DESCADASTRAR", "REMOVER",
    }
)  # fmt: skip
# Words that also mean "cancel what we are doing": an opt-out is recorded all the same
# (it must never be lost), and the task under way is left too.
CANCEL_KEYWORDS = frozenset({"CANCEL", "CANCELAR"})
OPT_IN_KEYWORDS = frozenset(
    {"START", "UNSTOP", "SUBSCRIBE", "ALTA", "SUSCRIBIR", "SUSCRIBIRME", "VOLTAR", "INSCREVER"}
)


async def record_choice(ctx: Context, *, granted: bool) -> None:
    keyword = ctx.text.upper() if len(ctx.text) <= 20 else ctx.intent
    source = f"bot:{ctx.turn.inbound.channel.value}:{keyword}"[:64]
    for channel in Channel:
        await record_consent(
            ctx.session,
            ctx.customer.id,
            channel,
            ConsentPurpose.MARKETING,
            granted,
            source,
            now=ctx.now,
        )
    ctx.say("consent.opted_in" if granted else "consent.opted_out")
