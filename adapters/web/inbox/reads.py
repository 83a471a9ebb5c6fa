"""The inbox's GET routes: the agent, conversation lists, one conversation, a customer,
canned responses and metrics. Each reads through crm.services.inbox_views or
inbox_metrics in one transaction."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.web.errors import error_response
from adapters.web.inbox.auth import Caller
from adapters.web.inbox.config import CONFIG
from adapters.web.inbox.render import answer
from adapters.web.keys import DATABASE
from crm.errors import NotFound
from crm.models import Channel, ConversationStatus, Language, utcnow
from crm.services.inbox_metrics import inbox_metrics
from crm.services.inbox_views import (
    DEFAULT_PAGE,
    MAX_PAGE,
    BadCursor,
    ListFilter,
    View,
    answering_agents,
    canned_responses,
    conversation_detail,
    customer_panel,
    decode_cursor,
    list_conversations,
)

R = TypeVar("R")
E = TypeVar("E", bound=StrEnum)
JSON = "application/json"


class BadQuery(Exception):
    """A query parameter the route cannot use; answered 400."""


async def read(request: web.Request, query: Callable[[AsyncSession], Awaitable[R]]) -> R:
    """Run a read in one transaction; NotFound becomes 404 and a bad cursor 400."""
    try:
        async with request.app[DATABASE].transaction() as session:
            return await query(session)
    except NotFound as exc:
        raise web.HTTPNotFound(text=json.dumps({"error": str(exc)}), content_type=JSON) from None
    except BadCursor as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": str(exc)}), content_type=JSON) from None


def _choice(request: web.Request, name: str, kind: type[E]) -> E | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise BadQuery(f"{name} must be one of {allowed}, not {value!r}") from None


def _int(request: web.Request, name: str, default: int, most: int) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    # Plain digits: int() would also take "1_0", " 1" and other scripts' digits.
    if not (value.isascii() and value.isdigit() and len(value) < 10 and 1 <= int(value) <= most):
        raise BadQuery(f"{name} must be a whole number from 1 to {most}, not {value[:40]!r}")
    return int(value)


def _cursor(request: web.Request, name: str) -> str | None:
    value = request.query.get(name) or None
    if value is not None:
        try:
            decode_cursor(value)
        except BadCursor:
            raise BadQuery(f"{name} must be a page's next_before, not {value[:40]!r}") from None
    return value


_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2999, 12, 31, tzinfo=UTC)


def _search_text(request: web.Request) -> str | None:
    q = request.query.get("q") or None
    if q is not None and ("\x00" in q or len(q) > 200):
        raise BadQuery("q must be text of at most 200 characters")
    return q


def _datetime(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadQuery(f"{name} must be an ISO 8601 date-time, not {value!r}") from None
    if moment.tzinfo is None:
        raise BadQuery(f"{name} needs a time zone (…Z or …+01:00)")
    if not _EARLIEST <= moment <= _LATEST:
        raise BadQuery(f"{name} must be between year 2000 and 2999")
    return moment


def conversation_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such conversation") from None


async def me(request: web.Request, caller: Caller) -> web.StreamResponse:
    return answer(
        {
            "id": caller.agent_id,
            "name": caller.name,
            "email": caller.email,
            "role": caller.role,
            "teams": list(caller.teams),
            "available": caller.available,
            "capacity": caller.capacity,
            "csrf_token": caller.csrf_token,
        }
    )


async def conversations(request: web.Request, caller: Caller) -> web.StreamResponse:
    try:
        channel = _choice(request, "channel", Channel)
        status = _choice(request, "status", ConversationStatus)
        view = _choice(request, "view", View) or View.OPEN
        query = ListFilter(
            view=view,
            channel=channel,
            status=status,
            q=_search_text(request),
            before=_cursor(request, "before"),
            limit=_int(request, "limit", DEFAULT_PAGE, MAX_PAGE),
        )
    except BadQuery as exc:
        return error_response(400, str(exc))
    page = await read(request, lambda s: list_conversations(s, caller.agent_id, query))
    return answer(page)


async def conversation(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    return answer(await read(request, lambda s: conversation_detail(s, cid)))


async def customer(request: web.Request, caller: Caller) -> web.StreamResponse:
    try:
        customer_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such customer") from None
    return answer(await read(request, lambda s: customer_panel(s, customer_id)))


async def canned(request: web.Request, caller: Caller) -> web.StreamResponse:
    try:
        language = _choice(request, "language", Language)
    except BadQuery as exc:
        return error_response(400, str(exc))
    return answer({"canned": await read(request, lambda s: canned_responses(s, language))})


async def agents(request: web.Request, caller: Caller) -> web.StreamResponse:
    """Who a conversation can be transferred to (names, teams, availability, load)."""
    return answer({"agents": await read(request, answering_agents)})


async def metrics(request: web.Request, caller: Caller) -> web.StreamResponse:
    try:
        until = _datetime(request, "until") or utcnow()
        since = _datetime(request, "since") or until - request.app[CONFIG].metrics_period
    except BadQuery as exc:
        return error_response(400, str(exc))
    if until <= since:
        return error_response(400, "since must come before until")
    return answer(await read(request, lambda s: inbox_metrics(s, since, until)))
