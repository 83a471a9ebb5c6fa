"""The time zone to read a moment in, from the first of several a record may name."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC_ZONE = ZoneInfo("UTC")


def first_zone(*names: str | None) -> ZoneInfo:
    """The first of `names` that is a known time zone (the customer's, then a store's,
    say); UTC when none is. A zone stored before it was checked never stops an answer."""
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC_ZONE
