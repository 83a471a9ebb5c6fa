"""A real hub process with a test responder:
`python -m tests.e2e.hub_process echo|hang [worker]`.

The app, adapters, router and outbox are the product's; only who answers is the
tests': "echo" repeats each message (to see order), "hang" never answers (to kill the
process while messages are stored but not yet answered). With "worker", the process
is `omnihub worker` rather than `omnihub serve`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.settings import Settings
from adapters.web.app import create_app
from adapters.workers import run_worker
from crm.db import Database
from dialogue.messages import Reply
from dialogue.ports import Responder, Turn
from tests.router.doubles import EchoResponder


class HangingResponder:
    async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
        await asyncio.Event().wait()  # a bot stuck forever, holding its transaction
        return []


def main() -> None:
    responders: dict[str, Responder] = {"echo": EchoResponder(), "hang": HangingResponder()}
    settings = Settings()
    if sys.argv[2:] == ["worker"]:

        async def work() -> None:
            database = Database(settings.database_url)
            try:
                await run_worker(settings, database, responder=responders[sys.argv[1]])
            finally:
                await database.dispose()

        asyncio.run(work())
        return
    app = create_app(settings, responder=responders[sys.argv[1]])
    print("ready", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
