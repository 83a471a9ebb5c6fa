"""GET /webchat/ws: one open widget: authenticate, replay, relay live frames, take messages."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import WSCloseCode, WSMsgType, web

from adapters.channels.webchat.config import CONFIG, WebchatConfig
from adapters.channels.webchat.frames import (
    READY_FRAME,
    BadFrame,
    MessageFrame,
    ack_frame,
    error_frame,
    parse_hello,
    parse_said,
    token_frame,
    visitor_topic,
)
from adapters.channels.webchat.limits import MESSAGE_RATE, REFUSED
from adapters.channels.webchat.relay import Relay, RelayStopped
from adapters.channels.webchat.texts import FrameError, frame_error_text
from adapters.channels.webchat.tokens import InvalidToken, SessionClaims, issue_token, read_token
from adapters.web.errors import error_response
from adapters.web.keys import BUS, DATABASE, INBOUND
from adapters.web.languages import pick_language
from crm.db import Database
from crm.models import Channel, WebchatSite
from crm.services.webchat import (
    UnknownSite,
    get_active_site,
    site_allows_origin,
    token_generation,
    visitor_messages,
)
from dialogue.messages import Inbound

PATH = "/webchat/ws"
UNAUTHORIZED = 4401  # the widget answers it by asking for a new session
MAX_FRAME_BYTES = 64 * 1024  # 4,000 characters of any script, JSON-escaped, fit
# Messages a socket remembers having stored, to know a code among them when its proof
# comes back: the code is answered within seconds, and a visitor sends at most ten
# messages in ten seconds (limits.py).
REMEMBERED = 64

logger = logging.getLogger(__name__)


class Connections:
    """The app's open widget sockets, so that shutdown can close them cleanly."""

    def __init__(self) -> None:
        self._open: set[web.WebSocketResponse] = set()

    def add(self, ws: web.WebSocketResponse) -> None:
        self._open.add(ws)

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._open.discard(ws)

    async def close_all(self, code: int, message: bytes) -> None:
        await asyncio.gather(
            *(ws.close(code=code, message=message) for ws in list(self._open)),
            return_exceptions=True,
        )


CONNECTIONS = web.AppKey("webchat_connections", Connections)


async def connect(request: web.Request) -> web.StreamResponse:
    site_key = request.query.get("site_key", "")
    async with request.app[DATABASE].transaction() as session:
        try:
            site = await get_active_site(session, site_key)
        except UnknownSite:
            return error_response(404, "unknown or inactive site")
    # Browsers send Origin on every websocket; refusing before the upgrade keeps other
    # sites' pages from opening sockets with a visitor's stolen token.
    origin = request.headers.get("Origin")
    if not site_allows_origin(site, origin):
        return error_response(403, "origin not allowed for this site", origin=origin)
    config = request.app[CONFIG]
    ws = web.WebSocketResponse(heartbeat=config.heartbeat, max_msg_size=MAX_FRAME_BYTES)
    if not ws.can_prepare(request).ok:
        return error_response(400, "expected a websocket upgrade")
    await ws.prepare(request)
    connections = request.app[CONNECTIONS]
    connections.add(ws)
    try:
        hello = await _authenticate(ws, site, config)
        if hello is not None:
            accept_language = request.headers.get("Accept-Language")
            await _Conversation(request.app, ws, hello, site, accept_language).run()
    except Exception:
        # The database or the router failed. Whatever the widget sent and was not
        # acked, it sends again after reconnecting; the replay covers the rest.
        logger.exception("web chat: a socket of site %s failed", site.site_key)
        await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"try again")
    finally:
        connections.discard(ws)
    return ws


@dataclass(frozen=True)
class _Hello:
    claims: SessionClaims
    last_seen_id: int
    language: str | None


