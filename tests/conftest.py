"""Fixtures shared by the whole suite: databases on every backend, Redis, settings.

Storage tests take the `db` fixture and run once per backend: SQLite always, and
PostgreSQL when OMNIHUB_TEST_POSTGRES_URL names a server (CI sets it; when it is set
and the server cannot be reached, the tests fail rather than skip).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bots.nlu.embedded import EmbeddedNlu
from crm import migrate
from crm.db import Database, async_url
from crm.models import Base

pytest_plugins = ["tests.chromium"]  # the `chromium` and `browser` fixtures

POSTGRES_URL = os.environ.get("OMNIHUB_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("OMNIHUB_TEST_REDIS_URL")
BACKENDS = ["sqlite", "postgresql"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs on PostgreSQL or Redis, so CI can select them."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            item.add_marker(pytest.mark.postgres)
        if "redis_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy, which is much faster than migrating."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"

    async def build() -> None:
        db = Database(f"sqlite:///{path}")
        await migrate.upgrade(db)
        await db.dispose()  # closing the last connection folds the WAL into the file

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need OMNIHUB_TEST_POSTGRES_URL (CI sets it)")
    server = make_url(async_url(POSTGRES_URL))
    name = f"omnihub_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        database = Database(server.render_as_string(hide_password=False))
        async with database.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
        await database.dispose()

    async def create() -> None:
        await admin(f'CREATE DATABASE "{name}"')
        db = Database(server.set(database=name).render_as_string(hide_password=False))
        await migrate.upgrade(db)
        await db.dispose()

    asyncio.run(create())
    yield server.set(database=name).render_as_string(hide_password=False)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_all(url: str) -> None:
    db = Database(url)
    try:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


def _emptied(url: str) -> str:
    """`url`'s database, every table emptied: in a thread with a loop of its own, since
    the fixture serves synchronous tests (which start their own loops) and async ones."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _truncate_all(url)).result()
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database on the backend under test."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "omnihub.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    # One database serves the whole session: what an earlier test left is removed here,
    # for tests that take only the URL (processes, the CLI) as for those that take `db`.
    return _emptied(str(request.getfixturevalue("postgres_database")))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("Redis tests need OMNIHUB_TEST_REDIS_URL (CI sets it)")
    return REDIS_URL


@pytest.fixture(scope="session")
def nlu() -> EmbeddedNlu:
    """One embedded NLU engine, trained once per test session from bots/data."""
    return EmbeddedNlu.from_files()
