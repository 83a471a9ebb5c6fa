"""GET /inbox/ws: live InboxEvents for signed-in agents, from one bus subscription per process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web
from redis.exceptions import RedisError
from yarl import URL

from adapters.web.errors import error_response
from adapters.web.inbox.auth import READERS, Caller, current_caller
from adapters.web.inbox.config import CONFIG
from adapters.web.keys import BUS, SETTINGS
from crm.models import AgentRole
from dialogue.ports import Bus

TOPIC = "inbox"  # where dialogue.inbox publishes, after each commit
PATH = "/inbox/ws"
UNAUTHORIZED = 4401  # the session ended: the page goes to the sign-in page
RESUBSCRIBE_DELAY = 1.0  # seconds between attempts while the bus is unreachable

log = logging.getLogger(__name__)


def may_see(role: AgentRole, event: dict[str, object]) -> bool:
    """Whether an agent of `role` gets this event (marketers are not let in at all)."""
    return role in READERS


@dataclass(eq=False)
class Listener:
    """One open socket's queue of events to send; None ends it (the page reloads)."""

    role: AgentRole
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class LiveFeed:
    """The process's one subscription to the topic, fanned out to every open socket.

    One subscription, not one per socket: each would be a Redis channel membership
    and a queue in the bus, and a hundred agents' tabs would multiply both. A socket
    that falls `backlog` events behind is ended and its page reloads; when the
    subscription itself ends (a Redis reconnect), every socket is ended, since events
    may have been missed, and the feed subscribes again.
    """

    def __init__(self, bus: Bus, backlog: int) -> None:
        self._bus = bus
        self._backlog = backlog
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbox-live-feed")

    async def live(self) -> None:
        """Returns once the subscription is live (events published after reach sockets)."""
        await self._live.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._end_all()

    def listen(self, role: AgentRole) -> Listener:
        listener = Listener(role)
        self._listeners.add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def _run(self) -> None:
        while True:
            subscription = self._bus.subscribe(TOPIC)
            try:
                if isinstance(subscription, AbstractAsyncContextManager):
                    await subscription.__aenter__()
                self._live.set()
                await self._pump(subscription)
            except (OSError, RedisError) as exc:
                log.warning("inbox: bus subscription failed (%s); subscribing again", exc)
                await asyncio.sleep(RESUBSCRIBE_DELAY)
            finally:
                self._live.clear()
                aclose = getattr(subscription, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
                self._end_all()

    async def _pump(self, events: AsyncIterator[bytes]) -> None:
        async for data in events:
            event = _read_event(data)
            if event is None:
                continue
            text = data.decode()
            for listener in list(self._listeners):
                if not may_see(listener.role, event):
                    continue
                if listener.queue.qsize() >= self._backlog:
                    self._end(listener)
                else:
                    listener.queue.put_nowait(text)

    def _end(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        listener.queue.put_nowait(None)

    def _end_all(self) -> None:
        for listener in list(self._listeners):
            self._end(listener)


def _read_event(data: bytes) -> dict[str, object] | None:
    try:
        event = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
        return None
    if not isinstance(event.get("conversation_id"), int):
        return None
    return event


FEED = web.AppKey("inbox_feed", LiveFeed)


async def feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx, after the hub: the feed follows the hub's bus while the app runs."""
    feed = LiveFeed(app[BUS], app[CONFIG].socket_backlog)
    app[FEED] = feed
    await feed.start()
    yield
    await feed.stop()


class Sockets:
    """The app's open inbox sockets, so that shutdown can close them at once."""

    def __init__(self) -> None:
        self.open: set[web.WebSocketResponse] = set()

    async def close_all(self) -> None:
        await asyncio.gather(
            *(
                ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                for ws in list(self.open)
            ),
            return_exceptions=True,
        )


SOCKETS = web.AppKey("inbox_sockets", Sockets)


def _origin_allowed(request: web.Request) -> bool:
    """Browsers send Origin on every websocket: only the hub's own pages may connect.

    Without this check any site an agent visits could open a socket with the agent's
    cookie and read the conversations live.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: the cookie is the credential
    allowed = {
        str(URL(request.app[SETTINGS].public_base).origin()),
        f"{request.scheme}://{request.host}",
    }
    return origin in allowed


async def connect(request: web.Request) -> web.StreamResponse:
    if not _origin_allowed(request):
        return error_response(403, "origin not allowed", code="origin")
    caller = await current_caller(request)
    if caller is None:
        return error_response(401, "sign in first", login="/inbox/login")
    if caller.role not in READERS:
        return error_response(403, f"the {caller.role} role reads no conversations")
    config = request.app[CONFIG]
    ws = web.WebSocketResponse(heartbeat=config.heartbeat)
    if not ws.can_prepare(request).ok:
        return error_response(400, "expected a websocket upgrade")
    feed = request.app[FEED]
    # Listening before the handshake completes: an event published as soon as the
    # page sees the socket open already reaches it.
    listener = feed.listen(caller.role)
    sockets = request.app[SOCKETS]
    try:
        await ws.prepare(request)
        sockets.open.add(ws)
        async with asyncio.TaskGroup() as tasks:
            sender = tasks.create_task(_send(request, ws, listener, caller))
            async for _ in ws:  # the page sends nothing; this notices it leave
                pass
            sender.cancel()
    finally:
        feed.forget(listener)
        sockets.open.discard(ws)
    return ws


async def _send(
    request: web.Request, ws: web.WebSocketResponse, listener: Listener, caller: Caller
) -> None:
    recheck = request.app[CONFIG].session_recheck
    loop = asyncio.get_running_loop()
    deadline = loop.time() + recheck
    while True:
        if loop.time() >= deadline:
            # A socket outlives its page load: it ends with the session (logout,
            # expiry), checked on a fixed beat whatever the traffic.
            current = await current_caller(request)
            if current is None or current.session_id != caller.session_id:
                await ws.close(code=UNAUTHORIZED, message=b"session ended")
                return
            deadline = loop.time() + recheck
        try:
            text = await asyncio.wait_for(listener.queue.get(), deadline - loop.time())
        except TimeoutError:
            continue
        if text is None:
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"reload")
            return
        if ws.closed:
            return
        try:
            await ws.send_str(text)
        except ConnectionResetError:
            return
