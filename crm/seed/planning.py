"""Pure planning of seeded orders: status timelines, lines, tracking, receipts and numbers."""

from __future__ import annotations

from bisect import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random
from typing import Generic, NamedTuple, TypeVar

from crm.models.enums import Fulfilment, OrderStatus, SalesChannel
from crm.seed import data
from crm.seed.data import CarrierSeed, Market

T = TypeVar("T")

# The steps an order goes through, per fulfilment; an order's history is a prefix of
# its path. Cancellation can only happen before anything is handed over.
PATHS: dict[Fulfilment, tuple[OrderStatus, ...]] = {
    Fulfilment.DELIVERY: (
        OrderStatus.PENDING,
        OrderStatus.CONFIRMED,
        OrderStatus.PREPARING,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
    ),
    Fulfilment.PICKUP: (
        OrderStatus.PENDING,
        OrderStatus.CONFIRMED,
        OrderStatus.PREPARING,
        OrderStatus.READY_FOR_PICKUP,
        OrderStatus.COLLECTED,
    ),
    # A till sale is paid and taken at once.
    Fulfilment.IN_STORE: (OrderStatus.COMPLETED,),
}
CANCELLED_PATH = (OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.CANCELLED)
HANDED_OVER = frozenset({OrderStatus.DELIVERED, OrderStatus.COLLECTED, OrderStatus.COMPLETED})
WITH_CARRIER = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})

# Numbers the demo and bulk share, so that bulk can continue where the data stops.
CUSTOMER_ID_PREFIX = "CUS-"
CUSTOMER_ID_DIGITS = 8
ORDER_ID_PREFIX = "ORD-"
ORDER_ID_DIGITS = 10
FIRST_ORDER_COUNTER = 100200

Step = tuple[OrderStatus, datetime]


class Weighted(Generic[T]):
    """Draws values with fixed integer weights; faster than Random.choices per draw."""

    def __init__(self, pairs: Iterable[tuple[T, int]]):
        self.values: list[T] = []
        self.cumulative: list[int] = []
        total = 0
        for value, weight in pairs:
            if weight <= 0:
                continue
            total += weight
            self.values.append(value)
            self.cumulative.append(total)
        if not self.values:
            raise ValueError("nothing to draw from")
        self.total = total

    def pick(self, rng: Random) -> T:
        return self.values[bisect(self.cumulative, rng.random() * self.total)]


def pick_from(rng: Random, values: Sequence[T]) -> T:
    """Random.choice without its rejection sampling: a third of the cost in bulk runs."""
    return values[int(rng.random() * len(values))]


def customer_external_id(number: int) -> str:
    return f"{CUSTOMER_ID_PREFIX}{number:0{CUSTOMER_ID_DIGITS}d}"


def order_external_id(counter: int) -> str:
    return f"{ORDER_ID_PREFIX}{counter:0{ORDER_ID_DIGITS}d}"


def order_number(market: Market, counter: int) -> str:
    return f"{market.order_prefix}-{counter}"


def receipt_number(store_code: str, till: str, counter: int) -> str:
    # The order counter is unique, so the ticket number is too.
    return f"{store_code}-{till}-{counter}"


def included_tax(total_minor: int, basis_points: int) -> int:
    """The tax inside a tax-inclusive total, rounded half up to the minor unit."""
    denominator = 10_000 + basis_points
    return (2 * total_minor * basis_points + denominator) // (2 * denominator)


def tracking_number(rng: Random, carrier: CarrierSeed) -> str:
    return f"{carrier.prefix}{rng.randrange(10**carrier.digits):0{carrier.digits}d}{carrier.suffix}"


