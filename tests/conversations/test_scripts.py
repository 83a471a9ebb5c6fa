"""Every conversation script, with the embedded NLU (the default)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp.plugin import AiohttpClient

from crm.db import Database
from tests.conversations.shop import open_shop, play, scripts


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.mark.parametrize("script", scripts())
async def test_conversation(
    aiohttp_client: AiohttpClient, database_url: str, db: Database, script: dict[str, Any]
) -> None:
    async with open_shop(aiohttp_client, database_url, db) as shop:
        await play(shop, script)
