"""Test clients on loopback that connect from another address than 127.0.0.1."""

from __future__ import annotations

import secrets
from ipaddress import IPv4Address

from aiohttp import TCPConnector


def from_address(address: str) -> TCPConnector:
    """Connects from `address`; Linux routes the whole of 127.0.0.0/8 to loopback."""
    return TCPConnector(local_addr=(address, 0))


def fresh_address() -> str:
    """An address of 127.0.0.0/8 no other test uses (Redis keeps counts between tests)."""
    return str(IPv4Address(0x7F000000 + secrets.randbelow(0xFFFFFF - 0x10000) + 0x10000))
