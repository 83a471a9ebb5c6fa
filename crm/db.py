"""The database: engine and session factory for SQLite (embedded) or PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Executable, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

DEFAULT_URL = "sqlite+aiosqlite:///./omnihub.db"

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str) -> str:
    """Accept the URLs people write (postgresql://, sqlite:///) and pick async drivers."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        if parsed.drivername not in _ASYNC_DRIVERS.values():
            raise ValueError(
                f"unsupported database URL {parsed.drivername!r}: use sqlite or postgresql"
            )
        return url
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _prepare_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is switched off so that ours below is the
        # only one; the pragmas make the file safe for a web app with several tasks.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # SQLite has one writer. A deferred transaction that reads and then writes
        # fails at once with SQLITE_BUSY when another writer got there first; taking
        # the write lock at BEGIN makes concurrent transactions queue (busy_timeout)
        # instead, which is what keeps reservations correct under concurrency.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Owns one engine and hands out sessions; opened at start, disposed at exit."""

    def __init__(self, url: str = DEFAULT_URL, *, pool_size: int = 10, echo: bool = False):
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        options: dict[str, Any] = {"echo": echo}
        if self.dialect == "postgresql":
            options |= {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
        self.engine = create_async_engine(self.url, **options)
        if self.dialect == "sqlite":
            _prepare_sqlite(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, for SQLAlchemy Core on the hot paths.

        No ORM session: storing and answering messages in batches builds its statements
        once and pays for no identity map. Committed on success, rolled back on error.
        """
        async with self.engine.begin() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


class AutocommitWriter:
    """Writes rows in one round trip per call: on a connection of its own, kept open
    (no checkout, no ping), in autocommit, with one executemany, which asyncpg sends as
    one atomic implicit transaction. For what a webhook's acknowledgement waits for.

    One call at a time (a connection runs one statement at once): callers batch.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: AsyncConnection | None = None

    async def write(self, statement: Executable, rows: list[dict[str, Any]]) -> None:
        for attempt in range(2):
            conn = self._conn or await self._connect()
            try:
                await conn.execute(statement, rows)
                return
            except BaseException as exc:
                await self.close()
                # A connection the server dropped (a restart) is opened again once.
                dropped = isinstance(exc, DBAPIError) and exc.connection_invalidated
                if attempt or not dropped:
                    raise

    async def _connect(self) -> AsyncConnection:
        conn = await self._db.engine.connect()
        self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
