"""Agents' password hashes (argon2): made for new accounts, checked in threads a few at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# One set of parameters for every hash (argon2-cffi's defaults: 64 MiB, 3 passes,
# about 0.15 s of one core here). The hasher holds no state, so one is shared.
_HASHER = PasswordHasher()


# How much lower than the event loop's thread the checks run (see PasswordChecks).
CHECK_NICENESS = 10


def hash_password(password: str) -> str:
    """The hash to store. Blocks for one hash: for the CLI and the seed, not a request."""
    return _HASHER.hash(password)


@dataclass(frozen=True)
class Check:
    """What checking a password against a stored hash found."""

    matches: bool
    # A new hash of the same password when the stored one has outdated parameters.
    rehashed: str | None = None


class PasswordChecks:
    """Checks passwords off the event loop: in `slots` threads of their own, at low priority.

    A check costs one core about 0.15 s. On the event loop, each sign-in would stall
    every webhook and page for that long; in a new thread per request, a flood would
    start as many threads, each holding 64 MiB. Here a flood queues for the `slots`
    threads (the cores, by default), in order; a check whose caller gave up before
    its turn is dropped. The threads run at a lower priority (nice +10, per thread on
    Linux), so that when sign-ins keep every core busy the event loop's thread still
    gets a core whenever it has work: webhooks and pages go first.

    A check against no stored hash (an unknown email) verifies against a decoy hash
    with the same parameters, so it costs what a wrong password costs and its timing
    does not tell which emails have accounts.
    """

    def __init__(self, slots: int | None = None) -> None:
        self.slots = slots or os.cpu_count() or 1
        self._threads = ThreadPoolExecutor(
            self.slots, thread_name_prefix="password-check", initializer=_give_way
        )
        self._decoy: str | None = None

    async def check(self, stored: str | None, password: str) -> Check:
        """Whether `password` matches `stored` (None: no account, never matches)."""
        # Cancelled while queued (the client hung up), the check is dropped; once
        # running, it ends in its thread, which only then takes the next.
        return await asyncio.wrap_future(self._threads.submit(self._check, stored, password))

    def close(self) -> None:
        """Drops the checks still queued; the ones running end in their threads."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _check(self, stored: str | None, password: str) -> Check:
        if stored is None:
            # Made on first use, in this thread; its password is random and thrown away.
            self._decoy = self._decoy or _HASHER.hash(secrets.token_urlsafe(32))
        try:
            _HASHER.verify(stored or self._decoy or "", password)
        except (VerificationError, InvalidHashError):
            return Check(matches=False)
        if stored is None:
            return Check(matches=False)  # unreachable in practice: a random password
        if _HASHER.check_needs_rehash(stored):
            return Check(matches=True, rehashed=_HASHER.hash(password))
        return Check(matches=True)


def _give_way() -> None:
    # Linux gives each thread its own niceness; elsewhere the checks keep the
    # process's priority and only their number bounds them.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)
