"""Returns (RMAs) of order lines from any sales channel, and their status moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.errors import (
    ExceedsReturnable,
    InvalidReturn,
    InvalidReturnProblem,
    NotReturnable,
    NotReturnableReason,
    ReturnNotFound,
    UnknownStore,
)
from crm.models import (
    RECEIVED_STATUSES,
    Order,
    OrderStatus,
    Return,
    ReturnItem,
    ReturnMethod,
    ReturnReason,
    ReturnStatus,
    Store,
    utcnow,
)
from crm.services.codes import add_with_fresh_code
from crm.services.orders import get_order
from crm.transitions import TransitionTable, check

RETURN_WINDOW = timedelta(days=30)

CODE_PREFIX = "RMA-"

# requested ──receive──▶ received ──refund──▶ refunded
#     │                      │
#     └──────reject──────────┴──reject──▶ rejected
TRANSITIONS = TransitionTable[ReturnStatus](
    "return",
    {
        ReturnStatus.REQUESTED: frozenset({ReturnStatus.RECEIVED, ReturnStatus.REJECTED}),
        ReturnStatus.RECEIVED: frozenset({ReturnStatus.REFUNDED, ReturnStatus.REJECTED}),
        ReturnStatus.REFUNDED: frozenset(),
        ReturnStatus.REJECTED: frozenset(),
    },
)


@dataclass(frozen=True)
class ReturnLine:
    """Return `quantity` units of the order's line `line_no`."""

    line_no: int
    quantity: int


def rma_code_key(code: str) -> str:
    """Codes as people type them back: " rma-7kq2m9 " or "7KQ2M9" is RMA-7KQ2M9."""
    text = "".join(code.split()).upper()
    return text if text.startswith(CODE_PREFIX) else CODE_PREFIX + text


def why_not_returnable(
    order: Order, now: datetime, window: timedelta = RETURN_WINDOW
) -> NotReturnable | None:
    """Why the order as a whole cannot be returned now (not yet received, cancelled, or
    past `window` from its receipt), or None when it can.

    start_return raises this answer; the chatbot asks it to tell a customer "too late"
    before they choose what to send back, not after.
    """
    if order.status == OrderStatus.CANCELLED:
        return NotReturnable(order.number, NotReturnableReason.CANCELLED)
    if order.status not in RECEIVED_STATUSES:
        return NotReturnable(order.number, NotReturnableReason.NOT_RECEIVED)
    # A received order without a date counts from when it was placed: that can only
    # shorten the window, never stretch it beyond the policy.
    deadline = (order.received_at or order.placed_at) + window
    if now > deadline:
        return NotReturnable(order.number, NotReturnableReason.WINDOW_CLOSED, deadline=deadline)
    return None


async def returned_quantities(session: AsyncSession, order_ids: Sequence[int]) -> dict[int, int]:
    """Units per order item already covered by returns that were not rejected: what is
    left to return of a line is what was bought minus this."""
    if not order_ids:
        return {}
    rows = await session.execute(
        select(ReturnItem.order_item_id, func.sum(ReturnItem.quantity))
        .join(Return, Return.id == ReturnItem.return_id)
        .where(Return.order_id.in_(order_ids), Return.status != ReturnStatus.REJECTED)
        .group_by(ReturnItem.order_item_id)
    )
    return {item_id: int(total) for item_id, total in rows}


