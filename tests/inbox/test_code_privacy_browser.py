"""What an agent can read of a one-time code asked for in a visitor's chat: that one was
asked for, in their language; never the code, the phone it went to, or its last digits.

The real hub, its chatbot and the fake Twilio API (tests/inbox/page_harness.py); the
visitor writes on the web chat, which the router takes like any channel.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from adapters.web.keys import INBOUND
from crm.models import Channel, ChannelIdentity, Conversation
from dialogue.messages import Inbound
from tests.bots.test_orders import ANA as ANAS_PHONE
from tests.bots.test_verification import _ana_with_orders
from tests.inbox.page_harness import InboxHub, sign_in
from tests.inbox.test_page_browser import (  # noqa: F401 (fixtures)
    ANA,
    WAIT_MS,
    Pages,
    backend,
    live_hub,
    pages,
)
from tests.polling import eventually

VISITOR = "visitor-9b1e"
SAID = {
    "en-GB": "A verification code was asked for in this chat.",
    "es-ES": "Se ha pedido un código de verificación en este chat.",
    "pt-PT": "Foi pedido um código de verificação neste chat.",
}


async def _visitors_conversation(hub: InboxHub) -> int:
    async with hub.db.transaction() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.address == VISITOR)
        )
        assert identity is not None
        conversation_id = await session.scalar(
            select(Conversation.id).where(Conversation.customer_id == identity.customer_id)
        )
        assert conversation_id is not None
        return conversation_id


async def test_the_inbox_shows_a_code_was_asked_for_never_the_code_or_the_phone(
    live_hub: InboxHub,  # noqa: F811
    pages: Pages,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SQL drivers' parameters too
    await _ana_with_orders(live_hub.db)
    router = live_hub.server.app[INBOUND]
    await router.accept(Inbound(Channel.WEBCHAT, "wc-1", VISITOR, "donde esta mi pedido ES-100235"))
    await eventually(lambda: live_hub.sent_to(ANAS_PHONE) != [], within=WAIT_MS / 1000)
    found = re.search(r"\b(\d{6})\b", live_hub.sent_to(ANAS_PHONE)[-1])
    assert found is not None
    code = found.group(1)
    conversation_id = await _visitors_conversation(live_hub)
    secrets = (code, ANAS_PHONE, ANAS_PHONE[-9:], "··78")

    for locale, words in SAID.items():
        page = await pages.open(locale)
        await sign_in(page, live_hub, ANA)
        answer = await page.request.get(live_hub.url(f"/inbox/api/conversations/{conversation_id}"))
        assert answer.status == 200
        detail = await answer.text()
        assert [s for s in secrets if s in detail] == []
        assert '"verification_requested"' in detail
        await page.goto(live_hub.url(f"/inbox?conversation={conversation_id}"))
        event = page.locator('#messages li[data-event="verification_requested"]')
        await expect(event).to_contain_text(words)
        await expect(page.locator("#messages .msg.from-bot").first).to_be_visible()
        shown = await page.locator("body").inner_text()
        assert [s for s in secrets if s in shown] == []
        await page.screenshot(path=str(tmp_path / f"code-asked-{locale}.png"), full_page=True)

    assert code not in caplog.text
    # The code itself works, for whoever has Ana's phone.
    await router.accept(Inbound(Channel.WEBCHAT, "wc-2", VISITOR, code))

    async def verified() -> bool:
        async with live_hub.db.transaction() as session:
            return bool(
                await session.scalar(
                    select(ChannelIdentity.verified).where(ChannelIdentity.address == VISITOR)
                )
            )

    await eventually(verified, within=WAIT_MS / 1000)
