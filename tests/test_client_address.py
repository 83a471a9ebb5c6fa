"""The client's address behind trusted proxies: X-Forwarded-For read from them only."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from aiohttp import web
from multidict import CIMultiDict
from pytest_aiohttp.plugin import AiohttpClient

from adapters.web.client_address import IPNetwork, client_address, forwarded_client
from tests.loopback import from_address

PROXIES = (ip_network("10.0.0.0/8"), ip_network("2001:db8:ffff::/48"))


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("198.51.100.7, 10.0.0.9", "198.51.100.7"),  # through two of our proxies
        # Left of the client's address is what the client sent itself: not read.
        ("6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),
        ("made up, 198.51.100.7", "198.51.100.7"),
    ],
)
def test_a_trusted_proxy_is_believed_up_to_the_first_address_not_trusted(
    forwarded_for: str, client: str
) -> None:
    assert client_address("10.0.0.2", forwarded_for, PROXIES) == client


@pytest.mark.parametrize(
    ("peer", "proxies"),
    [("203.0.113.5", PROXIES), ("10.0.0.2", ())],  # nobody is trusted by default
)
def test_a_peer_that_is_no_trusted_proxy_is_the_client_whatever_it_sends(
    peer: str, proxies: tuple[IPNetwork, ...]
) -> None:
    assert client_address(peer, "198.51.100.7", proxies) == peer


def test_a_chain_of_trusted_proxies_only_is_its_leftmost_address() -> None:
    assert client_address("10.0.0.2", "10.1.2.3, 10.0.0.9", PROXIES) == "10.1.2.3"


@pytest.mark.parametrize(
    "forwarded_for",
    [
        None,
        "",
        " ",
        "unknown",
        "198.51.100.7:51234",
        "[2001:db8::1]",
        "198.51.100.7, garbage",
        "198.51.100.7,,10.0.0.9",
        "198.51.100.7, 10.0.0.9 x",
    ],
)
def test_a_missing_or_malformed_header_leaves_the_peer(forwarded_for: str | None) -> None:
    assert client_address("10.0.0.2", forwarded_for, PROXIES) == "10.0.0.2"


def test_ipv6_clients_and_proxies() -> None:
    chain = "2001:DB8:1:2:0:0:0:ABCD, 2001:db8:ffff::3"
    assert client_address("2001:db8:ffff::2", chain, PROXIES) == "2001:db8:1:2::abcd"
    # An IPv6 client through an IPv4 proxy, and the other way round.
    assert client_address("10.0.0.2", "2001:db8:1:2::abcd", PROXIES) == "2001:db8:1:2::abcd"
    assert client_address("2001:db8:ffff::2", "198.51.100.7", PROXIES) == "198.51.100.7"
    # A proxy reaching a dual-stack listener over IPv4, or forwarding such an address.
    assert client_address("::ffff:10.0.0.2", "198.51.100.7", PROXIES) == "198.51.100.7"
    assert client_address("10.0.0.2", "198.51.100.7, ::ffff:10.0.0.9", PROXIES) == "198.51.100.7"
    assert client_address("2001:db8:1:2::abcd", "198.51.100.7", PROXIES) == "2001:db8:1:2::abcd"


def test_a_peer_without_an_address_stays_so() -> None:
    assert client_address(None, "198.51.100.7", PROXIES) is None  # a Unix socket's


async def test_the_middleware_gives_handlers_the_client_as_request_remote(
    aiohttp_client: AiohttpClient,
) -> None:
    async def remote(request: web.Request) -> web.Response:
        return web.Response(text=str(request.remote))

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(str(request.remote))
        await ws.close()
        return ws

    proxies = [ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8")]
    app = web.Application(middlewares=[forwarded_client(proxies)])
    app.router.add_get("/remote", remote)
    app.router.add_get("/ws", socket)
    proxy = await aiohttp_client(app)
    direct = await aiohttp_client(proxy.server, connector=from_address("127.0.0.2"))

    forwarded = CIMultiDict([("X-Forwarded-For", "198.51.100.7")])
    assert await (await proxy.get("/remote", headers=forwarded)).text() == "198.51.100.7"
    assert await (await proxy.get("/remote")).text() == "127.0.0.1"
    assert await (await direct.get("/remote", headers=forwarded)).text() == "127.0.0.2"
    # Header lines are one list, in order: the last line is the nearest proxy's.
    lines = CIMultiDict(("X-Forwarded-For", a) for a in ("6.6.6.6", "198.51.100.8", "10.0.0.9"))
    assert await (await proxy.get("/remote", headers=lines)).text() == "198.51.100.8"
    # The web chat's socket is opened through the same middleware.
    ws = await proxy.ws_connect("/ws", headers=forwarded)
    assert await ws.receive_str() == "198.51.100.7"
    await ws.close()
