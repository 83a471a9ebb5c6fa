"""A segment rule as typed JSON: combinators over conditions, each checked against its field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    Tag,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crm.segments.fields import Kind, Op, Value, field_spec, parse_instant

MAX_CHILDREN = 50
MAX_CONDITIONS = 100
MAX_DEPTH = 8
MAX_LIST = 500
MAX_WITHIN_DAYS = 3650
_TEXT_MAX = 120
# Whole numbers a rule may compare with. Loyalty points, counts and totals are bound as
# INTEGER parameters (totals are INTEGER in the sync API too), attributes' numbers as
# BIGINT; beyond them PostgreSQL refused the query's parameter: a 500, not a rule.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# The union's tags appear in pydantic's error locations; they are marked so that
# `location` can drop them and a 422 names the rule's own path ("rule.all[2].value").
_TAG = "~"


def _bad(message: str) -> PydanticCustomError:
    return PydanticCustomError("rule", message)


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)


class Condition(_Node):
    """`{"field": F, "op": OP, "value": V}`; orders.* fields take `within_days`."""

    field: str = Field(
        description="language, country, city, tags, funnel_stage, loyalty_points, "
        "attributes.<key>, orders.count, orders.total_minor, orders.last_placed_at, "
        "orders.category, orders.sku, orders.sales_channel, orders.store, consent.<channel>"
    )
    op: Op
    value: JsonValue = Field(
        None,
        validate_default=True,  # a value left out is checked like any other
        description="Typed by the field: a number for loyalty_points and orders.count, "
        "a list for `in`, an ISO date for orders.last_placed_at, true/false for consent; "
        "omitted (or true/false) for `exists`.",
    )
    within_days: int | None = Field(
        None,
        ge=1,
        le=MAX_WITHIN_DAYS,
        description="orders.* only: count only orders placed in the last N days.",
    )
    currency: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="orders.total_minor only, and required there: totals in this currency.",
    )

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str) -> str:
        try:
            field_spec(name)
        except ValueError as exc:
            raise _bad(str(exc)) from None
        return name

    @field_validator("op")
    @classmethod
    def _op_of_field(cls, op: Op, info: ValidationInfo) -> Op:
        name = info.data.get("field")
        if name is not None:
            spec = field_spec(name)
            if op not in spec.ops:
                allowed = ", ".join(sorted(spec.ops))
                raise _bad(f"{name} takes the operators {allowed}, not {op}")
        return op

    @field_validator("value")
    @classmethod
    def _value_of_field(cls, value: JsonValue, info: ValidationInfo) -> JsonValue:
        name, op = info.data.get("field"), info.data.get("op")
        if name is None or op is None:
            return value  # the field or the operator is wrong already: said there
        try:
            check_value(name, op, value)
        except ValueError as exc:
            raise _bad(str(exc)) from None
        return value

    @field_validator("within_days")
    @classmethod
    def _window_on_orders(cls, days: int | None, info: ValidationInfo) -> int | None:
        name = info.data.get("field")
        if days is not None and name is not None and not field_spec(name).orders:
            raise _bad("within_days applies to orders.* fields only")
        return days

    @model_validator(mode="after")
    def _currency_for_totals(self) -> Condition:
        total = field_spec(self.field).kind is Kind.ORDER_TOTAL
        if total and self.currency is None:
            raise _bad("orders.total_minor needs a currency (totals in EUR and BRL do not add up)")
        if not total and self.currency is not None:
            raise _bad("currency applies to orders.total_minor only")
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Written back as sent: the options a condition does not use are left out.
        dumped: dict[str, Any] = handler(self)
        return {k: v for k, v in dumped.items() if v is not None or k == "field"}

    @property
    def checked(self) -> Value:
        """The value typed (a datetime for dates, True for a bare exists, upper-case countries).

        The model keeps the JSON as written, so a stored rule reads back as it was sent.
        """
        return check_value(self.field, self.op, self.value)


class AllOf(_Node):
    """Customers matching every part."""

    all: list[Rule] = Field(min_length=1, max_length=MAX_CHILDREN)


class AnyOf(_Node):
    """Customers matching at least one part."""

    any: list[Rule] = Field(min_length=1, max_length=MAX_CHILDREN)


class NotOf(_Node):
    """Customers not matching the part: its exact complement (no value counts as no match)."""

    not_: Rule = Field(alias="not")


def _kind(node: Any) -> str | None:
    if isinstance(node, dict):
        for key in ("all", "any", "not"):
            if key in node:
                return _TAG + key
        return _TAG + "field" if "field" in node else None
    kinds: dict[type, str] = {AllOf: "all", AnyOf: "any", NotOf: "not", Condition: "field"}
    kind = kinds.get(type(node))
    return None if kind is None else _TAG + kind


Rule = Annotated[
    Annotated[AllOf, Tag(_TAG + "all")]
    | Annotated[AnyOf, Tag(_TAG + "any")]
    | Annotated[NotOf, Tag(_TAG + "not")]
    | Annotated[Condition, Tag(_TAG + "field")],
    Discriminator(
        _kind,
        custom_error_type="rule",
        custom_error_message='expected {"all": [...]}, {"any": [...]}, {"not": {...}} '
        'or a condition {"field", "op", "value"}',
    ),
]
RULE = TypeAdapter[Rule](Rule)


def location(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """A pydantic error location without the union's tags: ("rule", "all", 2, "value")."""
    return tuple(part for part in loc if not (isinstance(part, str) and part.startswith(_TAG)))


