"""Short codes people read aloud and type back (pick-up codes, RMA codes), kept unique."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from crm.models import Base

# Read aloud and typed on phones: no 0/O, 1/I/L to confuse.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
_ATTEMPTS = 8

RowT = TypeVar("RowT", bound=Base)


def new_code(prefix: str = "") -> str:
    return prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def add_with_fresh_code(
    session: AsyncSession,
    column: InstrumentedAttribute[str],
    build: Callable[[str], RowT],
    *,
    prefix: str = "",
) -> RowT:
    """Insert the row `build(code)` makes, drawing a new code while one is taken.

    Each attempt runs in a savepoint, so a clash (with a concurrent insert, maybe)
    undoes only that row. Flush the session's own pending rows first, so the
    savepoint covers nothing else.
    """
    for _ in range(_ATTEMPTS):
        code = new_code(prefix)
        row = build(code)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:
            if await session.scalar(select(column).where(column == code)) is None:
                raise  # some other constraint: not ours to retry
            continue
        return row
    raise RuntimeError(f"no free code for {column} after {_ATTEMPTS} attempts")
