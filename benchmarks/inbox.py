"""How fast the inbox page loads with many conversations, and how soon it shows a new message.

Usage: python benchmarks/inbox.py [--conversations N] [--runs R] [--messages M]
                                  [--postgres [SERVER_URL]]

A scratch database (a temporary SQLite file; with --postgres a new database on the
server, default postgresql://postgres@127.0.0.1/test, dropped afterwards) is migrated
and filled with N conversations (default 10,000: a customer, an SMS identity and three
messages each; a fifth queued, a third with an agent, the rest with the bot or
resolved), written with SQLAlchemy Core in batches. The real hub (create_app, with the
product's chatbot and a fake Twilio API on 127.0.0.1, tests/inbox/page_harness.py)
serves it, and an agent signs in in headless Chromium (Debian's /usr/bin/chromium).

(a) Page load: R times (default 7), the inbox is opened afresh, per view (queued, the
    agent's default, and all); the time from navigation start until the conversation
    list is rendered (the page's `inbox:list-rendered` performance mark). Median, min
    and max.
(b) Live updates: the agent has a conversation open; M messages (default 200), one at
    a time, come in as signed Twilio webhooks. The latency is from just before the
    webhook is posted until a MutationObserver in the page sees the text in the
    conversation (both clocks are this machine's wall clock). p50, p99 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.inbox

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from crm import migrate
from crm.db import Database, async_url
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Message,
    MessageAuthor,
    MessageDirection,
    VerificationMethod,
    utcnow,
)
from tests.chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.inbox.page_harness import InboxHub, running_hub, sign_in

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1/test"
BATCH = 2_000
AGENT = "bench@shop.example"
PROBE_PHONE = "+34699000000"

# In the page: when a message whose text is "probe N" appears, note the wall-clock time.
OBSERVE_PROBES = """
() => {
  window.__seen = {};
  const list = document.getElementById("messages");
  new MutationObserver(() => {
    for (const node of list.querySelectorAll(".msg .text")) {
      const match = /^probe (\\d+)$/.exec(node.textContent);
      if (match && !(match[1] in window.__seen)) {
        window.__seen[match[1]] = performance.timeOrigin + performance.now();
      }
    }
  }).observe(list, { childList: true, subtree: true, characterData: true });
}
"""


def _status(index: int) -> ConversationStatus:
    share = index % 15
    if share < 3:
        return ConversationStatus.QUEUED  # a fifth
    if share < 8:
        return ConversationStatus.AGENT  # a third
    if share < 12:
        return ConversationStatus.BOT
    return ConversationStatus.RESOLVED


async def seed(db: Database, count: int, agent_id: int) -> float:
    """`count` conversations with their customers and messages; seconds it took."""
    started = time.perf_counter()
    now = utcnow()
    async with db.connection() as conn:
        first = int(await conn.scalar(text("SELECT coalesce(max(id), 0) FROM customers")) or 0)
    for start in range(0, count, BATCH):
        customers: list[dict[str, object]] = []
        identities: list[dict[str, object]] = []
        conversations: list[dict[str, object]] = []
        messages: list[dict[str, object]] = []
        for index in range(start, min(start + BATCH, count)):
            key = first + index + 1
            phone = f"+3460{key:07d}"
            at = now - timedelta(minutes=count - index)
            status = _status(index)
            customers.append(
                {"id": key, "name": f"Cliente {key}", "phone": phone, "created_at": at}
            )
            identities.append(
                {
                    "customer_id": key,
                    "channel": Channel.SMS,
                    "address": phone,
                    "verified": True,
                    "verified_by": VerificationMethod.CARRIER,
                    "verified_at": at,
                    "created_at": at,
                }
            )
            conversations.append(
                {
                    "id": key,
                    "customer_id": key,
                    "status": status,
                    "assigned_agent_id": agent_id if status is ConversationStatus.AGENT else None,
                    "last_channel": Channel.SMS,
                    "last_address": phone,
                    "last_inbound_at": at,
                    "created_at": at,
                    "updated_at": at,
                    "queued_at": at if status is ConversationStatus.QUEUED else None,
                    "resolved_at": at if status is ConversationStatus.RESOLVED else None,
                    "handoff": {"reason": "asked", "intent": "human_handoff", "slots": {}}
                    if status in (ConversationStatus.QUEUED, ConversationStatus.AGENT)
                    else None,
                }
            )
            for turn, (direction, author, body) in enumerate(
                [
                    (MessageDirection.INBOUND, MessageAuthor.CUSTOMER, "hola, ¿y mi pedido?"),
                    (MessageDirection.OUTBOUND, MessageAuthor.BOT, "¿Cuál es el número?"),
                    (MessageDirection.INBOUND, MessageAuthor.CUSTOMER, "quiero una persona"),
                ]
            ):
                inbound = direction is MessageDirection.INBOUND
                messages.append(
                    {
                        "conversation_id": key,
                        "direction": direction,
                        "author": author,
                        "channel": Channel.SMS,
                        "address": phone,
                        "provider_message_id": f"SM{key:030d}{turn:02d}",
                        "body": body,
                        "delivery_status": DeliveryStatus.RECEIVED
                        if inbound
                        else DeliveryStatus.DELIVERED,
                        "processed_at": at if inbound else None,
                        "created_at": at + timedelta(seconds=turn),
                        "updated_at": at + timedelta(seconds=turn),
                    }
                )
        async with db.connection() as conn:
            for model, rows in (
                (Customer, customers),
                (ChannelIdentity, identities),
                (Conversation, conversations),
                (Message, messages),
            ):
                await conn.execute(insert(model), rows)
            await conn.commit()
    async with db.connection() as conn:
        if conn.dialect.name == "postgresql":
            # Explicit ids do not move the sequences: later inserts start after them.
            for table in ("customers", "conversations"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            await conn.commit()
    return time.perf_counter() - started


@asynccontextmanager
async def scratch_database(postgres: str | None) -> AsyncIterator[str]:
    if postgres is None:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite+aiosqlite:///{Path(directory) / 'inbox.db'}"
        return
    server = make_url(async_url(postgres))
    name = f"omnihub_bench_inbox_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        database = Database(server.render_as_string(hide_password=False))
        try:
            async with database.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(statement))
        finally:
            await database.dispose()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def page_load(page: Page, hub: InboxHub, view: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        await page.goto(hub.url("/inbox") + f"?view={view}")
        await page.wait_for_function(
            "performance.getEntriesByName('inbox:list-rendered').length > 0"
        )
        mark: float = await page.evaluate(
            "performance.getEntriesByName('inbox:list-rendered')[0].startTime"
        )
        times.append(mark)
    return times


async def live_latency(page: Page, hub: InboxHub, messages: int) -> list[float]:
    await hub.customer_writes(PROBE_PHONE, "quiero hablar con una persona")
    item = page.locator("#conversations li", has_text=PROBE_PHONE)
    await item.wait_for(timeout=30_000)
    await item.get_by_role("button").click()
    await page.get_by_role("button", name="Claim").click()
    await page.locator("#conv[data-status=agent]").wait_for()
    await page.evaluate(OBSERVE_PROBES)
    latencies = []
    for n in range(messages):
        sent = time.time() * 1000
        await hub.customer_writes(PROBE_PHONE, f"probe {n}")
        await page.wait_for_function(f"window.__seen['{n}'] !== undefined", polling=5)
        seen: float = await page.evaluate(f"window.__seen['{n}']")
        latencies.append(seen - sent)
    return latencies


async def run(args: argparse.Namespace) -> None:
    if not CHROMIUM.exists():
        sys.exit(f"the benchmark needs Chromium at {CHROMIUM} (apt-get install chromium)")
    postgres = args.postgres
    async with scratch_database(postgres) as url:
        db = Database(url)
        await migrate.upgrade(db)
        print(f"backend: {'postgresql' if postgres else 'sqlite'}")
        async with running_hub(url) as hub:
            agent_id = await hub.add_agent(AGENT, "Bench Agent")
            seconds = await seed(db, args.conversations, agent_id)
            print(f"seeded {args.conversations:,} conversations in {seconds:.1f} s")
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
                )
                # The page's own CSP forbids evaluating strings, which Playwright's
                # wait_for_function does; the page's scripts are unaffected.
                context = await browser.new_context(
                    locale="en-GB", viewport={"width": 1400, "height": 900}, bypass_csp=True
                )
                page = await context.new_page()
                await sign_in(page, hub, AGENT)
                for view in ("queued", "all"):
                    await page_load(page, hub, view, 1)  # warm caches: not counted
                    times = await page_load(page, hub, view, args.runs)
                    print(
                        f"page load, view {view}, {args.conversations:,} conversations: "
                        f"median {statistics.median(times):.0f} ms "
                        f"(min {min(times):.0f}, max {max(times):.0f}, {args.runs} runs)"
                    )
                await page.goto(hub.url("/inbox"))
                await page.wait_for_function("document.body.dataset.ready === 'true'")
                latencies = await live_latency(page, hub, args.messages)
                print(
                    f"live update, webhook in to visible, {args.messages} messages: "
                    f"p50 {percentile(latencies, 0.5):.0f} ms, "
                    f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms"
                )
                await context.close()
                await browser.close()
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_SERVER, default=None)
    args: Any = parser.parse_args(argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
