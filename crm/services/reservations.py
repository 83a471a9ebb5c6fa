"""Holding items in a store for pick-up: reserve, collect, cancel and expire.

Stock and status only ever change through conditional UPDATEs, never read-then-write:
`reserved` grows only WHERE enough is available, and a reservation leaves `held`
only WHERE it is still held. So concurrent customers can never over-reserve, and two
concurrent closings (a cancel racing the expiry job) give the stock back once.

A customer nobody vouched for (`nobody_vouched`: a chat that proved nothing) costs
nothing to make, so their holds are limited (UNVERIFIED_*): one unit, one reservation
at a time, a shorter hold, and all of them together at most a share of a store's
units of an item. Those limits are checked under locks in reserve_item's own
transaction: the customer's row (their attempts queue one behind the other) and the
inventory row (everyone's attempts on that shelf do), so no concurrency passes them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import ColumnElement, and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.errors import (
    HoldLimit,
    InvalidQuantity,
    OutOfStock,
    ReservationExpired,
    ReservationNotFound,
    UnknownCustomer,
    UnknownProduct,
    UnknownStore,
    UnverifiedHoldLimit,
    WrongStore,
)
from crm.models import (
    ChannelIdentity,
    Customer,
    Inventory,
    ProductVariant,
    Reservation,
    ReservationStatus,
    Store,
    utcnow,
)
from crm.services.codes import add_with_fresh_code
from crm.transitions import TransitionTable, check

MIN_QUANTITY, MAX_QUANTITY = 1, 10
DEFAULT_HOLD = timedelta(hours=48)
# Reservations one expiry sweep closes at most; the next sweep takes the rest.
EXPIRY_BATCH = 500

# What a customer nobody vouched for may hold: a script opening throwaway chats must not
# be able to empty a shop's shelves, and a person proves who they are in a minute (a
# one-time code, the shop's sign-in) to reserve like anyone else.
UNVERIFIED_UNITS = 1  # in one reservation
UNVERIFIED_HOLDS = 1  # held at once
UNVERIFIED_HOLD = timedelta(hours=2)
# All of them together hold at most this share of a store's units of an item, rounded
# down: whatever number of chats a script opens, the rest, and the last unit, stay for
# customers who said who they are and for people walking in.
UNVERIFIED_SHARE = Fraction(1, 2)


# held ──collect──▶ collected
#   ├───cancel───▶ cancelled
#   └───expire───▶ expired     (expire_reservations, in one UPDATE WHERE still held)
TRANSITIONS = TransitionTable[ReservationStatus](
    "reservation",
    {
        ReservationStatus.HELD: frozenset(
            {ReservationStatus.COLLECTED, ReservationStatus.EXPIRED, ReservationStatus.CANCELLED}
        ),
        ReservationStatus.COLLECTED: frozenset(),
        ReservationStatus.EXPIRED: frozenset(),
        ReservationStatus.CANCELLED: frozenset(),
    },
)


def pickup_code_key(code: str) -> str:
    """Codes as people type them back: " k7m-2pq " is K7M2PQ."""
    return "".join(code.split()).replace("-", "").upper()


def nobody_vouched() -> ColumnElement[bool]:
    """Whether nobody vouched for the customer (a query on `customers`): the shop does
    not know them (no external id: neither its systems nor its signed web-chat login),
    and they write only from chat identities nobody verified (web chat without the
    shop's signature, Telegram without a shared contact, no one-time code). A customer
    with no chat identity at all is one of the shop's own records."""
    identities = select(ChannelIdentity.id).where(ChannelIdentity.customer_id == Customer.id)
    return and_(
        Customer.external_id.is_(None),
        identities.exists(),
        ~identities.where(ChannelIdentity.verified.is_(True)).exists(),
    )


@dataclass(frozen=True)
class HoldTerms:
    """How a reservation would be held for a customer."""

    hold: timedelta
    limited: bool  # nobody vouched for the customer: UNVERIFIED_* apply


async def reserve_item(
    session: AsyncSession,
    customer_id: int,
    store_code: str,
    sku: str,
    quantity: int,
    *,
    hold: timedelta = DEFAULT_HOLD,
    now: datetime | None = None,
) -> Reservation:
    """Hold `quantity` units of a variant at a store for the customer to pick up.

    The stock is taken by one conditional UPDATE (only where enough is available), so
    no interleaving of concurrent calls can reserve more than the store has. Raises
    InvalidQuantity outside 1..10, UnknownCustomer, UnknownStore (or inactive),
    UnknownProduct, OutOfStock with what is available, and UnverifiedHoldLimit past
    the limits for customers nobody vouched for. The reservation is held until
    now + hold (for those customers, at most UNVERIFIED_HOLD) and comes with its store
    and variant (and product) loaded.
    """
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise InvalidQuantity(quantity, MIN_QUANTITY, MAX_QUANTITY)
    if hold <= timedelta(0):
        raise ValueError(f"hold must be positive, not {hold}")
    now = now or utcnow()
    limited = await _limited(session, customer_id)
    store = await _active_store(session, store_code)
    variant = await _variant(session, sku)
    if limited:
        hold = await _check_limits(session, customer_id, store, variant, quantity, hold, lock=True)

    taken = await session.scalar(
        update(Inventory)
        .where(
            Inventory.store_id == store.id,
            Inventory.variant_id == variant.id,
            Inventory.on_hand - Inventory.reserved >= quantity,
        )
        .values(reserved=Inventory.reserved + quantity, updated_at=now)
        .returning(Inventory.id)
        .execution_options(synchronize_session=False)
    )
    if taken is None:
        left = await session.scalar(
            select(Inventory.on_hand - Inventory.reserved).where(
                Inventory.store_id == store.id, Inventory.variant_id == variant.id
            )
        )
        raise OutOfStock(variant.sku, store.code, max(0, left or 0), quantity)

    await session.flush()
    return await add_with_fresh_code(
        session,
        Reservation.pickup_code,
        lambda code: Reservation(
            customer_id=customer_id,
            store=store,
            variant=variant,
            quantity=quantity,
            pickup_code=code,
            status=ReservationStatus.HELD,
            held_until=now + hold,
            created_at=now,
        ),
    )


async def check_hold(
    session: AsyncSession,
    customer_id: int,
    store_code: str,
    sku: str,
    quantity: int,
    *,
    hold: timedelta = DEFAULT_HOLD,
) -> HoldTerms:
    """How reserve_item would hold this now, or the UnverifiedHoldLimit it would raise.

    For a confirmation question ("for 2 hours?"): it locks nothing and takes nothing,
    so reserve_item checks again when the customer says yes. Whether there is enough
    stock is reserve_item's to say (OutOfStock).
    """
    limited = await _limited(session, customer_id)
    if limited:
        store = await _active_store(session, store_code)
        variant = await _variant(session, sku)
        hold = await _check_limits(session, customer_id, store, variant, quantity, hold, lock=False)
    return HoldTerms(hold, limited)


async def collect_reservation(
    session: AsyncSession, pickup_code: str, store_code: str, *, now: datetime | None = None
) -> Reservation:
    """The customer picks the items up: the hold ends and the units leave the shelf.

    Only at the reservation's own store (WrongStore otherwise) and only while it is
    held and in time (ReservationExpired once held_until has passed). Both on_hand
    and reserved drop by the quantity.
    """
    now = now or utcnow()
    store = await _active_store(session, store_code)
    reservation = await _by_code(session, pickup_code)
    if reservation is None:
        raise ReservationNotFound(pickup_code_key(pickup_code))
    if reservation.store_id != store.id:
        raise WrongStore(reservation.pickup_code, store.code, reservation.store.code)
    check(TRANSITIONS, reservation.status, ReservationStatus.COLLECTED)
    if reservation.held_until < now:
        raise ReservationExpired(reservation.pickup_code, reservation.held_until)
    await _close(session, reservation, ReservationStatus.COLLECTED, now)
    await session.execute(
        update(Inventory)
        .where(
            Inventory.store_id == reservation.store_id,
            Inventory.variant_id == reservation.variant_id,
        )
        .values(
            reserved=Inventory.reserved - reservation.quantity,
            # The shop's count may already be lower than what we held (see Inventory).
            on_hand=case(
                (
                    Inventory.on_hand > reservation.quantity,
                    Inventory.on_hand - reservation.quantity,
                ),
                else_=0,
            ),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return reservation


async def cancel_reservation(
    session: AsyncSession, customer_id: int, pickup_code: str, *, now: datetime | None = None
) -> Reservation:
    """The customer no longer wants the items: the hold ends and the stock comes back.

    Only the owner can cancel: another customer's code raises ReservationNotFound, as
    an unknown code does. A reservation that is no longer held raises
    IllegalTransition, also when a concurrent cancel or expiry got there first.
    """
    now = now or utcnow()
    reservation = await _by_code(session, pickup_code)
    if reservation is None or reservation.customer_id != customer_id:
        raise ReservationNotFound(pickup_code_key(pickup_code))
    check(TRANSITIONS, reservation.status, ReservationStatus.CANCELLED)
    await _close(session, reservation, ReservationStatus.CANCELLED, now)
    await _release(session, reservation.store_id, reservation.variant_id, reservation.quantity, now)
    return reservation


async def expire_reservations(
    session: AsyncSession, *, now: datetime | None = None, limit: int = EXPIRY_BATCH
) -> int:
    """Expire held reservations whose hold has passed (up to `limit`); stock comes back.

    Returns how many were expired. The UPDATE claims them WHERE still held, so a
    reservation cancelled or collected meanwhile is skipped, never released twice. On
    PostgreSQL the rows are picked in id order with SKIP LOCKED: two expiry runs in
    different processes split the work instead of deadlocking on each other's rows.
    """
    now = now or utcnow()
    due = (
        select(Reservation.id)
        .where(Reservation.status == ReservationStatus.HELD, Reservation.held_until < now)
        .order_by(Reservation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = (
        await session.execute(
            update(Reservation)
            .where(Reservation.id.in_(due.scalar_subquery()))
            .where(Reservation.status == ReservationStatus.HELD)
            .values(status=ReservationStatus.EXPIRED, closed_at=now)
            .returning(Reservation.store_id, Reservation.variant_id, Reservation.quantity)
            .execution_options(synchronize_session=False)
        )
    ).all()
    released: defaultdict[tuple[int, int], int] = defaultdict(int)
    for store_id, variant_id, quantity in claimed:
        released[store_id, variant_id] += quantity
    # A fixed order of inventory rows, so that two expiry runs cannot deadlock.
    for (store_id, variant_id), quantity in sorted(released.items()):
        await _release(session, store_id, variant_id, quantity, now)
    return len(claimed)


async def _limited(session: AsyncSession, customer_id: int) -> bool:
    """Whether the limits for customers nobody vouched for apply; UnknownCustomer."""
    limited = await session.scalar(select(nobody_vouched()).where(Customer.id == customer_id))
    if limited is None:
        raise UnknownCustomer(f"no customer {customer_id}")
    return bool(limited)


async def _check_limits(
    session: AsyncSession,
    customer_id: int,
    store: Store,
    variant: ProductVariant,
    quantity: int,
    hold: timedelta,
    *,
    lock: bool,
) -> timedelta:
    """Raise UnverifiedHoldLimit past the limits; else the (shorter) hold.

    With `lock`, the customer's row and then the shelf's are locked (on SQLite the
    transaction holds the write lock already) before anything is counted, so that
    concurrent attempts count each other's holds. The lock on the customer is FOR NO
    KEY UPDATE: it does not stop rows pointing at the customer from being written.
    """
    if quantity > UNVERIFIED_UNITS:
        raise UnverifiedHoldLimit(HoldLimit.UNITS, allowed=UNVERIFIED_UNITS)
    if lock:
        await session.execute(
            select(Customer.id).where(Customer.id == customer_id).with_for_update(key_share=True)
        )
    held = (
        await session.scalars(
            select(Reservation.pickup_code)
            .where(
                Reservation.customer_id == customer_id,
                Reservation.status == ReservationStatus.HELD,
            )
            .order_by(Reservation.held_until)
            .limit(UNVERIFIED_HOLDS)
        )
    ).all()
    if len(held) >= UNVERIFIED_HOLDS:
        raise UnverifiedHoldLimit(HoldLimit.HOLDS, allowed=UNVERIFIED_HOLDS, held_code=held[0])
    shelf = select(Inventory.on_hand, Inventory.reserved).where(
        Inventory.store_id == store.id, Inventory.variant_id == variant.id
    )
    if lock:
        shelf = shelf.with_for_update(key_share=True)
    stock = (await session.execute(shelf)).first()
    if stock is None or stock.on_hand - stock.reserved < quantity:
        return min(hold, UNVERIFIED_HOLD)  # out of stock: reserve_item says so
    unverified = await session.scalar(
        select(func.coalesce(func.sum(Reservation.quantity), 0))
        .select_from(Reservation)
        .join(Customer, Customer.id == Reservation.customer_id)
        .where(
            Reservation.store_id == store.id,
            Reservation.variant_id == variant.id,
            Reservation.status == ReservationStatus.HELD,
            nobody_vouched(),
        )
    )
    share = int(stock.on_hand * UNVERIFIED_SHARE)  # rounded down
    if int(unverified or 0) + quantity > share:
        raise UnverifiedHoldLimit(HoldLimit.SHARE, allowed=share)
    return min(hold, UNVERIFIED_HOLD)


async def _variant(session: AsyncSession, sku: str) -> ProductVariant:
    variant = await session.scalar(
        select(ProductVariant)
        .where(ProductVariant.sku == sku.strip())
        .options(selectinload(ProductVariant.product))
    )
    if variant is None:
        raise UnknownProduct(f"no variant with SKU {sku!r}")
    return variant


async def _active_store(session: AsyncSession, store_code: str) -> Store:
    store = await session.scalar(
        select(Store).where(Store.code == store_code.strip(), Store.active.is_(True))
    )
    if store is None:
        raise UnknownStore(f"no active store {store_code!r}")
    return store


async def _by_code(session: AsyncSession, pickup_code: str) -> Reservation | None:
    return await session.scalar(
        select(Reservation)
        .where(Reservation.pickup_code == pickup_code_key(pickup_code))
        .options(
            selectinload(Reservation.store),
            selectinload(Reservation.variant).selectinload(ProductVariant.product),
        )
        .execution_options(populate_existing=True)
    )


async def _close(
    session: AsyncSession,
    reservation: Reservation,
    target: ReservationStatus,
    now: datetime,
) -> None:
    """Move a held reservation to `target` unless someone else moved it first."""
    moved = await session.scalar(
        update(Reservation)
        .where(Reservation.id == reservation.id, Reservation.status == ReservationStatus.HELD)
        .values(status=target, closed_at=now)
        .returning(Reservation.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(reservation, ["status", "closed_at"])
    if moved is None:
        raise TRANSITIONS.error(reservation.status, target)


async def _release(
    session: AsyncSession, store_id: int, variant_id: int, quantity: int, now: datetime
) -> None:
    await session.execute(
        update(Inventory)
        .where(Inventory.store_id == store_id, Inventory.variant_id == variant_id)
        .values(reserved=Inventory.reserved - quantity, updated_at=now)
        .execution_options(synchronize_session=False)
    )
