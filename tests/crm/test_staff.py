"""Agent accounts and API tokens: hashed secrets, revocation, usage tracking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from crm.db import Database
from crm.models import Agent, AgentRole, ApiToken
from crm.services.passwords import PasswordChecks
from crm.services.staff import (
    AgentExists,
    InvalidCredentials,
    authenticate_agent,
    create_agent,
    create_api_token,
    revoke_api_token,
    verify_api_token,
)
from tests.builders import T0


async def test_an_agent_logs_in_with_the_right_password_only(db: Database) -> None:
    async with db.transaction() as s:
        created = await create_agent(s, " Rosa@Shop.Example ", "Rosa", AgentRole.AGENT, "pa55word!")
    assert created.email == "rosa@shop.example"
    assert "pa55word!" not in created.password_hash
    checks = PasswordChecks()
    agent = await authenticate_agent(db, checks, "ROSA@shop.example", "pa55word!")
    assert agent.id == created.id
    with pytest.raises(InvalidCredentials):
        await authenticate_agent(db, checks, "rosa@shop.example", "pa55word")
    with pytest.raises(InvalidCredentials):
        await authenticate_agent(db, checks, "nobody@shop.example", "pa55word!")


async def test_a_deactivated_agent_cannot_log_in(db: Database) -> None:
    async with db.transaction() as s:
        agent = await create_agent(s, "leo@shop.example", "Leo", AgentRole.MARKETER, "secret-123")
        agent.active = False
    with pytest.raises(InvalidCredentials):
        await authenticate_agent(db, PasswordChecks(), "leo@shop.example", "secret-123")


async def test_one_account_per_email_whatever_the_case(db: Database) -> None:
    async with db.transaction() as s:
        await create_agent(s, "ana@shop.example", "Ana", AgentRole.ADMIN, "secret-123")
    with pytest.raises(AgentExists):
        async with db.transaction() as s:
            await create_agent(s, "ANA@shop.example", "Ana 2", AgentRole.AGENT, "secret-456")
    async with db.transaction() as s:
        assert len((await s.scalars(select(Agent))).all()) == 1


async def test_a_token_is_stored_hashed_and_works_until_revoked(db: Database) -> None:
    async with db.transaction() as s:
        issued = await create_api_token(s, "erp")
    async with db.transaction() as s:
        row = await s.scalar(select(ApiToken))
        assert row is not None
        assert issued.token not in (row.token_hash, row.prefix)
        assert issued.token.startswith(row.prefix)
        found = await verify_api_token(s, issued.token)
        assert found is not None
        assert found.name == "erp"
        assert await verify_api_token(s, issued.token + "x") is None
        assert await revoke_api_token(s, issued.id)
        assert not await revoke_api_token(s, issued.id)
    async with db.transaction() as s:
        assert await verify_api_token(s, issued.token) is None


async def test_token_use_is_recorded_at_most_once_a_minute(db: Database) -> None:
    async with db.transaction() as s:
        issued = await create_api_token(s, "pos")
    for at, expected in [
        (T0, T0),
        (T0 + timedelta(seconds=30), T0),
        (T0 + timedelta(seconds=61), T0 + timedelta(seconds=61)),
    ]:
        async with db.transaction() as s:
            row = await verify_api_token(s, issued.token, now=at)
            assert row is not None
        async with db.transaction() as s:
            assert await s.scalar(select(ApiToken.last_used_at)) == expected


async def test_a_hash_with_outdated_parameters_is_replaced_at_sign_in(db: Database) -> None:
    async with db.transaction() as s:
        agent = await create_agent(s, "eva@shop.example", "Eva", AgentRole.AGENT, "secret-123")
        agent.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash("secret-123")
        old = agent.password_hash
    checks = PasswordChecks()
    assert (await authenticate_agent(db, checks, "eva@shop.example", "secret-123")).id == agent.id
    async with db.transaction() as s:
        stored = await s.scalar(select(Agent.password_hash).where(Agent.id == agent.id))
    assert stored != old
    assert not PasswordHasher().check_needs_rehash(stored)
    assert (await authenticate_agent(db, checks, "eva@shop.example", "secret-123")).id == agent.id
