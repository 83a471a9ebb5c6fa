"""How Twilio writes addresses: `whatsapp:`-prefixed on WhatsApp, bare on SMS."""

from __future__ import annotations

from functools import lru_cache

from crm.models import Channel
from crm.phones import InvalidPhone, normalise_phone

WHATSAPP_PREFIX = "whatsapp:"


def channel_of(address: str) -> Channel:
    """The channel a Twilio address belongs to."""
    if address[: len(WHATSAPP_PREFIX)].lower() == WHATSAPP_PREFIX:
        return Channel.WHATSAPP
    return Channel.SMS


def on_channel(channel: Channel, address: str) -> str:
    """The address as Twilio expects it on `channel` (idempotent)."""
    bare = strip_prefix(address)
    return WHATSAPP_PREFIX + bare if channel is Channel.WHATSAPP else bare


def strip_prefix(address: str) -> str:
    address = address.strip()
    if channel_of(address) is Channel.WHATSAPP:
        return address[len(WHATSAPP_PREFIX) :].strip()
    return address


@lru_cache(maxsize=64)
def comparable(address: str) -> str:
    """A form in which two spellings of one sender compare equal.

    A configured sender may be written with spaces or without its prefix, and may be a
    short code or alphanumeric sender id that is no phone number at all.
    """
    bare = strip_prefix(address)
    try:
        return normalise_phone(bare)
    except InvalidPhone:
        return bare
