"""Consent is an append-only history: the newest decision wins, nothing is erased."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.db import Database
from crm.errors import UnknownCustomer
from crm.models import Channel, Consent, ConsentPurpose
from crm.services.consents import can_send_marketing, current_consent, record_consent
from tests.builders import T0, add_customer

MARKETING = ConsentPurpose.MARKETING


@pytest.fixture
async def ana(db: Database) -> int:
    async with db.transaction() as s:
        return (await add_customer(s, name="Ana")).id


async def test_never_asked_means_no_marketing(db: Database, ana: int) -> None:
    async with db.transaction() as s:
        assert await current_consent(s, ana, Channel.WHATSAPP, MARKETING) is None
        assert await can_send_marketing(s, ana, Channel.WHATSAPP) is False


async def test_opt_out_after_opt_in_keeps_both_and_forbids_marketing(
    db: Database, ana: int
) -> None:
    async with db.transaction() as s:
        await record_consent(s, ana, Channel.WHATSAPP, MARKETING, True, "api", now=T0)
        assert await can_send_marketing(s, ana, Channel.WHATSAPP) is True
    async with db.transaction() as s:
        await record_consent(
            s, ana, Channel.WHATSAPP, MARKETING, False, "keyword:BAJA", now=T0 + timedelta(days=1)
        )

    async with db.transaction() as s:
        assert await current_consent(s, ana, Channel.WHATSAPP, MARKETING) is False
        assert await can_send_marketing(s, ana, Channel.WHATSAPP) is False
        history = (await s.scalars(select(Consent).order_by(Consent.recorded_at))).all()
    assert [(c.granted, c.source) for c in history] == [(True, "api"), (False, "keyword:BAJA")]


async def test_a_new_opt_in_allows_marketing_again(db: Database, ana: int) -> None:
    async with db.transaction() as s:
        for days, granted in [(0, True), (1, False), (2, True)]:
            await record_consent(
                s, ana, Channel.SMS, MARKETING, granted, "api", now=T0 + timedelta(days=days)
            )

    async with db.transaction() as s:
        assert await can_send_marketing(s, ana, Channel.SMS) is True
        assert len((await s.scalars(select(Consent))).all()) == 3


async def test_the_newest_decision_wins_not_the_last_recorded(db: Database, ana: int) -> None:
    async with db.transaction() as s:
        await record_consent(s, ana, Channel.SMS, MARKETING, False, "keyword:STOP", now=T0)
        # An old grant imported afterwards does not undo the later opt-out.
        await record_consent(
            s, ana, Channel.SMS, MARKETING, True, "import", now=T0 - timedelta(days=90)
        )

    async with db.transaction() as s:
        assert await can_send_marketing(s, ana, Channel.SMS) is False


async def test_consent_is_per_channel(db: Database, ana: int) -> None:
    async with db.transaction() as s:
        await record_consent(s, ana, Channel.WHATSAPP, MARKETING, True, "webchat:form", now=T0)

    async with db.transaction() as s:
        assert await can_send_marketing(s, ana, Channel.WHATSAPP) is True
        assert await can_send_marketing(s, ana, Channel.SMS) is False
        assert await current_consent(s, ana, Channel.TELEGRAM, MARKETING) is None


async def test_bad_input_records_nothing(db: Database, ana: int) -> None:
    async with db.transaction() as s:
        with pytest.raises(UnknownCustomer):
            await record_consent(s, ana + 100, Channel.SMS, MARKETING, True, "api")
        for source in ["", "   ", "x" * 65]:
            with pytest.raises(ValueError, match="source"):
                await record_consent(s, ana, Channel.SMS, MARKETING, True, source)

    async with db.transaction() as s:
        assert (await s.scalars(select(Consent))).all() == []
