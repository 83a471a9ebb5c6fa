"""The fields a segment rule may name: each one's kind, operators and value type."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum

from crm.models.enums import Channel, FunnelStage, Language, SalesChannel
from crm.values import EARLIEST, LATEST

Scalar = str | int | float | bool
# A condition's value once checked: what compile.py turns into SQL.
Value = Scalar | datetime | list[str] | list[int | float] | None


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    CONTAINS = "contains"
    EXISTS = "exists"


class Kind(StrEnum):
    """How a field is stored, which decides how it is compared."""

    CHOICE = "choice"  # a column holding one of a closed set of strings
    TEXT = "text"  # a free text column
    INTEGER = "integer"  # an integer column
    TAGS = "tags"  # a JSON array of strings
    ATTRIBUTE = "attribute"  # one key of the customer's JSON attributes
    ORDER_COUNT = "order_count"  # how many orders
    ORDER_TOTAL = "order_total"  # their summed totals, in one currency
    ORDER_DATE = "order_date"  # when the newest was placed
    ORDER_VALUE = "order_value"  # whether some order has this channel, store, SKU...
    CONSENT = "consent"  # the current marketing decision on a channel


_EQUALITY = frozenset({Op.EQ, Op.NE, Op.IN})
_ORDERING = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})


@dataclass(frozen=True)
class FieldSpec:
    name: str  # as written in rules; "attributes.*" and "consent.*" stand for a family
    kind: Kind
    ops: frozenset[Op]
    choices: tuple[str, ...] = ()  # CHOICE and ORDER_VALUE fields with a closed set
    upper: bool = False  # values compared in upper case (country codes)

    @property
    def orders(self) -> bool:
        return self.name.startswith("orders.")


def _spec(name: str, kind: Kind, ops: frozenset[Op], choices: tuple[str, ...] = ()) -> FieldSpec:
    return FieldSpec(name, kind, ops, choices, upper=name == "country")


_SPECS = (
    _spec("language", Kind.CHOICE, _EQUALITY | {Op.EXISTS}, tuple(Language)),
    _spec("country", Kind.TEXT, _EQUALITY | {Op.EXISTS}),
    _spec("city", Kind.TEXT, _EQUALITY | {Op.EXISTS}),
    _spec("funnel_stage", Kind.CHOICE, _EQUALITY, tuple(FunnelStage)),
    _spec("loyalty_points", Kind.INTEGER, _EQUALITY | _ORDERING),
    _spec("tags", Kind.TAGS, frozenset({Op.CONTAINS, Op.IN, Op.EXISTS})),
    _spec("attributes.*", Kind.ATTRIBUTE, _EQUALITY | _ORDERING | {Op.CONTAINS, Op.EXISTS}),
    _spec("orders.count", Kind.ORDER_COUNT, frozenset({Op.EQ, Op.NE}) | _ORDERING),
    _spec("orders.total_minor", Kind.ORDER_TOTAL, frozenset({Op.EQ, Op.NE}) | _ORDERING),
    _spec("orders.last_placed_at", Kind.ORDER_DATE, frozenset({Op.GTE, Op.LTE, Op.EXISTS})),
    _spec("orders.category", Kind.ORDER_VALUE, _EQUALITY),
    _spec("orders.sku", Kind.ORDER_VALUE, _EQUALITY),
    _spec("orders.sales_channel", Kind.ORDER_VALUE, _EQUALITY, tuple(SalesChannel)),
    _spec("orders.store", Kind.ORDER_VALUE, _EQUALITY),
    _spec("consent.*", Kind.CONSENT, frozenset({Op.EQ, Op.NE, Op.EXISTS})),
)
FIELDS = {spec.name: spec for spec in _SPECS}

# attributes.<key>: keys as the shop names them; the charset keeps JSON paths literal.
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CHANNELS = tuple(Channel)


def field_spec(name: str) -> FieldSpec:
    """The spec of a field name, or ValueError saying which names exist."""
    family, dot, rest = name.partition(".")
    if family == "attributes" and dot:
        if not ATTRIBUTE_KEY.match(rest):
            raise ValueError(
                "an attribute key is 1-64 letters, digits, '_' or '-', "
                f"as in attributes.shoe_size, not {rest!r}"
            )
        return FIELDS["attributes.*"]
    if family == "consent" and dot:
        if rest not in CHANNELS:
            raise ValueError(
                f"consent is per channel: one of consent.{', consent.'.join(CHANNELS)}"
            )
        return FIELDS["consent.*"]
    spec = FIELDS.get(name)
    if spec is None or "*" in name:
        raise ValueError(f"unknown field {name!r}; fields: {', '.join(FIELDS)}")
    return spec


def parse_instant(text: str) -> datetime:
    """An ISO date (midnight UTC) or an ISO datetime with its offset (naive means UTC)."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected an ISO date or datetime, not {text!r}") from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    try:
        # Converted here: near years 1 and 9999 the conversion overflowed in the query.
        in_utc = moment.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc < LATEST:
        raise ValueError(f"expected a date between the years 1900 and 2999, not {text!r}")
    return moment