async def start_return(
    session: AsyncSession,
    customer_id: int,
    order_number: str,
    lines: Sequence[ReturnLine],
    reason: ReturnReason,
    method: ReturnMethod,
    *,
    store_code: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
    window: timedelta = RETURN_WINDOW,
) -> Return:
    """Open a return of some units of some lines of one of the customer's orders.

    The same rules hold whatever channel sold the order. The order must be the
    customer's (OrderNotFound / NotYourOrder, as get_order), be received and within
    `window` of its receipt (NotReturnable says not_received, cancelled or
    window_closed). Each line must be on the order, once, with a positive quantity
    (InvalidReturn), and no more than was bought minus what other returns not
    rejected already cover (ExceedsReturnable). In-store returns name an active store
    of the chain (UnknownStore); courier returns name none. The refund is the lines'
    unit price times quantity, in the order's currency.

    The order row is locked first, so two concurrent returns of the same line cannot
    both see it as still returnable.
    """
    now = now or utcnow()
    _check_lines(lines)
    if method == ReturnMethod.IN_STORE and not store_code:
        raise InvalidReturn(InvalidReturnProblem.STORE_REQUIRED)
    if method == ReturnMethod.COURIER and store_code:
        raise InvalidReturn(InvalidReturnProblem.STORE_NOT_ALLOWED)

    order = await get_order(session, customer_id, order_number, for_update=True)
    problem = why_not_returnable(order, now, window)
    if problem is not None:
        raise problem
    items = {item.line_no: item for item in order.items}
    for line in lines:
        if line.line_no not in items:
            raise InvalidReturn(InvalidReturnProblem.UNKNOWN_LINE, line_no=line.line_no)
    returned = await returned_quantities(session, [order.id])
    for line in lines:
        item = items[line.line_no]
        returnable = item.quantity - returned.get(item.id, 0)
        if line.quantity > returnable:
            raise ExceedsReturnable(line.line_no, line.quantity, max(0, returnable))

    store = None
    if store_code:
        store = await session.scalar(
            select(Store).where(Store.code == store_code.strip(), Store.active.is_(True))
        )
        if store is None:
            raise UnknownStore(f"no active store {store_code!r}")

    def build(code: str) -> Return:
        return Return(
            rma_code=code,
            order=order,
            customer_id=customer_id,
            reason=reason,
            note=note,
            method=method,
            store=store,
            status=ReturnStatus.REQUESTED,
            refund_minor=sum(items[ln.line_no].unit_price_minor * ln.quantity for ln in lines),
            currency=order.currency,
            created_at=now,
            updated_at=now,
            items=[ReturnItem(order_item=items[ln.line_no], quantity=ln.quantity) for ln in lines],
        )

    await session.flush()
    return await add_with_fresh_code(session, Return.rma_code, build, prefix=CODE_PREFIX)


async def receive_return(
    session: AsyncSession, rma_code: str, *, now: datetime | None = None
) -> Return:
    """The goods are back at the shop or warehouse: requested -> received."""
    return await _advance(session, rma_code, ReturnStatus.RECEIVED, now)


async def refund_return(
    session: AsyncSession, rma_code: str, *, now: datetime | None = None
) -> Return:
    """The customer got their money back: received -> refunded."""
    return await _advance(session, rma_code, ReturnStatus.REFUNDED, now)


async def reject_return(
    session: AsyncSession, rma_code: str, *, now: datetime | None = None
) -> Return:
    """The return is refused (requested or received -> rejected).

    Its quantities become returnable again, for a corrected return.
    """
    return await _advance(session, rma_code, ReturnStatus.REJECTED, now)


def _check_lines(lines: Sequence[ReturnLine]) -> None:
    if not lines:
        raise InvalidReturn(InvalidReturnProblem.EMPTY)
    seen: set[int] = set()
    for line in lines:
        if line.quantity < 1:
            raise InvalidReturn(InvalidReturnProblem.BAD_QUANTITY, line_no=line.line_no)
        if line.line_no in seen:
            raise InvalidReturn(InvalidReturnProblem.DUPLICATE_LINE, line_no=line.line_no)
        seen.add(line.line_no)


async def _advance(
    session: AsyncSession, rma_code: str, target: ReturnStatus, now: datetime | None
) -> Return:
    """Move a return along its table, conditional on the status it was read in.

    A concurrent move that got there first makes this one an IllegalTransition.
    """
    now = now or utcnow()
    key = rma_code_key(rma_code)
    rma = await session.scalar(
        select(Return)
        .where(Return.rma_code == key)
        .options(selectinload(Return.items), selectinload(Return.store))
        .execution_options(populate_existing=True)
    )
    if rma is None:
        raise ReturnNotFound(key)
    current = rma.status
    check(TRANSITIONS, current, target)
    moved = await session.scalar(
        update(Return)
        .where(Return.id == rma.id, Return.status == current)
        .values(status=target, updated_at=now)
        .returning(Return.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(rma, ["status", "updated_at"])
    if moved is None:
        raise TRANSITIONS.error(rma.status, target)
    return rma
