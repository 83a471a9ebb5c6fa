"""Signing in and out of the inbox, sessions, CSRF, and what each role may read."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pytest_aiohttp.plugin import AiohttpClient
from sqlalchemy import update

from adapters.web.inbox import InboxConfig
from adapters.web.inbox.page import STATIC_DIR
from crm.models import AgentRole, AgentSession, Language, utcnow
from crm.services.sessions import IDLE_TIMEOUT, open_session, session_agent
from crm.services.staff import create_agent
from tests.builders import add_customer
from tests.inbox.conftest import (
    PASSWORD,
    Client,
    Hub,
    MakeHub,
    add_conversation,
    login_form_token,
    sign_in,
)
from tests.loopback import fresh_address, from_address


@pytest.mark.parametrize(
    ("accept_language", "title", "button"),
    [
        ("es-ES,es;q=0.9", "iniciar sesión", "Entrar"),
        ("pt-PT,pt;q=0.9,en;q=0.5", "iniciar sessão", "Entrar"),
        ("de-DE,de;q=0.9,en;q=0.8", "sign in", "Sign in"),
        ("fr;q=0.9, pt;q=0.2, es;q=0.8", "iniciar sesión", "Entrar"),
    ],
)
async def test_the_sign_in_page_speaks_the_browser_language(
    hub: Hub, accept_language: str, title: str, button: str
) -> None:
    client = await hub.new_client()
    response = await client.get("/inbox/login", headers={"Accept-Language": accept_language})
    page = await response.text()
    assert response.status == 200
    assert response.content_type == "text/html"
    assert title in page
    assert f">{button}</button>" in page
    assert 'name="csrf"' in page


async def test_an_agent_signs_in_and_gets_a_secure_session_cookie(hub: Hub) -> None:
    async with hub.db.transaction() as session:
        await create_agent(session, "Sara@Shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    client = await hub.new_client()
    token = await login_form_token(client)
    response = await client.post(
        "/inbox/login",
        data={"email": "sara@shop.test", "password": PASSWORD, "csrf": token},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/inbox"
    cookie = response.cookies["omnihub_session"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/inbox"
    assert not cookie["secure"]  # plain http here; see the https test below

    me = await (await client.get("/inbox/api/me")).json()
    assert me["name"] == "Sara"
    assert me["role"] == "agent"
    assert len(me["csrf_token"]) > 20
    page = await client.get("/inbox", allow_redirects=False)
    assert page.status == 200
    assert page.content_type == "text/html"


async def test_the_session_cookie_is_secure_behind_https(make_hub: MakeHub) -> None:
    hub = await make_hub(OMNIHUB_PUBLIC_URL="https://hub.example.com")
    async with hub.db.transaction() as session:
        await create_agent(session, "a@shop.test", "A", AgentRole.AGENT, PASSWORD)
    client = await hub.new_client()
    form = await client.get("/inbox/login")
    form_cookie = form.cookies["omnihub_login_csrf"]
    assert form_cookie["secure"]
    # The test talks plain http, where a browser would not send Secure cookies back.
    response = await client.post(
        "/inbox/login",
        data={"email": "a@shop.test", "password": PASSWORD, "csrf": form_cookie.value},
        headers={"Cookie": f"omnihub_login_csrf={form_cookie.value}"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.cookies["omnihub_session"]["secure"]


async def test_without_a_session_the_page_sends_to_sign_in_and_the_api_answers_401(
    hub: Hub,
) -> None:
    client = await hub.new_client()
    page = await client.get("/inbox", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/inbox/login"
    api = await client.get("/inbox/api/conversations")
    assert api.status == 401
    assert "error" in await api.json()


async def test_the_page_is_served_with_its_headers_only(hub: Hub) -> None:
    agent = await hub.agent()
    page = await agent.get("/inbox", allow_redirects=False)
    assert page.status == 200
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    # Not also as a static file, without the headers that keep it out of frames.
    static = await agent.get("/inbox/static/inbox.html", allow_redirects=False)
    assert static.status == 303
    assert static.headers["Location"] == "/inbox"
    assert (await agent.get("/inbox/static/inbox.js")).status == 200
    # Nor under another spelling of its path that the static route resolved to the file.
    for spelling in ("inbox.html/", "./inbox.html", "x/../inbox.html", "inbox.css/"):
        other = await agent.get("/inbox/static/" + spelling, allow_redirects=False)
        assert other.status in (303, 404), spelling


JAVASCRIPT = {"text/javascript", "application/javascript"}
MODULES = sorted(path.name for path in STATIC_DIR.glob("*.js"))


async def test_the_pages_modules_and_texts_are_served_as_a_browser_runs_them(hub: Hub) -> None:
    # A module script of another type is refused by the browser (and the strict policy
    # allows no other way in): each module as JavaScript, each text file as JSON.
    # aiohttp names .js files by Python's own table: application/javascript up to 3.11,
    # text/javascript from 3.12; the HTML standard runs both.
    agent = await hub.agent()
    assert {"inbox.js", "texts.js", "api.js", "list.js", "conversation.js"} <= set(MODULES)
    for name in MODULES:
        answer = await agent.get(f"/inbox/static/{name}")
        assert answer.status == 200, name
        assert answer.content_type in JAVASCRIPT, name
    for language in Language:
        answer = await agent.get(f"/inbox/static/texts/{language.value}.json")
        assert answer.status == 200, language
        assert answer.content_type == "application/json", language
        assert (await answer.json())["inbox"]


async def test_a_wrong_password_and_an_unknown_email_are_refused_alike(hub: Hub) -> None:
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    answers = []
    for email, password in [("sara@shop.test", "wrong"), ("nobody@shop.test", PASSWORD)]:
        client = await hub.new_client()
        token = await login_form_token(client)
        response = await client.post(
            "/inbox/login",
            data={"email": email, "password": password, "csrf": token},
            headers={"Accept-Language": "en"},
            allow_redirects=False,
        )
        assert "omnihub_session" not in response.cookies
        page = await response.text()
        answers.append((response.status, "Wrong email or password." in page))
    assert answers == [(401, True), (401, True)]


async def test_repeated_failures_block_that_email_from_that_address(hub: Hub) -> None:
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
        await create_agent(session, "rui@shop.test", "Rui", AgentRole.AGENT, PASSWORD)
    client = await hub.new_client()
    for _ in range(5):
        assert await sign_in(client, "sara@shop.test", "guess") is None
    token = await login_form_token(client)
    blocked = await client.post(
        "/inbox/login",
        data={"email": "sara@shop.test", "password": PASSWORD, "csrf": token},
        allow_redirects=False,
    )
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "omnihub_session" not in blocked.cookies
    # Someone else at the same address is not locked out by Sara's attacker.
    assert await sign_in(client, "rui@shop.test", PASSWORD) is not None


async def test_behind_a_trusted_proxy_an_attacker_does_not_lock_out_the_others(
    make_hub: MakeHub, aiohttp_client: AiohttpClient
) -> None:
    hub = await make_hub(OMNIHUB_TRUSTED_PROXIES="127.0.0.1/32")  # the test client's
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    attacker = await aiohttp_client(hub.server, headers={"X-Forwarded-For": "203.0.113.66"})
    for _ in range(5):
        assert await sign_in(attacker, "sara@shop.test", "guess") is None
    assert await sign_in(attacker, "sara@shop.test", PASSWORD) is None  # 429
    # Sara comes through the same proxy, from her own address.
    sara = await aiohttp_client(hub.server, headers={"X-Forwarded-For": "198.51.100.7"})
    assert await sign_in(sara, "sara@shop.test", PASSWORD) is not None


async def test_a_client_that_is_not_the_proxy_does_not_escape_with_x_forwarded_for(
    make_hub: MakeHub, aiohttp_client: AiohttpClient
) -> None:
    hub = await make_hub(OMNIHUB_TRUSTED_PROXIES="127.0.0.1/32")
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    direct = await aiohttp_client(hub.server, connector=from_address("127.0.0.2"))
    answers = await _guesses(direct, [f"198.51.100.{n}" for n in range(6)])
    assert answers == [401] * 5 + [429]


async def _guesses(client: Client, forwarded: list[str]) -> list[int]:
    """Wrong passwords for Sara, one per X-Forwarded-For address; the answers' statuses."""
    token = await login_form_token(client)
    answers = []
    for address in forwarded:
        response = await client.post(
            "/inbox/login",
            data={"email": "sara@shop.test", "password": "guess", "csrf": token},
            headers={"X-Forwarded-For": address},
            allow_redirects=False,
        )
        answers.append(response.status)
    return answers


