"""Web-chat sites and POST /webchat/session: origins, CORS, the identity HMAC, resumed tokens,
the limit of new visitors per address."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY
from pytest_aiohttp.plugin import AiohttpClient
from sqlalchemy import update

from adapters.channels.webchat import WebchatConfig, identity_hash
from adapters.channels.webchat.session import SESSION_ENDED, TOO_MANY_SESSIONS
from adapters.channels.webchat.tokens import (
    TOKEN_TTL,
    InvalidToken,
    SessionClaims,
    issue_token,
    read_token,
)
from adapters.settings import Settings
from adapters.web.app import create_app
from crm.db import Database
from crm.models import WebchatSite
from crm.services.webchat import (
    InvalidSite,
    UnknownSite,
    create_webchat_site,
    get_active_site,
    normalise_origin,
)
from dialogue.local_bus import InProcessBus
from tests.channels.sink import RecordingSink
from tests.channels.webchat_harness import (
    Clock,
    new_site,
    on_both_backends,
    webchat_app,
)
from tests.loopback import from_address
from tests.router.doubles import EchoResponder

SHOP = "https://shop.example"
LIMIT = WebchatConfig().sessions_per_address  # new visitors per address in a window
WINDOW = WebchatConfig().session_window.total_seconds()
Client = TestClient[web.Request, web.Application]
Post = Callable[..., Awaitable[tuple[int, dict[str, Any], dict[str, str]]]]


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the database is incidental here; the site tests run on both


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def site(db: Database) -> WebchatSite:
    return await new_site(db, SHOP, "http://127.0.0.1:8080")


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, db: Database, clock: Clock) -> Client:
    app = webchat_app(db, RecordingSink(), InProcessBus(), WebchatConfig(clock=clock))
    return await aiohttp_client(app)


@pytest.fixture
def post(client: Client, site: WebchatSite) -> Post:
    async def post(
        origin: str | None = SHOP, via: Client = client, **body: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        body.setdefault("site_key", site.site_key)
        headers = {"Origin": origin} if origin is not None else {}
        response = await via.post("/webchat/session", json=body, headers=headers)
        return response.status, await response.json(), dict(response.headers)

    return post


async def new_visitors(post: Post, count: int, **body: Any) -> list[str]:
    """Starts `count` sessions without a token, each of which must be let in."""
    visitors = []
    for _ in range(count):
        status, answer, _ = await post(**body)
        assert status == 200, answer
        visitors.append(answer["visitor_id"])
    return visitors


# -- sites -----------------------------------------------------------------------------


@on_both_backends
async def test_a_new_site_gets_a_public_key_and_fresh_secrets(db: Database) -> None:
    async with db.transaction() as session:
        one = await create_webchat_site(session, " Sol & Mar ", ["HTTPS://Shop.Example:443/"])
        two = await create_webchat_site(session, "Outlet", ["http://localhost:8080"])
    assert one.name == "Sol & Mar"
    assert one.allowed_origins == ["https://shop.example"]
    assert two.allowed_origins == ["http://localhost:8080"]
    assert one.site_key.startswith("wcs_")
    secrets = {one.site_key, one.identity_secret, one.token_secret, two.identity_secret}
    assert len(secrets) == 4
    assert all(len(s) >= 40 for s in (one.identity_secret, one.token_secret))
    async with db.transaction() as session:
        assert (await get_active_site(session, one.site_key)).id == one.id


@pytest.mark.parametrize(
    "origins",
    [
        [],
        ["shop.example"],
        ["https://shop.example/chat"],
        ["ftp://shop.example"],
        ["https://user:pw@shop.example"],
        ["https://shop.example:99999"],
    ],
)
async def test_a_site_without_usable_origins_is_refused(db: Database, origins: list[str]) -> None:
    async with db.transaction() as session:
        with pytest.raises(InvalidSite):
            await create_webchat_site(session, "Shop", origins)


def test_origins_compare_as_browsers_send_them() -> None:
    assert normalise_origin("https://SHOP.example") == "https://shop.example"
    assert normalise_origin("http://shop.example:80") == "http://shop.example"
    assert normalise_origin("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert normalise_origin("http://[::1]:8080") == "http://[::1]:8080"


@on_both_backends
async def test_an_inactive_or_unknown_site_is_not_found(db: Database, site: WebchatSite) -> None:
    async with db.transaction() as session:
        await session.execute(update(WebchatSite).values(active=False))
    async with db.transaction() as session:
        with pytest.raises(UnknownSite):
            await get_active_site(session, site.site_key)
        with pytest.raises(UnknownSite):
            await get_active_site(session, "wcs_nope")


# -- tokens ----------------------------------------------------------------------------


def test_a_token_carries_its_claims_and_expires_after_30_days(clock: Clock) -> None:
    claims = SessionClaims(site_key="wcs_a", visitor_id="v_1", shop_user_id="C-9")
    token = issue_token("secret", claims, clock=clock)
    assert read_token("secret", token, site_key="wcs_a", clock=clock) == claims
    with pytest.raises(InvalidToken):
        read_token("other secret", token, site_key="wcs_a", clock=clock)
    with pytest.raises(InvalidToken):
        read_token("secret", token, site_key="wcs_b", clock=clock)
    clock.advance(TOKEN_TTL.total_seconds() - 60)
    assert read_token("secret", token, site_key="wcs_a", clock=clock) == claims
    clock.advance(120)
    with pytest.raises(InvalidToken):
        read_token("secret", token, site_key="wcs_a", clock=clock)


@pytest.mark.parametrize("token", [None, 42, "", "x" * 5000, "not.a.token", "a.b.c"])
def test_garbage_is_no_token(token: object, clock: Clock) -> None:
    with pytest.raises(InvalidToken):
        read_token("secret", token, site_key="wcs_a", clock=clock)


# -- POST /webchat/session -------------------------------------------------------------


async def test_an_allowed_origin_gets_a_token_for_a_new_visitor(
    post: Post, site: WebchatSite, clock: Clock
) -> None:
    status, body, headers = await post()
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in headers["Vary"]
    claims = read_token(site.token_secret, body["token"], site_key=site.site_key, clock=clock)
    assert claims.visitor_id == body["visitor_id"]
    assert claims.shop_user_id is None
    _, again, _ = await post()
    assert again["visitor_id"] != body["visitor_id"]  # no token given: someone new


@pytest.mark.parametrize("origin", [None, "https://evil.example", "https://shop.example.evil"])
async def test_another_origin_is_refused_without_cors(post: Post, origin: str | None) -> None:
    status, body, headers = await post(origin=origin)
    assert status == 403
    assert body["error"] == "origin not allowed for this site"
    assert "Access-Control-Allow-Origin" not in headers
    assert "token" not in body


async def test_an_unknown_or_inactive_site_is_not_found(
    post: Post, db: Database, site: WebchatSite
) -> None:
    status, body, _ = await post(site_key="wcs_unknown")
    assert (status, body) == (404, {"error": "unknown or inactive site"})
    async with db.transaction() as session:
        await session.execute(update(WebchatSite).values(active=False))
    assert (await post())[0] == 404


@on_both_backends
@pytest.mark.parametrize("site_key", ["wcs_\x00", "\x00"])
async def test_a_site_key_no_database_holds_is_not_found(
    client: Client, site: WebchatSite, site_key: str
) -> None:
    # PostgreSQL refuses NUL in text: the lookup itself failed, a 500 before any check.
    response = await client.post(
        "/webchat/session", json={"site_key": site_key}, headers={"Origin": SHOP}
    )
    assert (response.status, await response.json()) == (
        404,
        {"error": "unknown or inactive site"},
    )
    socket = await client.get("/webchat/ws", params={"site_key": site_key})
    assert socket.status == 404


async def test_a_malformed_request_is_a_400(client: Client, post: Post) -> None:
    response = await client.post("/webchat/session", data=b"{nope", headers={"Origin": SHOP})
    assert response.status == 400
    assert (await response.json())["error"] == "the body must be JSON"
    status, body, _ = await post(site_key=None)
    assert (status, body) == (400, {"error": "site_key is required"})
    status, body, _ = await post(user_id="C-1")
    assert status == 400
    assert "user_hash" in body["error"]


async def test_a_returning_visitor_keeps_their_visitor_id(post: Post) -> None:
    _, first, _ = await post()
    _, second, _ = await post(token=first["token"])
    assert second["visitor_id"] == first["visitor_id"]
    assert second["token"]


async def test_an_expired_token_starts_a_new_visitor(post: Post, clock: Clock) -> None:
    _, first, _ = await post()
    clock.advance(TOKEN_TTL.total_seconds() + 1)
    status, second, _ = await post(token=first["token"])
    assert status == 200
    assert second["visitor_id"] != first["visitor_id"]


async def test_a_forged_or_foreign_token_starts_a_new_visitor(
    post: Post, site: WebchatSite, db: Database, clock: Clock
) -> None:
    forged = issue_token("guessed secret", SessionClaims(site.site_key, "v_victim"), clock=clock)
    status, body, _ = await post(token=forged)
    assert status == 200
    assert body["visitor_id"] != "v_victim"
    other = await new_site(db, SHOP, name="Other shop")
    foreign = issue_token(other.token_secret, SessionClaims(other.site_key, "v_other"), clock=clock)
    assert (await post(token=foreign))[1]["visitor_id"] != "v_other"


async def test_a_shop_user_with_a_good_hash_is_linked(
    post: Post, site: WebchatSite, clock: Clock
) -> None:
    user_hash = identity_hash(site.identity_secret, "C-1001")
    status, body, _ = await post(user_id="C-1001", user_hash=user_hash.upper())
    assert status == 200
    claims = read_token(site.token_secret, body["token"], site_key=site.site_key, clock=clock)
    assert claims.shop_user_id == "C-1001"


async def test_a_bad_hash_is_refused_and_issues_nothing(post: Post, site: WebchatSite) -> None:
    wrong = identity_hash(site.identity_secret, "C-1002")
    status, body, headers = await post(user_id="C-1001", user_hash=wrong)
    assert status == 403
    assert body == {"error": "user_hash does not match user_id"}
    # The shop's own page may read why: the origin is allowed.
    assert headers["Access-Control-Allow-Origin"] == SHOP
    status, body, _ = await post(user_id="C-1001", user_hash="zz")
    assert status == 403
    assert "token" not in body


async def test_logging_in_keeps_the_chat_and_logging_out_starts_afresh(
    post: Post, site: WebchatSite
) -> None:
    user = {"user_id": "C-7", "user_hash": identity_hash(site.identity_secret, "C-7")}
    _, anonymous, _ = await post()
    _, logged_in, _ = await post(token=anonymous["token"], **user)
    assert logged_in["visitor_id"] == anonymous["visitor_id"]
    _, still_in, _ = await post(token=logged_in["token"], **user)
    assert still_in["visitor_id"] == anonymous["visitor_id"]
    # The next person at a shared computer must not read C-7's chat.
    _, logged_out, _ = await post(token=still_in["token"])
    assert logged_out["visitor_id"] != anonymous["visitor_id"]
    other = {"user_id": "C-8", "user_hash": identity_hash(site.identity_secret, "C-8")}
    _, c7_again, _ = await post(**user)
    _, someone_else, _ = await post(token=c7_again["token"], **other)
    assert someone_else["visitor_id"] not in (anonymous["visitor_id"], c7_again["visitor_id"])


@on_both_backends
async def test_signing_in_ends_the_anonymous_token(post: Post, site: WebchatSite) -> None:
    user = {"user_id": "C-1001", "user_hash": identity_hash(site.identity_secret, "C-1001")}
    _, anonymous, _ = await post()
    _, signed_in, _ = await post(token=anonymous["token"], **user)
    assert signed_in["visitor_id"] == anonymous["visitor_id"]
    assert signed_in["token"] != anonymous["token"]
    # Copied from the shared browser before the customer signed in: worth nothing now,
    # with or without the customer's identity, and it makes no new visitor either.
    for body in ({}, user):
        status, answer, headers = await post(token=anonymous["token"], **body)
        assert (status, answer) == (401, {"error": SESSION_ENDED})
        assert headers["Access-Control-Allow-Origin"] == SHOP  # the widget may read why
    # The customer's own token goes on.
    status, again, _ = await post(token=signed_in["token"], **user)
    assert (status, again["visitor_id"]) == (200, anonymous["visitor_id"])
    status, _, _ = await post(token=again["token"], **user)
    assert status == 200


@on_both_backends
async def test_signing_out_or_another_user_ends_the_signed_token(
    post: Post, site: WebchatSite
) -> None:
    def user(user_id: str) -> dict[str, str]:
        return {"user_id": user_id, "user_hash": identity_hash(site.identity_secret, user_id)}

    _, signed_in, _ = await post(**user("C-1001"))
    _, signed_out, _ = await post(token=signed_in["token"])  # the page gives no identity
    assert signed_out["visitor_id"] != signed_in["visitor_id"]
    for body in ({}, user("C-1001")):
        assert (await post(token=signed_in["token"], **body))[0] == 401
    # The anonymous visitor after them goes on as usual.
    status, anonymous, _ = await post(token=signed_out["token"])
    assert (status, anonymous["visitor_id"]) == (200, signed_out["visitor_id"])

    _, first, _ = await post(**user("C-1001"))
    _, second, _ = await post(token=first["token"], **user("C-2002"))
    assert second["visitor_id"] != first["visitor_id"]
    assert (await post(token=first["token"], **user("C-1001")))[0] == 401
    assert (await post(token=second["token"], **user("C-2002")))[0] == 200


@on_both_backends
async def test_one_anonymous_token_signs_in_once(post: Post, site: WebchatSite) -> None:
    user = {"user_id": "C-1001", "user_hash": identity_hash(site.identity_secret, "C-1001")}
    _, anonymous, _ = await post()
    answers = await asyncio.gather(*(post(token=anonymous["token"], **user) for _ in range(4)))
    assert sorted(status for status, _, _ in answers) == [200, 401, 401, 401]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"site_key": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["array", "in-object"],
)
async def test_json_nested_too_deep_is_a_400(client: Client, body: bytes) -> None:
    response = await client.post(
        "/webchat/session",
        data=body,
        headers={"Origin": SHOP, "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["error"] == "the body must be JSON"


@pytest.mark.parametrize("field", ["site_key", "token", "user_id", "user_hash"])
async def test_a_lone_surrogate_in_the_body_is_a_400(
    client: Client, site: WebchatSite, field: str
) -> None:
    body = {"site_key": site.site_key, "user_id": "C-1", "user_hash": "00"}
    raw = json.dumps(body | {field: "PLACEHOLDER"}).replace("PLACEHOLDER", "\\ud800x")
    response = await client.post(
        "/webchat/session",
        data=raw.encode(),
        headers={"Origin": SHOP, "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert "surrogate" in (await response.json())["error"]


async def test_the_preflight_is_answered_for_allowed_origins_only(
    client: Client, site: WebchatSite
) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = await client.options(
        "/webchat/session",
        headers=preflight | {"Origin": SHOP, "Access-Control-Request-Headers": "content-type"},
    )
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP
    assert allowed.headers["Access-Control-Allow-Methods"] == "POST"
    assert allowed.headers["Access-Control-Allow-Headers"] == "Content-Type"
    refused = await client.options(
        "/webchat/session", headers=preflight | {"Origin": "https://evil.example"}
    )
    assert refused.status == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


# -- new visitors per address ----------------------------------------------------------


def _refused() -> float:
    return REGISTRY.get_sample_value("omnihub_webchat_sessions_refused_total") or 0.0


async def test_past_the_limit_a_new_visitor_gets_a_429_that_says_when_and_no_token(
    post: Post,
) -> None:
    assert len(set(await new_visitors(post, LIMIT))) == LIMIT
    refused_before = _refused()
    status, body, headers = await post()
    assert status == 429
    assert _refused() == refused_before + 1  # on /metrics
    assert body == {"error": TOO_MANY_SESSIONS, "retry_after": int(WINDOW)}
    assert headers["Retry-After"] == str(int(WINDOW))  # the clock has not moved
    # The shop's page may read the answer, so the widget can tell the visitor.
    assert headers["Access-Control-Allow-Origin"] == SHOP


async def test_refused_visitors_get_nothing_and_do_not_push_the_window_back(
    post: Post, clock: Clock
) -> None:
    await new_visitors(post, LIMIT)
    clock.advance(WINDOW - 60)
    for _ in range(3):
        status, body, headers = await post()
        assert status == 429
        assert set(body) == {"error", "retry_after"}  # no token, no visitor
        assert headers["Retry-After"] == "60"
    clock.advance(60)
    await new_visitors(post, LIMIT)  # a new window, counted from its first visitor
    assert (await post())[0] == 429


async def test_a_returning_visitor_is_neither_counted_nor_refused(post: Post) -> None:
    _, first, _ = await post()
    for _ in range(LIMIT):
        status, again, _ = await post(token=first["token"])
        assert (status, again["visitor_id"]) == (200, first["visitor_id"])
    await new_visitors(post, LIMIT - 1)
    assert (await post())[0] == 429
    # Their neighbours behind the same address took the window's new sessions.
    status, again, _ = await post(token=first["token"])
    assert (status, again["visitor_id"]) == (200, first["visitor_id"])


async def test_a_token_that_no_longer_holds_counts_as_a_new_visitor(
    post: Post, clock: Clock
) -> None:
    _, first, _ = await post()
    clock.advance(TOKEN_TTL.total_seconds() + 1)  # also ends the window
    await new_visitors(post, LIMIT - 1)
    status, body, _ = await post(token=first["token"])
    assert status == 200
    assert body["visitor_id"] != first["visitor_id"]
    assert (await post(token=first["token"]))[0] == 429


async def test_another_address_is_not_limited_by_this_one(
    aiohttp_client: AiohttpClient, client: Client, post: Post
) -> None:
    await new_visitors(post, LIMIT)
    assert (await post())[0] == 429
    elsewhere: TestClient[Any, Any] = await aiohttp_client(
        client.server, connector=from_address("127.0.0.2")
    )
    await new_visitors(post, LIMIT, via=elsewhere)
    assert (await post(via=elsewhere))[0] == 429


async def test_a_limit_of_zero_is_no_limit(
    aiohttp_client: AiohttpClient, db: Database, site: WebchatSite
) -> None:
    config = WebchatConfig(sessions_per_address=0)
    client = await aiohttp_client(webchat_app(db, RecordingSink(), InProcessBus(), config))
    for _ in range(LIMIT + 1):
        response = await client.post(
            "/webchat/session", json={"site_key": site.site_key}, headers={"Origin": SHOP}
        )
        assert response.status == 200


# -- behind a reverse proxy ------------------------------------------------------------


@pytest.fixture
async def via_proxy(aiohttp_client: AiohttpClient, database_url: str) -> Client:
    """The whole hub, trusting the reverse proxy at 127.0.0.1; 2 new visitors per address."""
    settings = Settings(
        OMNIHUB_DATABASE_URL=database_url,
        OMNIHUB_TRUSTED_PROXIES="127.0.0.1/32",
        OMNIHUB_WEBCHAT_SESSIONS_PER_ADDRESS="2",
    )
    return await aiohttp_client(create_app(settings, responder=EchoResponder()))


async def new_visitor_from(client: TestClient[Any, Any], site: WebchatSite, forwarded: str) -> int:
    response = await client.post(
        "/webchat/session",
        json={"site_key": site.site_key},
        headers={"Origin": SHOP, "X-Forwarded-For": forwarded},
    )
    return response.status


async def test_behind_a_trusted_proxy_each_visitor_address_has_its_own_limit(
    via_proxy: Client, site: WebchatSite
) -> None:
    async def visitors(*forwarded: str) -> list[int]:
        return [await new_visitor_from(via_proxy, site, address) for address in forwarded]

    assert await visitors(*["198.51.100.7"] * 3) == [200, 200, 429]
    assert await visitors(*["198.51.100.8"] * 3) == [200, 200, 429]  # the proxy's other visitor
    # Still an IPv6 subscriber by their /64.
    one_64 = ("2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1::3")
    assert await visitors(*one_64) == [200, 200, 429]
    assert await visitors("2001:db8:0:2::1") == [200]


async def test_a_client_that_is_not_the_proxy_does_not_escape_with_x_forwarded_for(
    aiohttp_client: AiohttpClient, via_proxy: Client, site: WebchatSite
) -> None:
    direct: TestClient[Any, Any] = await aiohttp_client(
        via_proxy.server, connector=from_address("127.0.0.2")
    )
    made_up = [await new_visitor_from(direct, site, f"198.51.100.{n}") for n in range(3)]
    assert made_up == [200, 200, 429]
