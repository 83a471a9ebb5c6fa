"""The approved WhatsApp template an agent sends past the 24-hour window, filled in."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import CannedResponse, Customer
from dialogue.inbox_act import NotFound
from dialogue.messages import Reply, Template

_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")  # a WhatsApp template's {{1}}


async def template_reply(
    session: AsyncSession, customer: Customer, template: str, params: dict[str, str]
) -> Reply:
    """The canned response `template` with a Content SID, in the customer's language when
    there is one, its placeholders filled from params ({{1}}: the customer's first name)."""
    approved = (
        await session.scalars(
            select(CannedResponse).where(
                CannedResponse.shortcut == template,
                CannedResponse.active.is_(True),
                CannedResponse.whatsapp_content_sid.is_not(None),
            )
        )
    ).all()
    chosen = next((t for t in approved if t.language == customer.language), None) or next(
        iter(approved), None
    )
    if chosen is None or chosen.whatsapp_content_sid is None:
        raise NotFound(f"no approved WhatsApp template {template!r}")
    wanted = set(_PLACEHOLDER.findall(chosen.body))
    if "1" in wanted and "1" not in params:  # {{1}} is the customer's first name
        params = {**params, "1": (customer.name or "").split(" ")[0] or "-"}
    if set(params) != wanted:
        raise ValueError(
            f"template {template!r} needs values for {sorted(wanted)}, not {sorted(params)}"
        )
    text = _PLACEHOLDER.sub(lambda m: params[m.group(1)], chosen.body)
    return Reply(text, template=Template(chosen.whatsapp_content_sid, dict(params)))