async def test_guesses_sent_all_at_once_are_counted_too(hub: Hub) -> None:
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    client = await hub.new_client()
    token = await login_form_token(client)

    async def guess() -> int:
        response = await client.post(
            "/inbox/login",
            data={"email": "sara@shop.test", "password": "guess", "csrf": token},
            allow_redirects=False,
        )
        await response.read()
        return response.status

    answers = await asyncio.gather(*(guess() for _ in range(12)))
    assert sorted(answers) == [401] * 5 + [429] * 7


async def test_the_sign_in_form_needs_its_csrf_token(hub: Hub) -> None:
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    client = await hub.new_client()
    await login_form_token(client)
    forged = await client.post(
        "/inbox/login",
        data={"email": "sara@shop.test", "password": PASSWORD, "csrf": "made-up"},
        allow_redirects=False,
    )
    assert forged.status == 403
    assert "omnihub_session" not in forged.cookies


async def test_logout_needs_the_csrf_token_and_ends_the_session(hub: Hub) -> None:
    sara = await hub.agent()
    refused = await sara.client.post("/inbox/logout", allow_redirects=False)
    assert refused.status == 403
    assert (await sara.get("/inbox/api/me")).status == 200
    cookie = sara.client.session.cookie_jar.filter_cookies(sara.client.make_url("/inbox"))
    stolen = cookie["omnihub_session"].value

    out = await sara.client.post(
        "/inbox/logout", headers={"X-CSRF-Token": sara.csrf}, allow_redirects=False
    )
    assert out.status == 303
    assert out.headers["Location"] == "/inbox/login"
    assert (await sara.get("/inbox/api/me")).status == 401
    # The cookie's value is dead on the server, not just forgotten by the browser.
    replay = await hub.new_client()
    answer = await replay.get("/inbox/api/me", headers={"Cookie": f"omnihub_session={stolen}"})
    assert answer.status == 401


