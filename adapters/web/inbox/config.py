"""The inbox's tunables, held by the app under one typed key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web


@dataclass(frozen=True)
class InboxConfig:
    heartbeat: float = 25.0  # websocket ping interval; proxies drop idle sockets at 30-60 s
    # How often an open socket checks that its session still holds (logout, expiry).
    session_recheck: float = 60.0
    # Live events waiting for a slow socket; past this it is closed and the page
    # reloads its state, rather than the hub holding an unbounded backlog for it.
    socket_backlog: int = 500
    # Failed sign-ins allowed per email and address within the window, then 429.
    login_failures: int = 5  # per email and address
    # Per account, from any address: guessing one account's password from many
    # addresses is throttled too, later than one address (a lock-out costs the agent).
    account_failures: int = 20
    # Per client address, across every email: spraying one password over many
    # accounts, and a flood of sign-ins from one address, stop here. Good sign-ins are
    # not counted, so an office behind one address signs in whole; its typos add up.
    address_failures: int = 30
    login_window: timedelta = timedelta(minutes=15)
    gauge_period: timedelta = timedelta(hours=24)  # the window of the ratio gauges
    metrics_period: timedelta = timedelta(days=7)  # /inbox/api/metrics without `since`


CONFIG = web.AppKey("inbox_config", InboxConfig)