async def _authenticate(
    ws: web.WebSocketResponse, site: WebchatSite, config: WebchatConfig
) -> _Hello | None:
    try:
        msg = await ws.receive(timeout=config.hello_timeout)
    except TimeoutError:
        await ws.close(code=UNAUTHORIZED, message=b"no hello in time")
        return None
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return None
    hello = parse_hello(msg.data) if msg.type is WSMsgType.TEXT else None
    if hello is None:
        await ws.close(code=UNAUTHORIZED, message=b"the first frame must be a hello")
        return None
    try:
        claims = read_token(
            site.token_secret, hello.token, site_key=site.site_key, clock=config.clock
        )
    except InvalidToken:
        await ws.close(code=UNAUTHORIZED, message=b"invalid or expired token")
        return None
    return _Hello(claims=claims, last_seen_id=hello.last_seen_id, language=hello.language)


class _Conversation:
    """One authenticated socket: history first, then live frames both ways."""

    def __init__(
        self,
        app: web.Application,
        ws: web.WebSocketResponse,
        hello: _Hello,
        site: WebchatSite,
        accept_language: str | None,
    ) -> None:
        self._app, self._ws, self._config = app, ws, app[CONFIG]
        self._site_key, self._token_secret = site.site_key, site.token_secret
        self._visitor = hello.claims.visitor_id
        self._shop_user = hello.claims.shop_user_id
        self._generation = hello.claims.generation
        self._ended = False  # the token was ended while the socket was open
        self._last_seen_id = hello.last_seen_id
        self._language = pick_language(hello.language, accept_language)
        self._topic = visitor_topic(self._visitor)
        # Acks and relayed frames come from two tasks; frames must not interleave.
        self._send_lock = asyncio.Lock()
        # Provider ids of the messages this socket stored (not a resend of someone
        # else's): a proof by one of them hands this socket the new token.
        self._stored: OrderedDict[str, None] = OrderedDict()
        # Held while a message is being stored: a proof that comes back meanwhile
        # waits to know whether it was this socket's.
        self._storing = asyncio.Lock()

    async def run(self) -> None:
        relay = Relay(self._app[BUS], self._topic)
        try:
            try:
                async with asyncio.timeout(self._config.bus_timeout):
                    await relay.start()
            except TimeoutError:
                logger.warning("web chat: the bus did not answer; closing %s", self._topic)
                await self._ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"bus unavailable")
                return
            # Checked once subscribed: a token ended after this check is announced on
            # the topic (after its commit), which this socket now hears.
            if not await self._token_holds(self._app[DATABASE]):
                await self._ws.close(code=UNAUTHORIZED, message=b"session ended")
                return
            replayed = await self._replay(self._app[DATABASE])
            await self._send(READY_FRAME)
            # Either side failing ends both, and the socket with them.
            async with asyncio.TaskGroup() as tasks:
                forwarder = tasks.create_task(self._forward(relay, replayed))
                await self._receive()
                forwarder.cancel()
        finally:
            await relay.close()

    async def _token_holds(self, database: Database) -> bool:
        async with database.transaction() as session:
            return await token_generation(session, self._visitor) == self._generation

    async def _replay(self, database: Database) -> set[int]:
        """Sends the visitor's messages newer than the widget's last seen id."""
        replayed: set[int] = set()
        after = self._last_seen_id
        while True:
            async with database.transaction() as session:
                rows = await visitor_messages(
                    session, self._visitor, after_id=after, limit=self._config.replay_batch
                )
                frames = [
                    (row.id, MessageFrame.from_row(row, self._visitor).encode()) for row in rows
                ]
            for message_id, frame in frames:
                await self._send(frame)
                replayed.add(message_id)
                after = message_id
            if len(frames) < self._config.replay_batch:
                return replayed

    async def _forward(self, relay: Relay, replayed: set[int]) -> None:
        while True:
            try:
                frame = await relay.next()
            except RelayStopped as stopped:
                logger.info("web chat: %s; the widget reconnects and replays", stopped)
                await self._ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"try again")
                return
            if frame.type == "proved":
                if frame.generation is None or frame.generation <= self._generation:
                    continue
                if await self._stored_here(frame.provider_id):
                    # This socket sent the code: it goes on, with a token for the
                    # customer the visitor proved to be.
                    if not await self._renew(frame.generation):
                        return
                    continue
                # Anyone else holding the visitor's old token (another tab, a copy)
                # must not read or write as the customer: closed as an ended token.
                self._ended = True
                await self._ws.close(code=UNAUTHORIZED, message=b"session ended")
                return
            if frame.type == "ended":
                if frame.generation is not None and frame.generation > self._generation:
                    # The visitor signed in or out elsewhere: this socket's token is
                    # over, and with it what it may read and write.
                    self._ended = True
                    await self._ws.close(code=UNAUTHORIZED, message=b"session ended")
                    return
                continue
            if frame.type == "message":
                # Published while the replay ran: the widget has it already.
                if frame.message_id is None or frame.message_id in replayed:
                    continue
            elif frame.type != "typing":
                continue
            if not await self._send(frame.raw):
                return

    async def _stored_here(self, provider_id: str | None) -> bool:
        async with self._storing:
            return provider_id is not None and provider_id in self._stored

    async def _renew(self, generation: int) -> bool:
        """Moves this socket to `generation` and gives its widget a token of it."""
        self._generation = generation
        claims = SessionClaims(
            site_key=self._site_key,
            visitor_id=self._visitor,
            shop_user_id=self._shop_user,
            generation=generation,
        )
        token = issue_token(self._token_secret, claims, clock=self._config.clock)
        return await self._send(token_frame(token))

    async def _receive(self) -> None:
        async for msg in self._ws:
            if msg.type is WSMsgType.TEXT:
                data = msg.data
            elif msg.type is WSMsgType.BINARY:
                data = ""  # never JSON text: refused below like any unreadable frame
            else:
                continue
            await self._take(data)

    async def _take(self, data: str) -> None:
        try:
            said = parse_said(data)
        except BadFrame as bad:
            reason = frame_error_text(bad.error, self._language)
            await self._send(error_frame(bad.error, reason, bad.client_msg_id))
            return
        if self._ended:
            return
        rate = self._app.get(MESSAGE_RATE)
        wait = None if rate is None else await rate.wait(self._visitor)
        if wait is not None:
            # Not stored: the widget keeps the message and sends it again when told.
            REFUSED.inc()
            error = FrameError.RATE_LIMITED
            reason = frame_error_text(error, self._language)
            seconds = max(1, math.ceil(wait))
            await self._send(error_frame(error, reason, said.client_msg_id, retry_after=seconds))
            return
        inbound = Inbound(
            channel=Channel.WEBCHAT,
            # Scoped by visitor: two visitors' widgets may pick the same id.
            provider_id=f"{self._visitor}:{said.client_msg_id}",
            address=self._visitor,
            text=said.text,
            payload=said.payload,
            shop_customer_id=self._shop_user,
        )
        # A resend of the same client_msg_id gets the same id back from the router,
        # which stores it once: the widget may resend until it sees this ack. Only the
        # socket that stored it remembers it as its own: another socket of the visitor
        # (a copied token) that repeats the id it saw echoed gets the ack, not the token.
        async with self._storing:
            accepted = await self._app[INBOUND].accept_new(inbound)
            if accepted.new:
                self._stored[inbound.provider_id] = None
                if len(self._stored) > REMEMBERED:
                    self._stored.popitem(last=False)
        message_id = accepted.message_id
        await self._send(ack_frame(said.client_msg_id, message_id))
        # The visitor's other tabs show it too; each widget dedupes by id.
        echo = MessageFrame(
            id=message_id,
            direction="inbound",
            author="customer",
            text=said.text,
            created_at=datetime.fromtimestamp(self._config.clock(), UTC),
            client_msg_id=said.client_msg_id,
        )
        await self._app[BUS].publish(self._topic, echo.encode().encode())

    async def _send(self, frame: str) -> bool:
        """Sends one frame; False once the socket is closing."""
        async with self._send_lock:
            if self._ws.closed:
                return False
            try:
                await self._ws.send_str(frame)
            except ConnectionResetError:
                return False
            return True