async def test_an_expired_session_is_signed_out(hub: Hub) -> None:
    sara = await hub.agent()
    async with hub.db.transaction() as session:
        await session.execute(
            update(AgentSession)
            .where(AgentSession.agent_id == sara.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await sara.get("/inbox/api/me")).status == 401
    page = await sara.get("/inbox", allow_redirects=False)
    assert page.status == 303


async def test_a_session_expires_after_idling_and_lives_on_while_used(hub: Hub) -> None:
    start = utcnow()
    async with hub.db.transaction() as session:
        agent = await create_agent(session, "a@shop.test", "A", AgentRole.AGENT, PASSWORD)
        issued = await open_session(session, agent, now=start)
    async with hub.db.transaction() as session:
        used = start + IDLE_TIMEOUT - timedelta(minutes=1)
        assert await session_agent(session, issued.token, now=used) is not None
    async with hub.db.transaction() as session:
        # Idle counts from the last use, not from signing in.
        later = used + IDLE_TIMEOUT - timedelta(minutes=1)
        assert await session_agent(session, issued.token, now=later) is not None
        assert await session_agent(session, issued.token, now=later + IDLE_TIMEOUT) is None
        assert await session_agent(session, "not-a-token", now=start) is None


async def test_a_state_change_without_the_csrf_header_is_refused(hub: Hub) -> None:
    sara = await hub.agent()
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone="+34612345678")
        conversation = await add_conversation(session, ana)
    path = f"/inbox/api/conversations/{conversation.id}/claim"
    missing = await sara.client.post(path)
    wrong = await sara.client.post(path, headers={"X-CSRF-Token": sara.csrf[:-1] + "x"})
    assert (missing.status, wrong.status) == (403, 403)
    detail = await sara.json(f"/inbox/api/conversations/{conversation.id}")
    assert detail["summary"]["status"] == "queued"
    assert detail["summary"]["assigned_agent"] is None


async def test_a_marketer_reads_no_conversation(hub: Hub) -> None:
    marketer = await hub.agent(AgentRole.MARKETER)
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone="+34612345678")
        conversation = await add_conversation(session, ana)
    me = await marketer.json("/inbox/api/me")
    assert me["role"] == "marketer"
    for path in [
        "/inbox/api/conversations",
        f"/inbox/api/conversations/{conversation.id}",
        f"/inbox/api/customers/{ana.id}",
        "/inbox/api/canned?language=es",
        "/inbox/api/metrics",
    ]:
        response = await marketer.get(path)
        assert response.status == 403, path
        assert "conversation" not in await response.text()
    claim = await marketer.post(f"/inbox/api/conversations/{conversation.id}/claim")
    assert claim.status == 403
    socket = await marketer.get("/inbox/ws")
    assert socket.status == 403


async def test_an_agent_may_not_assign_queue_or_read_metrics(hub: Hub) -> None:
    sara = await hub.agent()
    rui = await hub.agent()
    async with hub.db.transaction() as session:
        ana = await add_customer(session, name="Ana", phone="+34612345678")
        queued = await add_conversation(session, ana)
    base = f"/inbox/api/conversations/{queued.id}"
    assign = await sara.post(base + "/assign", {"agent_id": rui.id})
    assert assign.status == 403
    assert (await assign.json())["code"] == "forbidden_role"
    assert (await sara.post(base + "/queue")).status == 403
    assert (await sara.get("/inbox/api/metrics")).status == 403
    detail = await sara.json(base)
    assert detail["summary"]["assigned_agent"] is None


