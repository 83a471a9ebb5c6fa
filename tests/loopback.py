"""Test clients on loopback that connect from another address than 127.0.0.1."""

from __future__ import annotations

from aiohttp import TCPConnector


def from_address(address: str) -> TCPConnector:
    """Connects from `address`; Linux routes the whole of 127.0.0.0/8 to loopback."""
    return TCPConnector(local_addr=(address, 0))
