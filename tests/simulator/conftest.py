"""The real hub app and the simulated providers, wired to each other as `omnihub demo` wires them.

The hub is create_app with the settings the simulation hands out, served on a real
loopback port (the simulated providers post webhooks to it over HTTP); the
simulator page is added to the same app.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy import func, select

from adapters.settings import Settings
from adapters.simulator import add_simulator_routes, start_simulated_providers
from adapters.simulator.page import SEND_PATH
from adapters.simulator.providers import SimulatedProviders
from adapters.web.app import create_app
from crm.db import Database
from dialogue.ports import Responder

# Deliberately not where the hub listens: webhooks are signed for this URL and posted
# to the hub's own port, as behind a tunnel or a proxy.
PUBLIC = "https://hub.solymar.example"

Client = TestClient[web.Request, web.Application]


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # An inherited proxy variable would send the bot's loopback calls to the proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@dataclass
class Simulation:
    providers: SimulatedProviders
    hub: Client
    settings: Settings

    async def act(self, **action: Any) -> tuple[int, dict[str, Any]]:
        """What the simulator page does when the customer acts; (HTTP status, answer)."""
        response = await self.hub.post(SEND_PATH, json=action)
        answer: dict[str, Any] = await response.json()
        return response.status, answer


@contextlib.asynccontextmanager
async def simulate(
    database_url: str,
    *,
    responder: Responder | None = None,
    environment: dict[str, str] | None = None,
) -> AsyncIterator[Simulation]:
    """The hub with the simulation standing in for the providers `environment` leaves unset."""
    port = unused_port()
    providers = await start_simulated_providers(PUBLIC, f"http://127.0.0.1:{port}")
    try:
        # model_validate reads no environment variables: only these settings apply.
        settings = Settings.model_validate(
            {"OMNIHUB_DATABASE_URL": database_url, "OMNIHUB_PUBLIC_URL": PUBLIC}
            | (environment or {})
        )
        settings, _ = providers.fill_in(settings)
        app = create_app(settings, responder=responder)
        add_simulator_routes(app, providers)
        # The hub stops before the providers, as in `omnihub demo`: its last sends and
        # the status callbacks still find each other.
        server = TestServer(app, port=port)
        client: Client = TestClient(server)
        async with server, client:
            yield Simulation(providers, client, settings)
    finally:
        await providers.close()


@pytest.fixture
async def simulation(database_url: str, db: Database) -> AsyncIterator[Simulation]:
    async with simulate(database_url) as running:
        yield running


async def count(db: Database, model: type, *where: Any) -> int:
    async with db.transaction() as session:
        query = select(func.count()).select_from(model)
        if where:
            query = query.where(*where)
        return int(await session.scalar(query) or 0)
