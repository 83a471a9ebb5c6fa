"""The `omnihub` command line, run as a user runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from adapters.cli import cli
from crm import migrate
from crm.db import Database
from crm.models import Agent, AgentRole, Customer, Inventory, Reservation, ReservationStatus, Store
from crm.services.passwords import PasswordChecks
from crm.services.reservations import reserve_item
from crm.services.staff import authenticate_agent, verify_api_token
from tests.builders import T0, add_customer, add_inventory, add_product, add_store

OMNIHUB = Path(sys.executable).with_name("omnihub")


def _invoke(url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"OMNIHUB_DATABASE_URL": url}, input=stdin)
    return result.exit_code, result.output


def _fresh_sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fresh.db'}"


def test_db_upgrade_migrates_a_new_database(tmp_path: Path) -> None:
    url = _fresh_sqlite(tmp_path)
    code, output = _invoke(url, "db", "upgrade")
    assert code == 0, output
    assert "up to date" in output

    async def check() -> bool:
        db = Database(url)
        try:
            return await migrate.is_up_to_date(db)
        finally:
            await db.dispose()

    assert asyncio.run(check())


def test_tokens_create_prints_a_working_token(database_url: str) -> None:
    code, output = _invoke(database_url, "tokens", "create", "erp")
    assert code == 0, output
    token = output.strip()
    assert token.startswith("ohk_")

    async def check() -> str | None:
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                row = await verify_api_token(session, token)
                return row.name if row else None
        finally:
            await db.dispose()

    assert asyncio.run(check()) == "erp"


def test_agents_create_with_a_role(database_url: str) -> None:
    code, output = _invoke(
        database_url,
        *("agents", "create", "Lucia@Shop.Example", "--role", "supervisor", "--password-stdin"),
        stdin="correct horse battery\n",
    )
    assert code == 0, output

    async def check() -> Agent:
        db = Database(database_url)
        try:
            return await authenticate_agent(
                db, PasswordChecks(), "lucia@shop.example", "correct horse battery"
            )
        finally:
            await db.dispose()

    agent = asyncio.run(check())
    assert agent.role is AgentRole.SUPERVISOR
    assert agent.password_hash.startswith("$argon2")

    again = _invoke(
        database_url,
        *("agents", "create", "lucia@shop.example", "--role", "agent", "--password-stdin"),
        stdin="another password\n",
    )
    assert again[0] == 1
    assert "already exists" in again[1]


def test_agents_create_refuses_a_short_password_and_a_bad_role(database_url: str) -> None:
    short = _invoke(
        database_url,
        *("agents", "create", "a@shop.example", "--role", "agent", "--password-stdin"),
        stdin="1234\n",
    )
    assert short[0] == 1
    assert "at least 8" in short[1]
    bad_role = _invoke(database_url, "agents", "create", "a@shop.example", "--role", "boss")
    assert bad_role[0] == 2
    assert "boss" in bad_role[1]


def test_seed_needs_to_be_told_what(tmp_path: Path) -> None:
    code, output = _invoke(_fresh_sqlite(tmp_path), "seed")
    assert code == 2
    assert "--demo" in output


def test_seed_demo_then_bulk_customers(tmp_path: Path) -> None:
    url = _fresh_sqlite(tmp_path)
    code, output = _invoke(url, "seed", "--demo", "--customers", "50")
    assert code == 0, output

    async def counts() -> tuple[int, int]:
        db = Database(url)
        try:
            async with db.transaction() as session:
                stores = await session.scalar(select(func.count()).select_from(Store))
                customers = await session.scalar(select(func.count()).select_from(Customer))
                return int(stores or 0), int(customers or 0)
        finally:
            await db.dispose()

    stores, customers = asyncio.run(counts())
    assert stores > 0
    code, output = _invoke(url, "seed", "--demo")
    assert code == 0
    assert "skipped" in output
    assert asyncio.run(counts()) == (stores, customers)


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    code, output = _invoke(_fresh_sqlite(tmp_path), "serve")
    assert code == 1
    assert "omnihub db upgrade" in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(command: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """`omnihub COMMAND` as a real process, with the embedded defaults but for `env`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    return subprocess.Popen(  # noqa: S603 (our own console script)
        [str(OMNIHUB), command],
        env=inherited | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_until_answers(url: str, process: subprocess.Popen[str], deadline: float) -> int:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            pytest.fail(f"omnihub exited early:\n{process.communicate()[0]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
                return int(response.status)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)  # polling a port with a deadline, not waiting for time to pass
    pytest.fail(f"{url} did not answer within {deadline} s")


def test_serve_runs_a_real_process_and_stops_on_sigterm(database_url: str) -> None:
    port = _free_port()
    process = _spawn("serve", {"OMNIHUB_DATABASE_URL": database_url, "OMNIHUB_PORT": str(port)})
    try:
        assert _wait_until_answers(f"http://127.0.0.1:{port}/readyz", process, 30) == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert f"listening on http://127.0.0.1:{port}" in output
    assert "channel sms: off" in output
    assert "channel telegram: off" in output


def test_worker_process_expires_overdue_holds_and_stops_on_sigterm(database_url: str) -> None:
    async def overdue_hold() -> tuple[int, str]:
        db = Database(database_url)
        try:
            async with db.transaction() as s:
                customer = await add_customer(s)
                store = await add_store(s, "LIS-01")
                variant = (await add_product(s, "TEE")).variants[0]
                inventory = await add_inventory(s, store, variant, 4)
                held = await reserve_item(s, customer.id, store.code, variant.sku, 3, now=T0)
                return inventory.id, held.pickup_code
        finally:
            await db.dispose()

    async def state(inventory_id: int, code: str) -> tuple[ReservationStatus, int]:
        db = Database(database_url)
        try:
            async with db.transaction() as s:
                status = await s.scalar(
                    select(Reservation.status).where(Reservation.pickup_code == code)
                )
                reserved = await s.scalar(
                    select(Inventory.reserved).where(Inventory.id == inventory_id)
                )
                assert status is not None
                assert reserved is not None
                return status, reserved
        finally:
            await db.dispose()

    inventory_id, code = asyncio.run(overdue_hold())
    assert asyncio.run(state(inventory_id, code)) == (ReservationStatus.HELD, 3)
    process = _spawn("worker", {"OMNIHUB_DATABASE_URL": database_url})
    try:
        deadline = time.monotonic() + 30
        while asyncio.run(state(inventory_id, code)) != (ReservationStatus.EXPIRED, 0):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the worker did not expire the hold")
            time.sleep(0.05)  # polling the database with a deadline
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert "expired 1 reservations" in output


def test_demo_serves_the_shop_the_simulator_and_keeps_tokens_out_of_the_logs(
    tmp_path: Path,
) -> None:
    port = _free_port()
    process = _spawn(
        "demo", {"OMNIHUB_DATABASE_URL": _fresh_sqlite(tmp_path), "OMNIHUB_PORT": str(port)}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait_until_answers(f"{base}/readyz", process, 60) == 200
        for page in ("/demo/shop?lang=pt", "/demo/simulator", "/webchat/widget.js"):
            with urllib.request.urlopen(base + page, timeout=5) as response:  # noqa: S310
                assert response.status == 200, page
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert "admin@demo.omnihub.test" in output
    assert "channel simulator:" in output
    assert "/bot" not in output  # a Telegram API URL would carry the bot's token
