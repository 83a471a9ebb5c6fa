"""Who is calling the inbox: the session cookie, its CSRF token, and what each role may do."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from adapters.web.errors import error_response
from adapters.web.keys import DATABASE, SETTINGS
from crm.models import AgentRole
from crm.services.sessions import IssuedSession, session_agent

SESSION_COOKIE = "omnihub_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"  # the same token in an HTML form
COOKIE_PATH = "/inbox"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Who may do what. Marketers sign in (campaigns) but never read conversations.
EVERYONE = frozenset(AgentRole)
READERS = frozenset({AgentRole.AGENT, AgentRole.SUPERVISOR, AgentRole.ADMIN})
SUPERVISORS = frozenset({AgentRole.SUPERVISOR, AgentRole.ADMIN})


@dataclass(frozen=True)
class Caller:
    """The signed-in agent behind a request, as the session found them."""

    agent_id: int
    name: str
    email: str
    role: AgentRole
    teams: tuple[str, ...]
    available: bool
    capacity: int
    csrf_token: str
    session_id: int

    @property
    def supervises(self) -> bool:
        return self.role in SUPERVISORS


CallerHandler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


def secure_cookies(app: web.Application) -> bool:
    url = app[SETTINGS].public_url
    return url is not None and url.scheme == "https"


def set_session_cookie(
    response: web.StreamResponse, app: web.Application, issued: IssuedSession
) -> None:
    # No Max-Age: the cookie goes with the browser; the server ends idle sessions.
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(app),
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)


async def current_caller(request: web.Request) -> Caller | None:
    """The agent of the request's session cookie; None without a live session."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with request.app[DATABASE].transaction() as session:
        found = await session_agent(session, token)
        if found is None:
            return None
        agent, agent_session = found
        return Caller(
            agent_id=agent.id,
            name=agent.name,
            email=agent.email,
            role=agent.role,
            teams=tuple(agent.teams),
            available=agent.available,
            capacity=agent.capacity,
            csrf_token=agent_session.csrf_token,
            session_id=agent_session.id,
        )


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def guard(roles: frozenset[AgentRole], handler: CallerHandler) -> Handler:
    """The handler for signed-in agents of `roles`: 401 without a session, 403 otherwise.

    Every state-changing request must carry the session's CSRF token in X-CSRF-Token:
    the cookie alone, which a browser sends from any site's forms, proves nothing.
    """

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        caller = await current_caller(request)
        if caller is None:
            return error_response(401, "sign in first", login="/inbox/login")
        if request.method not in SAFE_METHODS and not csrf_matches(
            caller.csrf_token, request.headers.get(CSRF_HEADER)
        ):
            return error_response(403, f"missing or wrong {CSRF_HEADER} header", code="csrf")
        if caller.role not in roles:
            return error_response(
                403, f"the {caller.role} role may not do this", code="forbidden_role"
            )
        return await handler(request, caller)

    return guarded
