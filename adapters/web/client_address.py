"""The client's address behind the reverse proxies the hub trusts (X-Forwarded-For)."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

IPNetwork = IPv4Network | IPv6Network


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str | None:
    """Who sent the request: `peer` (the connection's address), or past trusted proxies.

    Each proxy appends to X-Forwarded-For the address it was called from. Only a
    trusted peer's header is read, and only as far as trusted proxies wrote it: from
    the right, the first address that is not a trusted proxy is the client's; what
    stands left of it the client wrote itself and may have made up. A chain of trusted
    proxies only (a request from inside) is its leftmost address. A header that is not
    addresses where it is read says nothing: `peer` it is.
    """
    if not forwarded_for or not _in(_address(peer), trusted):
        return peer
    client = peer
    for hop in reversed(forwarded_for.split(",")):
        ip = _address(hop.strip())
        if ip is None:
            return peer
        client = str(ip)
        if not _in(ip, trusted):
            break
    return client


def forwarded_client(trusted: Sequence[IPNetwork]) -> Middleware:
    """A middleware giving handlers the client's address as `request.remote`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Sent twice, a header is one list in order (RFC 9110, 5.3).
        header = ",".join(request.headers.getall(hdrs.X_FORWARDED_FOR, ()))
        client = client_address(request.remote, header, trusted)
        if client is not None and client != request.remote:
            request = request.clone(remote=client)
        return await handler(request)

    return middleware


def _address(text: str | None) -> IPv4Address | IPv6Address | None:
    try:
        ip = ip_address(text or "")
    except ValueError:
        return None
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # an IPv4 peer of a dual-stack listener
    return ip


def _in(ip: IPv4Address | IPv6Address | None, networks: Sequence[IPNetwork]) -> bool:
    return ip is not None and any(ip in network for network in networks)