def ean13(body: str) -> str:
    """A 12-digit body with its check digit appended."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def path_for(fulfilment: Fulfilment, *, cancelled: bool) -> tuple[OrderStatus, ...]:
    return CANCELLED_PATH if cancelled else PATHS[fulfilment]


def simulate_timeline(
    rng: Random, fulfilment: Fulfilment, placed_at: datetime, until: datetime, *, cancelled: bool
) -> list[Step]:
    """The steps an order has taken by `until`, with random durations between them."""
    steps: list[Step] = []
    at = placed_at
    for index, status in enumerate(path_for(fulfilment, cancelled=cancelled)):
        if index:
            low, high = data.STEP_HOURS[status]
            hours = low + (high - low) * rng.random()
            if status is OrderStatus.DELIVERED and rng.random() < data.SLOW_DELIVERY_RATE:
                hours *= 3
            at = at + timedelta(hours=hours)
        if at > until:
            break
        steps.append((status, at))
    return steps


def received_at(steps: Sequence[Step]) -> datetime | None:
    """When the customer got the goods, if they have."""
    status, at = steps[-1]
    return at if status in HANDED_OVER else None


def story_timeline(
    fulfilment: Fulfilment, status: OrderStatus, placed_at: datetime, now: datetime
) -> list[Step]:
    """The steps up to `status` with typical durations, squeezed to end before `now`."""
    path = path_for(fulfilment, cancelled=status is OrderStatus.CANCELLED)
    if status not in path:
        raise ValueError(f"a {fulfilment} order cannot be {status}")
    path = path[: path.index(status) + 1]
    offsets = [0.0]
    for step in path[1:]:
        low, high = data.STEP_HOURS[step]
        offsets.append(offsets[-1] + (low + high) / 2)
    room = (now - timedelta(minutes=10) - placed_at).total_seconds() / 3600
    if room <= 0:
        raise ValueError("a story order must be placed before now")
    scale = min(1.0, room / offsets[-1]) if offsets[-1] else 1.0
    return [
        (step, placed_at + timedelta(hours=offset * scale))
        for step, offset in zip(path, offsets, strict=True)
    ]


@dataclass(frozen=True)
class StoreRef:
    id: int
    code: str
    country: str
    city: str
    currency: str
    timezone: str


class Line(NamedTuple):
    variant_id: int
    quantity: int
    unit_price_minor: int


# Not frozen: bulk builds hundreds of thousands, and frozen dataclasses are slow to build.
@dataclass(slots=True)
class OrderPlan:
    """One order, ready to be written once it has a number and a customer."""

    market: Market
    sales_channel: SalesChannel
    fulfilment: Fulfilment
    store: StoreRef | None  # sold at (in-store sales)
    pickup_store: StoreRef | None
    currency: str
    lines: tuple[Line, ...]
    steps: tuple[Step, ...]
    placed_at: datetime
    promised_at: datetime | None
    received_at: datetime | None
    carrier: CarrierSeed | None
    tracking_number: str | None
    till: str | None
    payment_method: str | None

    @property
    def status(self) -> OrderStatus:
        return self.steps[-1][0]

    @property
    def total_minor(self) -> int:
        return sum([quantity * price for _, quantity, price in self.lines])

    @property
    def updated_at(self) -> datetime:
        return self.steps[-1][1]

    @property
    def tracking_url(self) -> str | None:
        if self.carrier is None or self.tracking_number is None:
            return None
        return self.carrier.url.format(tracking=self.tracking_number)

    def receipt_tax_minor(self) -> int:
        return included_tax(self.total_minor, self.market.tax_basis_points)


class OrderDrawer:
    """Draws believable orders from one catalogue: the demo's history and bulk's orders."""

    def __init__(
        self,
        stores: Sequence[StoreRef],
        sellable: dict[str, Sequence[tuple[int, int]]],  # currency -> (variant id, price)
    ):
        self.sellable = sellable
        self.stores_by_country: dict[str, list[StoreRef]] = {}
        for store in stores:
            self.stores_by_country.setdefault(store.country, []).append(store)
        self.channels = Weighted(data.SALES_CHANNEL_WEIGHTS)
        self.remote_fulfilment = Weighted(data.REMOTE_FULFILMENT_WEIGHTS)
        self.line_counts = Weighted(data.LINES_PER_ORDER_WEIGHTS)
        self.quantities = Weighted(data.QUANTITY_WEIGHTS)
        self.payments = {
            country: Weighted(market.payments) for country, market in data.MARKETS.items()
        }

    def draw(
        self,
        rng: Random,
        home: StoreRef,
        placed_at: datetime,
        until: datetime,
        *,
        cancel_rate: float = data.CANCEL_RATE,
    ) -> OrderPlan:
        market = data.MARKETS[home.country]
        channel = self.channels.pick(rng)
        store = pickup = None
        if channel is SalesChannel.STORE:
            fulfilment = Fulfilment.IN_STORE
            store = home
            if rng.random() > data.HOME_STORE_SHARE:
                store = pick_from(rng, self.stores_by_country[home.country])
        elif channel is SalesChannel.MARKETPLACE:
            fulfilment = Fulfilment.DELIVERY
        else:
            fulfilment = self.remote_fulfilment.pick(rng)
            if fulfilment is Fulfilment.PICKUP:
                pickup = home
        cancelled = fulfilment is not Fulfilment.IN_STORE and rng.random() < cancel_rate
        steps = simulate_timeline(rng, fulfilment, placed_at, until, cancelled=cancelled)
        carrier = tracking = None
        if fulfilment is Fulfilment.DELIVERY and steps[-1][0] in WITH_CARRIER:
            carrier = data.CARRIERS[pick_from(rng, market.carriers)]
            tracking = tracking_number(rng, carrier)
        promised_at = None
        if fulfilment is not Fulfilment.IN_STORE:
            low, high = data.PROMISE_DAYS[fulfilment]
            promised_at = placed_at + timedelta(days=low + int(rng.random() * (high - low + 1)))
        till = payment = None
        if fulfilment is Fulfilment.IN_STORE:
            till = pick_from(rng, data.TILLS)
            payment = self.payments[market.country].pick(rng)
        return OrderPlan(
            market=market,
            sales_channel=channel,
            fulfilment=fulfilment,
            store=store,
            pickup_store=pickup,
            currency=home.currency,
            lines=self._lines(rng, home.currency),
            steps=tuple(steps),
            placed_at=placed_at,
            promised_at=promised_at,
            received_at=received_at(steps),
            carrier=carrier,
            tracking_number=tracking,
            till=till,
            payment_method=payment,
        )

    def _lines(self, rng: Random, currency: str) -> tuple[Line, ...]:
        choices = self.sellable[currency]
        picked: dict[int, Line] = {}
        for _ in range(self.line_counts.pick(rng)):
            variant_id, price = pick_from(rng, choices)
            # A repeated draw just adds no line: an order never lists a variant twice.
            if variant_id not in picked:
                picked[variant_id] = Line(variant_id, self.quantities.pick(rng), price)
        return tuple(picked.values())
