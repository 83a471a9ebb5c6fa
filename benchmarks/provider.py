"""The router benchmark's fake Twilio API, in a process of its own.

Usage: python benchmarks/provider.py NUMBER [--callbacks]

A real provider is elsewhere: run in the benchmark's own process, the fake would share
its event loop with the load generator, whose timings would then include the time the
loop spent answering the hub's sends. Prints its base URL on the first line, then one
line per message accepted: the recipient and the wall-clock time it arrived.

With --callbacks it also calls back as Twilio does for each message it accepted: a
signed `sent` status callback SENT_AFTER seconds later and a `delivered` one
DELIVERED_AFTER seconds later, to the StatusCallback URL the hub gave, and prints a line
"callback", the status the hub answered and how long it took (seconds).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.fakes

from tests.fakes.twilio_api import FakeMessage, FakeTwilioApi

# Twilio reports `sent` once the carrier has the message and `delivered` once the
# handset confirms it: later than the API's answer, by seconds on real networks.
SENT_AFTER = 0.2
DELIVERED_AFTER = 1.0


async def main(number: str, callbacks: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    out = sys.stdout
    calls: set[asyncio.Task[None]] = set()

    async def call_back(sid: str, status: str, after: float) -> None:
        await asyncio.sleep(after)  # the provider's own delay, not a wait for the hub
        began = time.perf_counter()
        try:
            answer = await api.callback(sid, status)
        except Exception as exc:  # reported, never raised: the run goes on
            out.write(f"callback\t{type(exc).__name__}\t0\n")
        else:
            out.write(f"callback\t{answer}\t{time.perf_counter() - began:.6f}\n")
        out.flush()

    def arrived(message: FakeMessage) -> None:
        out.write(f"{message.to}\t{message.date_created.timestamp():.6f}\n")
        out.flush()
        if callbacks:
            for status, after in (("sent", SENT_AFTER), ("delivered", DELIVERED_AFTER)):
                task = loop.create_task(call_back(message.sid, status, after))
                calls.add(task)
                task.add_done_callback(calls.discard)

    async with FakeTwilioApi(numbers=[number], on_message=arrived) as api:
        out.write(api.base_url + "\n")
        out.flush()
        await stop.wait()
        for task in list(calls):
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], "--callbacks" in sys.argv[2:]))