def conditions(rule: Rule) -> list[Condition]:
    """Every condition of the rule, depth first."""
    match rule:
        case AllOf(all=parts) | AnyOf(any=parts):
            return [c for part in parts for c in conditions(part)]
        case NotOf(not_=part):
            return conditions(part)
        case Condition():
            return [rule]
    raise TypeError(rule)


def depth(rule: Rule) -> int:
    match rule:
        case AllOf(all=parts) | AnyOf(any=parts):
            return 1 + max(depth(part) for part in parts)
        case NotOf(not_=part):
            return 1 + depth(part)
    return 0


def check_size(rule: Rule) -> Rule:
    """Refuse rules too big to be a marketer's (each condition is a subquery)."""
    if len(conditions(rule)) > MAX_CONDITIONS:
        raise _bad(f"a rule has at most {MAX_CONDITIONS} conditions")
    if depth(rule) > MAX_DEPTH:
        raise _bad(f"a rule nests at most {MAX_DEPTH} levels")
    return rule


def check_value(name: str, op: Op, value: JsonValue) -> Value:
    """The value typed for the field and operator, or ValueError saying what is expected."""
    spec = field_spec(name)
    if op is Op.EXISTS:
        if value is None:
            return True
        if not isinstance(value, bool):
            raise ValueError("exists takes no value, or true/false")
        return value
    if op is Op.IN:
        if not isinstance(value, list) or not value:
            raise ValueError("in takes a non-empty list")
        if len(value) > MAX_LIST:
            raise ValueError(f"in takes at most {MAX_LIST} values")
        items = [_one(spec.kind, name, op, item, spec.choices, spec.upper) for item in value]
        if len({type(i) is str for i in items}) > 1:
            raise ValueError("in takes all strings or all numbers")
        return items  # type: ignore[return-value]
    return _one(spec.kind, name, op, value, spec.choices, spec.upper)


def _one(
    kind: Kind, name: str, op: Op, value: JsonValue, choices: tuple[str, ...], upper: bool
) -> str | int | float | bool | datetime:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    match kind:
        case Kind.CHOICE | Kind.TEXT | Kind.TAGS | Kind.ORDER_VALUE:
            if not isinstance(value, str) or not value.strip() or len(value) > _TEXT_MAX:
                raise ValueError(f"{name} compares with text (1-{_TEXT_MAX} characters)")
            text = value.strip().upper() if upper else value.strip()
            if choices and text not in choices:
                raise ValueError(f"{name} is one of {', '.join(choices)}, not {value!r}")
            return text
        case Kind.INTEGER | Kind.ORDER_COUNT | Kind.ORDER_TOTAL:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} compares with a whole number")
            if kind is Kind.ORDER_COUNT and value < 0:
                raise ValueError("orders.count is never negative")
            if not -INT32_MAX <= value <= INT32_MAX:
                raise ValueError(
                    f"{name} compares with a whole number from -{INT32_MAX} to {INT32_MAX}"
                )
            return value
        case Kind.ORDER_DATE:
            if not isinstance(value, str):
                raise ValueError(f"{name} compares with an ISO date such as 2026-06-30")
            return parse_instant(value)
        case Kind.CONSENT:
            if not isinstance(value, bool):
                raise ValueError(f"{name} compares with true (granted now) or false")
            return value
        case Kind.ATTRIBUTE:
            if isinstance(value, bool) and op in (Op.EQ, Op.NE):
                return value
            if isinstance(value, int) and number and not -INT64_MAX <= value <= INT64_MAX:
                raise ValueError(
                    f"{name} compares with whole numbers from -{INT64_MAX} to {INT64_MAX}"
                )
            if number or (isinstance(value, str) and len(value) <= _TEXT_MAX):
                return value  # type: ignore[return-value]
            raise ValueError(f"{name} compares with a string, a number or (eq, ne) true/false")
    raise AssertionError(kind)


for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()