async def test_an_ipv6_client_changing_its_address_within_its_64_is_still_limited(
    make_hub: MakeHub, aiohttp_client: AiohttpClient
) -> None:
    hub = await make_hub(OMNIHUB_TRUSTED_PROXIES="127.0.0.1/32")
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    client = await aiohttp_client(hub.server)
    one_64 = [f"2001:db8:1:2::{n + 1:x}" for n in range(6)]
    answers = await _guesses(client, one_64)
    assert answers == [401] * 5 + [429]
    # Another subscriber's /64 is not locked out.
    other = await aiohttp_client(hub.server, headers={"X-Forwarded-For": "2001:db8:1:3::1"})
    assert await sign_in(other, "sara@shop.test", PASSWORD) is not None


async def _spray(client: Client, emails: list[str], language: str = "en") -> list[int]:
    """One password tried on each email in turn, from `client`; the answers' statuses."""
    token = await login_form_token(client)
    answers = []
    for email in emails:
        response = await client.post(
            "/inbox/login",
            data={"email": email, "password": "Winter2026!", "csrf": token},
            headers={"Accept-Language": language},
            allow_redirects=False,
        )
        answers.append(response.status)
        if response.status == 429:
            assert int(response.headers["Retry-After"]) > 0
            assert "desde tu red" in await response.text()
            break
    return answers


async def test_one_password_sprayed_over_many_emails_is_refused_at_that_address(
    hub: Hub, aiohttp_client: AiohttpClient
) -> None:
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    sprayer = await hub.new_client()
    emails = [f"agent{n}@shop.test" for n in range(40)]
    answers = await _spray(sprayer, emails, "es")
    assert answers[-1] == 429
    assert len(answers) < 40
    assert set(answers[:-1]) == {401}
    # The address is held for every email, the right password included.
    assert await sign_in(sprayer, "sara@shop.test", PASSWORD) is None
    # Another address is not.
    elsewhere = await aiohttp_client(hub.server, connector=from_address("127.0.0.3"))
    assert await sign_in(elsewhere, "sara@shop.test", PASSWORD) is not None


async def test_sign_ins_sent_all_at_once_from_one_address_are_counted_before_any_is_checked(
    make_hub: MakeHub,
) -> None:
    hub = await make_hub(config=InboxConfig(address_failures=4))
    client = await hub.new_client()
    token = await login_form_token(client)

    async def guess(n: int) -> int:
        response = await client.post(
            "/inbox/login",
            data={"email": f"agent{n}@shop.test", "password": "guess", "csrf": token},
            allow_redirects=False,
        )
        await response.read()
        return response.status

    answers = await asyncio.gather(*(guess(n) for n in range(12)))
    assert sorted(answers) == [401] * 4 + [429] * 8


async def test_behind_a_trusted_proxy_spraying_is_held_at_the_forwarded_client(
    make_hub: MakeHub, aiohttp_client: AiohttpClient
) -> None:
    hub = await make_hub(
        config=InboxConfig(address_failures=4), OMNIHUB_TRUSTED_PROXIES="127.0.0.1/32"
    )
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    attacker = await aiohttp_client(hub.server, headers={"X-Forwarded-For": "203.0.113.66"})
    assert await _spray(attacker, [f"agent{n}@shop.test" for n in range(6)], "es") == [401] * 4 + [
        429
    ]
    # Sara comes through the same proxy, from her own address.
    sara = await aiohttp_client(hub.server, headers={"X-Forwarded-For": "198.51.100.7"})
    assert await sign_in(sara, "sara@shop.test", PASSWORD) is not None


async def test_good_sign_ins_from_one_address_are_not_counted_against_it(
    make_hub: MakeHub,
) -> None:
    """An office behind one address: its agents sign in all day; only typos add up."""
    hub = await make_hub(config=InboxConfig(address_failures=3))
    async with hub.db.transaction() as session:
        await create_agent(session, "sara@shop.test", "Sara", AgentRole.AGENT, PASSWORD)
    assert await _spray(await hub.new_client(), ["rui@shop.test", "ana@shop.test"]) == [401, 401]
    for _ in range(4):  # each a browser of its own, all from 127.0.0.1
        assert await sign_in(await hub.new_client(), "sara@shop.test", PASSWORD) is not None
    office = await hub.new_client()
    assert await _spray(office, ["leo@shop.test", "eva@shop.test"], "es") == [401, 429]


async def test_over_redis_the_address_limit_holds_across_hub_processes(
    make_hub: MakeHub, aiohttp_client: AiohttpClient, redis_url: str
) -> None:
    config = InboxConfig(address_failures=4)
    one = await make_hub(config=config, OMNIHUB_REDIS_URL=redis_url)
    two = await make_hub(config=config, OMNIHUB_REDIS_URL=redis_url)
    address = fresh_address()  # Redis outlives the test: an address of its own
    first = await aiohttp_client(one.server, connector=from_address(address))
    second = await aiohttp_client(two.server, connector=from_address(address))
    emails = [f"agent{n}@shop.test" for n in range(5)]
    assert await _spray(first, emails[:2]) == [401, 401]
    assert await _spray(second, emails[2:], "es") == [401, 401, 429]
