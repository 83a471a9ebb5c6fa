"""The hub's flows through a real Rasa server: every conversation script, parsed by Rasa.

The same scripts as tests/conversations, with OMNIHUB_RASA_URL pointing the hub at the
session's Rasa server (trained on bots/). Rasa tells the intents; the embedded engine
adds the typo-tolerant entities Rasa's lookup tables miss, and the language.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp.plugin import AiohttpClient

from crm.db import Database
from tests.conversations.shop import open_shop, play, scripts
from tests.rasa.server import RasaServer


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.mark.parametrize("script", scripts())
async def test_conversation_through_rasa(
    aiohttp_client: AiohttpClient,
    database_url: str,
    db: Database,
    rasa_server: RasaServer,
    script: dict[str, Any],
) -> None:
    async with open_shop(
        aiohttp_client, database_url, db, OMNIHUB_RASA_URL=rasa_server.url
    ) as shop:
        await play(shop, script)
