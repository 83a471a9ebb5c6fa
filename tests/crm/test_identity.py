"""Finding the customer behind a channel address, without ever merging anyone."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.db import Database
from crm.models import Channel, ChannelIdentity, Customer
from crm.services.identity import find_customer_by_identity
from tests.builders import add_customer, add_identity

PHONE = "+34612345678"


async def test_whatsapp_and_sms_addresses_are_compared_in_e164(db: Database) -> None:
    async with db.transaction() as s:
        ana = await add_customer(s, name="Ana")
        await add_identity(s, ana, Channel.WHATSAPP, PHONE, verified=True)
        await add_identity(s, ana, Channel.SMS, PHONE)

    async with db.transaction() as s:
        whatsapp = await find_customer_by_identity(s, Channel.WHATSAPP, "whatsapp:+34 612 34 56 78")
        sms = await find_customer_by_identity(s, Channel.SMS, "0034 612 345 678")

    assert whatsapp is not None
    assert sms is not None
    assert whatsapp.customer.id == sms.customer.id == ana.id
    assert whatsapp.customer.name == "Ana"
    assert whatsapp.identity.channel == Channel.WHATSAPP
    assert whatsapp.verified is True
    assert sms.verified is False


async def test_other_channels_match_the_trimmed_address_exactly(db: Database) -> None:
    async with db.transaction() as s:
        ana = await add_customer(s)
        await add_identity(s, ana, Channel.TELEGRAM, "987654321", verified=True)

    async with db.transaction() as s:
        found = await find_customer_by_identity(s, Channel.TELEGRAM, " 987654321\n")
        other = await find_customer_by_identity(s, Channel.TELEGRAM, "98765432")

    assert found is not None
    assert found.customer.id == ana.id
    assert other is None


async def test_an_address_known_on_one_channel_is_unknown_on_another(db: Database) -> None:
    async with db.transaction() as s:
        ana = await add_customer(s)
        await add_identity(s, ana, Channel.SMS, PHONE, verified=True)

    async with db.transaction() as s:
        assert await find_customer_by_identity(s, Channel.WHATSAPP, PHONE) is None
        assert await find_customer_by_identity(s, Channel.TELEGRAM, PHONE) is None


async def test_unknown_and_invalid_addresses_find_nobody_and_create_nothing(
    db: Database,
) -> None:
    async with db.transaction() as s:
        await add_customer(s)

    async with db.transaction() as s:
        assert await find_customer_by_identity(s, Channel.SMS, "+34699999999") is None
        assert await find_customer_by_identity(s, Channel.WHATSAPP, "not a phone") is None
        assert await find_customer_by_identity(s, Channel.WEBCHAT, "   ") is None

    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Customer)) == 1
        assert await s.scalar(select(func.count()).select_from(ChannelIdentity)) == 0
