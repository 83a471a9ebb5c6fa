"""A segment rule compiled to one SQL query: the Select of the matching customers' ids.

Every condition compiles to a predicate on `customers` that is TRUE or FALSE, never
NULL: a customer with no value for a field does not match `eq`, and does match `ne` and
`not`, which are exact complements. Orders conditions are EXISTS / NOT EXISTS
subqueries (aggregates grouped per customer inside them), so the outer query reads each
customer once: nobody is counted twice, and a campaign can freeze an audience with one
INSERT ... SELECT over `customer_ids(...)`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select
from sqlalchemy.orm import aliased

from crm.models import (
    Channel,
    Consent,
    ConsentPurpose,
    Customer,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductVariant,
    Store,
)
from crm.segments import sql
from crm.segments.fields import Kind, Op, Value, field_spec
from crm.segments.rules import AllOf, AnyOf, Condition, NotOf, Rule
from crm.services.consents import is_newest

Predicate = ColumnElement[bool]

_COMPARE: dict[Op, Callable[[Any, Any], Any]] = {
    Op.EQ: operator.eq,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
}


def customer_ids(rule: Rule, *, now: datetime) -> Select[int]:
    """The ids of the customers the rule matches, each once; `now` anchors within_days."""
    return select(Customer.id).where(predicate(rule, now))


def count_of(audience: Select[int]) -> Select[int]:
    """One query counting an audience."""
    return select(func.count()).select_from(audience.subquery())


def predicate(rule: Rule, now: datetime) -> Predicate:
    match rule:
        case AllOf(all=parts):
            return and_(*(predicate(part, now) for part in parts))
        case AnyOf(any=parts):
            return or_(*(predicate(part, now) for part in parts))
        case NotOf(not_=part):
            return not_(predicate(part, now))
        case Condition():
            if rule.op is Op.NE:
                return not_(_condition(rule, Op.EQ, now))
            return _condition(rule, rule.op, now)
    raise TypeError(rule)


def _condition(condition: Condition, op: Op, now: datetime) -> Predicate:
    spec = field_spec(condition.field)
    value = condition.checked
    match spec.kind:
        case Kind.CHOICE | Kind.TEXT | Kind.INTEGER:
            column = getattr(Customer, condition.field)
            return _column(column, op, value)
        case Kind.TAGS:
            return _tags(op, value)
        case Kind.ATTRIBUTE:
            return _attribute(condition.field.partition(".")[2], op, value)
        case Kind.CONSENT:
            channel = Channel(condition.field.partition(".")[2])
            return _consent(channel, op, value)
        case Kind.ORDER_COUNT | Kind.ORDER_TOTAL:
            return _order_aggregate(condition, op, value, now)
        case Kind.ORDER_DATE:
            return _last_placed(condition, op, value, now)
        case Kind.ORDER_VALUE:
            return _order_value(condition, op, value, now)
    raise AssertionError(spec.kind)


def _exists_switch(op: Op, value: Value, present: Predicate) -> Predicate:
    assert op is Op.EXISTS
    return present if value else not_(present)


def _column(column: Any, op: Op, value: Value) -> Predicate:
    if op is Op.EXISTS:
        return _exists_switch(op, value, column.is_not(None))
    match_ = column.in_(value) if op is Op.IN else _COMPARE[op](column, value)
    # `x IS NOT NULL AND x = v` is FALSE (not NULL) for a missing x, so NOT is exact.
    return and_(column.is_not(None), match_)


def _tags(op: Op, value: Value) -> Predicate:
    if op is Op.EXISTS:
        return _exists_switch(op, value, sql.json_array_filled(Customer.tags, None))
    tags = value if isinstance(value, list) else [value]
    return or_(*(sql.json_array_has(Customer.tags, None, tag) for tag in tags))


def _attribute(key: str, op: Op, value: Value) -> Predicate:
    document = Customer.attributes
    if op is Op.EXISTS:
        return _exists_switch(op, value, sql.json_present(document, key))
    if op is Op.CONTAINS:
        return sql.json_array_has(document, key, value)
    values = value if isinstance(value, list) else [value]
    first = values[0]
    typed: Any
    if isinstance(first, bool):
        typed = sql.json_boolean(document, key)
    elif isinstance(first, str):
        typed = sql.json_string(document, key)
    else:
        typed = sql.json_number(document, key)
    return _column(typed, op, value)


def _consent(channel: Channel, op: Op, value: Value) -> Predicate:
    """The newest marketing decision on the channel (crm.services.consents.is_newest)
    is a grant: an opt-out after a grant is no consent, and no decision at all is no
    consent either.
    """
    decision = aliased(Consent)
    on_channel = and_(
        decision.customer_id == Customer.id,
        decision.channel == channel,
        decision.purpose == ConsentPurpose.MARKETING,
    )
    if op is Op.EXISTS:
        return _exists_switch(op, value, exists().where(on_channel))
    granted = exists().where(on_channel, decision.granted.is_(True), is_newest(decision))
    return granted if value else not_(granted)


def _orders(condition: Condition, now: datetime) -> list[Predicate]:
    """The orders a condition looks at: not cancelled, and inside its window if it has one."""
    where = [Order.status != OrderStatus.CANCELLED]
    if condition.within_days is not None:
        where.append(Order.placed_at >= now - timedelta(days=condition.within_days))
    return where


def _of_customer(where: list[Predicate]) -> Predicate:
    return exists().where(Order.customer_id == Customer.id, *where)


def _order_aggregate(condition: Condition, op: Op, value: Value, now: datetime) -> Predicate:
    """Compare each customer's count (or total) of orders; no orders is 0.

    "At least one order" and "none" are EXISTS and NOT EXISTS. Other comparisons group
    the window's orders per customer inside a subquery and find the customers passing;
    when 0 passes too (`orders.count lte 1`), the customers failing are found instead
    and excluded, so customers without orders are in without a join. The planner makes
    both a hash semi- or anti-join: about 3x faster at 1,000,000 customers than a
    correlated count per customer (docs/decisions.md).
    """
    where = _orders(condition, now)
    if condition.currency is not None:
        where.append(Order.currency == condition.currency)
    compare = _COMPARE[op]
    zero_passes = bool(compare(0, value))
    if condition.field == "orders.count":
        # `value` is a whole number, so a test passing 1, 2 and 3 alike passes every n >= 1.
        one_passes = bool(compare(1, value))
        if one_passes != zero_passes and all(compare(n, value) == one_passes for n in (2, 3)):
            return not_(_of_customer(where)) if zero_passes else _of_customer(where)
        measure: Any = func.count()
    else:
        measure = func.sum(Order.total_minor)
    passes = compare(measure, value)
    grouped = (
        select(Order.customer_id)
        .where(*where)
        .group_by(Order.customer_id)
        .having(not_(passes) if zero_passes else passes)
        .subquery()
    )
    found = exists().where(grouped.c.customer_id == Customer.id)
    return not_(found) if zero_passes else found


def _last_placed(condition: Condition, op: Op, value: Value, now: datetime) -> Predicate:
    where = _orders(condition, now)
    if op is Op.EXISTS:
        return _exists_switch(op, value, _of_customer(where))
    assert isinstance(value, datetime)
    if op is Op.GTE:
        return _of_customer([*where, Order.placed_at >= value])
    # The newest is on or before the date: some order, and none after it.
    return and_(_of_customer(where), not_(_of_customer([*where, Order.placed_at > value])))


def _order_value(condition: Condition, op: Op, value: Value, now: datetime) -> Predicate:
    values = value if isinstance(value, list) else [value]
    where = _orders(condition, now)
    match condition.field:
        case "orders.sales_channel":
            return _of_customer([*where, Order.sales_channel.in_(values)])
        case "orders.store":
            # The store that sold it or the one that handed it over: both are visits.
            stores = select(Store.id).where(Store.code.in_(values))
            return _of_customer(
                [*where, or_(Order.store_id.in_(stores), Order.pickup_store_id.in_(stores))]
            )
        case "orders.sku":
            line = exists().where(
                OrderItem.order_id == Order.id,
                OrderItem.variant_id.in_(
                    select(ProductVariant.id).where(ProductVariant.sku.in_(values))
                ),
            )
            return _of_customer([*where, line])
        case "orders.category":
            products = select(Product.id).where(Product.category.in_(values))
            variants = select(ProductVariant.id).where(ProductVariant.product_id.in_(products))
            line = exists().where(
                OrderItem.order_id == Order.id, OrderItem.variant_id.in_(variants)
            )
            return _of_customer([*where, line])
    raise AssertionError(condition.field)
