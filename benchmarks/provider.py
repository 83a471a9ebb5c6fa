"""The router benchmark's fake Twilio API, in a process of its own.

Usage: python benchmarks/provider.py NUMBER

A real provider is elsewhere: run in the benchmark's own process, the fake would share
its event loop with the load generator, whose timings would then include the time the
loop spent answering the hub's sends. Prints its base URL on the first line, then one
line per message accepted: the recipient and the wall-clock time it arrived.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.fakes

from tests.fakes.twilio_api import FakeMessage, FakeTwilioApi


async def main(number: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    out = sys.stdout

    def arrived(message: FakeMessage) -> None:
        out.write(f"{message.to}\t{message.date_created.timestamp():.6f}\n")
        out.flush()

    async with FakeTwilioApi(numbers=[number]) as api:
        api.on_message = arrived
        out.write(api.base_url + "\n")
        out.flush()
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
