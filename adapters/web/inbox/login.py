"""Signing agents in and out: the sign-in page, its form, and logout."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from html import escape

from aiohttp import web
from redis.asyncio import Redis

from adapters.web.inbox.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    clear_session_cookie,
    csrf_matches,
    current_caller,
    secure_cookies,
    set_session_cookie,
)
from adapters.web.inbox.config import InboxConfig
from adapters.web.inbox.page import PAGE_HEADERS
from adapters.web.inbox.texts import LOGIN, LoginTexts, browser_language
from adapters.web.keys import DATABASE
from adapters.web.throttle import LocalThrottle, RedisThrottle, Throttle, address_key
from crm.services.passwords import PasswordChecks
from crm.services.sessions import open_session, revoke_session
from crm.services.staff import InvalidCredentials, authenticate_agent

LOGIN_PATH = "/inbox/login"
LOGOUT_PATH = "/inbox/logout"
INBOX_PATH = "/inbox"
# The sign-in form's own CSRF token: a double-submit cookie. It is SameSite=Strict, so
# another site's page that posts the form (to sign the victim in as the attacker)
# sends no cookie, and the field it sends cannot match.
FORM_COOKIE = "omnihub_login_csrf"
MAX_EMAIL = 320
MAX_PASSWORD = 1024

THROTTLE = web.AppKey("inbox_login_throttle", Throttle)
ACCOUNT_THROTTLE = web.AppKey("inbox_account_throttle", Throttle)
ADDRESS_THROTTLE = web.AppKey("inbox_address_throttle", Throttle)
PASSWORDS = web.AppKey("inbox_password_checks", PasswordChecks)


def make_throttle(
    config: InboxConfig, redis: Redis | None, *, failures: int | None = None, scope: str = ""
) -> Throttle:
    limit = failures if failures is not None else config.login_failures
    if redis is not None:
        return RedisThrottle(redis, limit, config.login_window, prefix="omnihub:login:" + scope)
    return LocalThrottle(limit, config.login_window)


def attempt_key(email: str, address: str | None) -> str:
    # Hashed: keys may end up in Redis, and emails there would be personal data.
    raw = f"{email.strip().lower()}|{address or '-'}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _page(texts: LoginTexts, language: str, csrf: str, email: str, problem: str | None) -> str:
    alert = f'<p class="problem" role="alert">{escape(problem)}</p>' if problem else ""
    return f"""<!doctype html>
<html lang="{escape(language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(texts.title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/inbox/static/login.css">
</head>
<body>
<main>
<h1>{escape(texts.title)}</h1>
{alert}
<form method="post" action="{LOGIN_PATH}">
<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf)}">
<label for="email">{escape(texts.email_label)}</label>
<input id="email" name="email" type="email" autocomplete="username" required
 maxlength="{MAX_EMAIL}" value="{escape(email)}" autofocus>
<label for="password">{escape(texts.password_label)}</label>
<input id="password" name="password" type="password" autocomplete="current-password"
 required maxlength="{MAX_PASSWORD}">
<button type="submit">{escape(texts.submit)}</button>
</form>
</main>
</body>
</html>
"""


def _form_response(
    request: web.Request, *, status: int = 200, email: str = "", problem: str | None = None
) -> web.Response:
    """The sign-in form, keeping the browser's form token when it has a good one."""
    language = browser_language(request.headers.get("Accept-Language"))
    texts = LOGIN[language]
    token = request.cookies.get(FORM_COOKIE, "")
    if len(token) != 43:  # secrets.token_urlsafe(32)
        token = secrets.token_urlsafe(32)
    response = web.Response(
        text=_page(texts, language.value, token, email, problem),
        status=status,
        content_type="text/html",
        headers=PAGE_HEADERS,
    )
    response.set_cookie(
        FORM_COOKIE,
        token,
        path=LOGIN_PATH,
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request.app),
    )
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    if await current_caller(request) is not None:
        raise web.HTTPSeeOther(INBOX_PATH)
    return _form_response(request)


async def login(request: web.Request) -> web.StreamResponse:
    texts = LOGIN[browser_language(request.headers.get("Accept-Language"))]
    form = await request.post()
    email = str(form.get("email", ""))[:MAX_EMAIL].strip()
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    cookie = request.cookies.get(FORM_COOKIE, "")
    field = str(form.get(CSRF_FIELD, ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), field.encode()):
        return _form_response(request, status=403, email=email, problem=texts.expired)
    # request.remote is the client's, also behind OMNIHUB_TRUSTED_PROXIES (client_address.py).
    # An IPv6 client counts by its /64, which one subscriber holds whole.
    address = address_key(request.remote)
    limits = (
        # First the address, across emails: it stops spraying and floods from one place.
        (request.app[ADDRESS_THROTTLE], address, texts.throttled_address),
        (request.app[THROTTLE], attempt_key(email, address), texts.throttled),
        (request.app[ACCOUNT_THROTTLE], attempt_key(email, None), texts.throttled),
    )
    # Refused before the password is checked, which is what costs (PasswordChecks).
    # A refused attempt is not counted: an attacker held at their address adds
    # nothing to the account's count, which would lock its agent out everywhere.
    for throttle, key, problem in limits:
        wait = await throttle.retry_after(key)
        if wait is not None:
            return _throttled(request, email, problem, wait)
    # Counted before the password is checked, and counting decides: guesses sent all
    # at once are counted before any of them is checked.
    for throttle, key, problem in limits:
        wait = await throttle.count(key)
        if wait is not None:
            return _throttled(request, email, problem, wait)
    try:
        agent = await authenticate_agent(
            request.app[DATABASE], request.app[PASSWORDS], email, password
        )
    except InvalidCredentials:
        return _form_response(request, status=401, email=email, problem=texts.wrong)
    # The address counts failures only: an office behind one address signs in whole.
    await request.app[ADDRESS_THROTTLE].forgive(address)
    for throttle, key, _ in limits[1:]:  # the email's failures are forgotten
        await throttle.cleared(key)
    async with request.app[DATABASE].transaction() as session:
        issued = await open_session(session, agent)
    response = web.Response(status=303, headers={"Location": INBOX_PATH})
    set_session_cookie(response, request.app, issued)
    response.del_cookie(FORM_COOKIE, path=LOGIN_PATH)
    return response


def _throttled(request: web.Request, email: str, problem: str, wait: float) -> web.Response:
    response = _form_response(request, status=429, email=email, problem=problem)
    response.headers["Retry-After"] = str(max(1, round(wait)))
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """Revokes the session (the page sends X-CSRF-Token, a form the `csrf` field)."""
    caller = await current_caller(request)
    if caller is not None:
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            given = str((await request.post()).get(CSRF_FIELD, ""))
        if not csrf_matches(caller.csrf_token, given):
            return web.json_response(
                {"error": f"missing or wrong {CSRF_HEADER} header", "code": "csrf"}, status=403
            )
        async with request.app[DATABASE].transaction() as session:
            await revoke_session(session, request.cookies.get(SESSION_COOKIE, ""))
    response = web.Response(status=303, headers={"Location": LOGIN_PATH})
    clear_session_cookie(response)
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get(LOGIN_PATH, login_page, name="inboxLoginPage")
    app.router.add_post(LOGIN_PATH, login, name="inboxLogin")
    app.router.add_post(LOGOUT_PATH, logout, name="inboxLogout")
