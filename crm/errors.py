"""Typed domain errors raised by CRM services; callers turn them into words or 4xx."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class DomainError(Exception):
    """A business rule said no. Nothing was changed."""


class NotFound(DomainError):
    pass


class UnknownCustomer(NotFound):
    pass


class UnknownStore(NotFound):
    pass


class UnknownProduct(NotFound):
    """No product or variant with that SKU or id."""


class OrderNotFound(NotFound):
    """No such order for this customer.

    Raised for an order that does not exist and (as NotYourOrder) for one that belongs
    to someone else: a customer must not learn that another person's order exists.
    """


class NotYourOrder(OrderNotFound):
    pass


class IllegalTransition(DomainError):
    """A state machine was asked for a move its transition table does not allow."""

    def __init__(self, what: str, current: str, target: str):
        super().__init__(f"{what} cannot go from {current} to {target}")
        self.what, self.current, self.target = what, current, target


class NoReceipt(NotFound):
    """The order has no till receipt (orders placed online have none)."""

    def __init__(self, order_number: str):
        super().__init__(f"order {order_number} has no receipt")
        self.order_number = order_number


class InvalidQuantity(DomainError):
    def __init__(self, quantity: int, minimum: int, maximum: int):
        super().__init__(f"quantity {quantity} is outside {minimum}..{maximum}")
        self.quantity, self.minimum, self.maximum = quantity, minimum, maximum


class OutOfStock(DomainError):
    """Fewer units are available in the store than were asked for."""

    def __init__(self, sku: str, store_code: str, available: int, requested: int):
        super().__init__(f"{sku} at {store_code}: {requested} requested, {available} available")
        self.sku, self.store_code = sku, store_code
        self.available, self.requested = available, requested


class ReservationNotFound(NotFound):
    """No reservation with that pick-up code (for this customer)."""

    def __init__(self, pickup_code: str):
        super().__init__(f"no reservation {pickup_code}")
        self.pickup_code = pickup_code


class WrongStore(DomainError):
    """A reservation is collected only at the store that holds it."""

    def __init__(self, pickup_code: str, store_code: str, held_at: str):
        super().__init__(f"reservation {pickup_code} is held at {held_at}, not {store_code}")
        self.pickup_code, self.store_code, self.held_at = pickup_code, store_code, held_at


class HoldLimit(StrEnum):
    """Which limit on holds by customers nobody vouched for was reached."""

    UNITS = "units"  # more units in one reservation than such a customer may hold
    HOLDS = "holds"  # already holding as many reservations as such a customer may
    SHARE = "share"  # such customers already hold the store's share of the item


class UnverifiedHoldLimit(DomainError):
    """A customer nobody vouched for asked to hold more than they may; proving who
    they are lifts the limit. `allowed` is the limit reached (units, or reservations);
    for HOLDS, `held_code` is the pick-up code of a reservation they hold."""

    def __init__(self, limit: HoldLimit, *, allowed: int, held_code: str | None = None):
        super().__init__(f"unverified customers may not hold more: {limit} (allowed {allowed})")
        self.limit, self.allowed, self.held_code = limit, allowed, held_code


class ReservationExpired(DomainError):
    """The hold ran out; the expiry job gives the stock back."""

    def __init__(self, pickup_code: str, held_until: datetime):
        super().__init__(f"reservation {pickup_code} expired at {held_until.isoformat()}")
        self.pickup_code, self.held_until = pickup_code, held_until


class NotReturnableReason(StrEnum):
    NOT_RECEIVED = "not_received"  # the customer does not have the goods yet
    CANCELLED = "cancelled"
    WINDOW_CLOSED = "window_closed"


class NotReturnable(DomainError):
    """The order as a whole cannot be returned now; `reason` says why."""

    def __init__(
        self,
        order_number: str,
        reason: NotReturnableReason,
        *,
        deadline: datetime | None = None,
    ):
        super().__init__(f"order {order_number} cannot be returned: {reason}")
        self.order_number, self.reason = order_number, reason
        self.deadline = deadline  # when the window closed, for window_closed


class InvalidReturnProblem(StrEnum):
    EMPTY = "empty"
    UNKNOWN_LINE = "unknown_line"
    DUPLICATE_LINE = "duplicate_line"
    BAD_QUANTITY = "bad_quantity"
    STORE_REQUIRED = "store_required"  # in-store returns name the store
    STORE_NOT_ALLOWED = "store_not_allowed"  # courier returns name none


class InvalidReturn(DomainError):
    """The return request itself is malformed; `problem` says how."""

    def __init__(self, problem: InvalidReturnProblem, *, line_no: int | None = None):
        where = f" (line {line_no})" if line_no is not None else ""
        super().__init__(f"invalid return: {problem}{where}")
        self.problem, self.line_no = problem, line_no


class ExceedsReturnable(DomainError):
    """More units asked back than were bought minus those already being returned."""

    def __init__(self, line_no: int, requested: int, returnable: int):
        super().__init__(f"line {line_no}: {requested} requested, {returnable} returnable")
        self.line_no, self.requested, self.returnable = line_no, requested, returnable


class ReturnNotFound(NotFound):
    def __init__(self, rma_code: str):
        super().__init__(f"no return {rma_code}")
        self.rma_code = rma_code
