"""The sync API's scalar types: bounded whole numbers, dates, codes and phones.

Each is checked once, here, for every field of its kind (the records in crm/records.py,
the inbox's bodies, segment rules): a value its column cannot hold is a 422 naming the
field, never a 500 from the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
)

# Counts, amounts and line numbers are INTEGER columns (32 bits on PostgreSQL): a larger
# value would fail on insert, failing the whole batch with it, so it is refused here.
MAX_INTEGER = 2**31 - 1
# Ids are BIGINT on PostgreSQL.
MAX_ID = 2**63 - 1
# Dates the hub does arithmetic on (return windows, metrics periods) must keep room to
# add to them; no shop's record is older than 1900 or set beyond 2999.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _fits(max_length: int) -> StringConstraints:
    """Trimmed, non-empty text that fits its column (PostgreSQL enforces the length)."""
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def _http_url(url: str) -> str:
    # Validated as a URL but stored as sent, so the shop reads back what it wrote.
    _URL.validate_python(url)
    return url


_URL = TypeAdapter(AnyHttpUrl)


def _supported(moment: datetime) -> datetime:
    try:
        # Converted first: near year 1 or 9999 the conversion itself leaves the range.
        in_utc = moment.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc < LATEST:
        raise ValueError("must be between the years 1900 and 2999 once in UTC")
    return moment


# Strict: JSON's true, 1.0 and "1" are not whole numbers (lax pydantic takes all three).
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_INTEGER)]
Positive = Annotated[int, Strict(), Field(gt=0, le=MAX_INTEGER)]
Money = Annotated[Count, Field(description="In minor units of the currency (cents...).")]
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID, description="The hub's id.")]
Moment = Annotated[
    AwareDatetime,
    AfterValidator(_supported),
    Field(description="ISO 8601 with a UTC offset, between 1900 and 2999 once in UTC."),
]

ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="The id of this thing in the shop's own systems."),
]
Sku = Annotated[str, _fits(64)]
StoreCode = Annotated[str, _fits(32)]
Currency = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO 4217, e.g. EUR.")
]
Country = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{2}$"), Field(description="ISO 3166-1 alpha-2.")
]
TimeZone = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_timezone),
    Field(description="An IANA time zone, e.g. Europe/Madrid."),
]
HttpUrl = Annotated[str, StringConstraints(max_length=500), AfterValidator(_http_url)]
Phone = Annotated[
    str,
    StringConstraints(max_length=32),
    Field(description="Any common form; stored in E.164. National forms use `country`."),
]
