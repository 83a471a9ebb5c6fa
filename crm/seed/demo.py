"""Seeds the demo retail chain into an empty database, in one transaction."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import Database
from crm.models import (
    Agent,
    AgentRole,
    CannedResponse,
    Consent,
    ConsentPurpose,
    Customer,
    Inventory,
    Language,
    Order,
    OrderItem,
    OrderStatusChange,
    Product,
    ProductPrice,
    ProductVariant,
    Receipt,
    Reservation,
    ReservationStatus,
    Return,
    ReturnItem,
    ReturnStatus,
    Store,
    StoreHours,
)
from crm.seed import data
from crm.seed.planning import (
    FIRST_ORDER_COUNTER,
    Line,
    OrderDrawer,
    OrderPlan,
    StoreRef,
    customer_external_id,
    ean13,
    order_external_id,
    order_number,
    receipt_number,
    received_at,
    story_timeline,
    tracking_number,
)
from crm.services.staff import create_agent

DEMO_SEED = 20261122  # fixed, so every demo database holds the same chain

# Ready answers for the inbox: (shortcut, language, title, body), each in every language.
CANNED: tuple[tuple[str, Language, str, str], ...] = (
    ("hello", Language.ES, "Saludo", "¡Hola! Soy del equipo de atención y sigo con tu consulta."),
    ("hello", Language.PT, "Saudação", "Olá! Sou da equipa de apoio e continuo o seu pedido."),
    ("hello", Language.EN, "Greeting", "Hi! I'm from the support team and I'll take it from here."),
    ("checking", Language.ES, "Un momento", "Dame un momento, lo estoy comprobando."),
    ("checking", Language.PT, "Um momento", "Dê-me um momento, estou a verificar."),
    ("checking", Language.EN, "One moment", "Give me a moment while I check that."),
    ("return", Language.ES, "Devolución",
     "Tienes 30 días desde la entrega para devolverlo, en tienda o por mensajería."),
    ("return", Language.PT, "Devolução",
     "Tem 30 dias desde a entrega para devolver, em loja ou por estafeta."),
    ("return", Language.EN, "Returns",
     "You have 30 days from delivery to return it, in a store or by courier."),
    ("bye", Language.ES, "Despedida", "¿Te puedo ayudar en algo más? ¡Que tengas un buen día!"),
    ("bye", Language.PT, "Despedida", "Posso ajudar em mais alguma coisa? Tenha um bom dia!"),
    ("bye", Language.EN, "Goodbye", "Anything else I can help with? Have a great day!"),
)  # fmt: skip


# Approved WhatsApp templates (in a real shop, created in Twilio's Content API and
# approved by Meta; these Content SIDs are the demo's own).
TEMPLATES: tuple[tuple[str, Language, str, str, str], ...] = (
    ("follow_up", Language.ES, "Retomar la conversación",
     "Hola {{1}}, seguimos con tu consulta. Responde a este mensaje para continuar.",
     "HX0e5d0a6f7c8b9a0d1e2f3a4b5c6d7e8f"),
    ("follow_up", Language.PT, "Retomar a conversa",
     "Olá {{1}}, continuamos com o seu pedido. Responda a esta mensagem para continuar.",
     "HX1f6e1b7a8d9c0b1e2f3a4b5c6d7e8f90"),
    ("follow_up", Language.EN, "Pick the conversation up again",
     "Hi {{1}}, we're following up on your question. Reply to this message to carry on.",
     "HX2a7f2c8b9e0d1c2f3a4b5c6d7e8f9a01"),
)  # fmt: skip


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: AgentRole
    password: str


@dataclass(frozen=True)
class DemoSummary:
    """What seed_demo created; all zero when the database already held data."""

    created: bool
    stores: int = 0
    products: int = 0
    variants: int = 0
    inventory: int = 0
    customers: int = 0
    consents: int = 0
    orders: int = 0
    order_items: int = 0
    receipts: int = 0
    reservations: int = 0
    returns: int = 0
    # The demo logins present in the database (also when nothing was created), so
    # `omnihub demo` can print them on every start.
    agents: tuple[DemoLogin, ...] = ()

    def describe(self) -> str:
        return (
            f"{self.stores} stores, {self.products} products ({self.variants} variants), "
            f"{self.customers} customers, {self.orders} orders, {self.receipts} receipts, "
            f"{self.reservations} reservations, {self.returns} returns, "
            f"{len(self.agents)} agents"
        )


async def has_business_data(session: AsyncSession) -> bool:
    """True when the database holds stores or customers: then seeding must not touch it."""
    query = select(exists(select(Store.id)) | exists(select(Customer.id)))
    return bool(await session.scalar(query))


async def seed_demo(db: Database, *, now: datetime | None = None) -> DemoSummary:
    """Create the demo chain in an empty database; write nothing if it holds data."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    async with db.transaction() as session:
        if db.dialect == "postgresql":
            # Two concurrent seeders would both see an empty database; the second one
            # waits here and then finds the first one's data.
            await session.execute(text("LOCK TABLE stores, customers IN EXCLUSIVE MODE"))
        if await has_business_data(session):
            return DemoSummary(created=False, agents=await _present_logins(session))
        return await _DemoBuilder(session, now).build()


async def _present_logins(session: AsyncSession) -> tuple[DemoLogin, ...]:
    emails = set(
        await session.scalars(
            select(Agent.email).where(Agent.email.in_([a.email for a in data.AGENTS]))
        )
    )
    return tuple(
        DemoLogin(a.email, a.role, data.DEMO_PASSWORD) for a in data.AGENTS if a.email in emails
    )


class _DemoBuilder:
    """Builds the chain step by step; each step reads only what earlier steps made."""

    def __init__(self, session: AsyncSession, now: datetime):
        self.session = session
        self.now = now
        self.rng = random.Random(DEMO_SEED)
        self.stores: dict[str, Store] = {}
        self.variants: dict[str, ProductVariant] = {}
        self.prices: dict[tuple[str, str], int] = {}  # (sku, currency) -> minor units
        self.inventory: dict[tuple[str, str], Inventory] = {}
        self.customers: dict[str, Customer] = {}
        self.orders: dict[str, Order] = {}

    def hours_ago(self, hours: float) -> datetime:
        return self.now - timedelta(hours=hours)

    async def build(self) -> DemoSummary:
        self._add_stores()
        products = self._add_products()
        await self.session.flush()
        self._add_inventory()
        plans = self._plan_orders()
        self._add_customers(plans)
        await self.session.flush()
        consents = self._add_consents()
        items, receipts = self._add_orders(plans)
        await self.session.flush()
        self._add_reservations()
        self._add_returns()
        for agent in data.AGENTS:
            await create_agent(
                self.session, agent.email, agent.name, agent.role, data.DEMO_PASSWORD
            )
        self.session.add_all(
            CannedResponse(shortcut=shortcut, language=language, title=title, body=body)
            for shortcut, language, title, body in CANNED
        )
        self.session.add_all(
            CannedResponse(
                shortcut=shortcut,
                language=language,
                title=title,
                body=body,
                whatsapp_content_sid=content_sid,
            )
            for shortcut, language, title, body, content_sid in TEMPLATES
        )
        await self.session.flush()
        return DemoSummary(
            created=True,
            stores=len(self.stores),
            products=products,
            variants=len(self.variants),
            inventory=len(self.inventory),
            customers=len(self.customers),
            consents=consents,
            orders=len(plans),
            order_items=items,
            receipts=receipts,
            reservations=len(data.RESERVATIONS),
            returns=len(data.RETURNS),
            agents=tuple(DemoLogin(a.email, a.role, data.DEMO_PASSWORD) for a in data.AGENTS),
        )

    def _add_stores(self) -> None:
        for seed in data.STORES:
            store = Store(
                code=seed.code,
                name=seed.name,
                city=seed.city,
                country=seed.country,
                address=seed.address,
                postal_code=seed.postal_code,
                phone=seed.phone,
                timezone=seed.timezone,
                currency=seed.currency,
                latitude=seed.latitude,
                longitude=seed.longitude,
                updated_at=self.now,
                hours=[
                    StoreHours(weekday=day, opens=interval.opens, closes=interval.closes)
                    for interval in data.HOURS[seed.hours]
                    for day in interval.days
                ],
            )
            self.session.add(store)
            self.stores[seed.code] = store

    def _add_products(self) -> int:
        barcode = 0
        for seed in data.PRODUCTS:
            product = Product(
                external_id=seed.external_id,
                names=dict(seed.names),
                category=seed.category,
                brand=seed.brand,
                updated_at=self.now,
                prices=[ProductPrice(currency=c, amount_minor=a) for c, a in seed.prices],
            )
            self.session.add(product)
            for colour in seed.colours:
                for size in seed.sizes:
                    sku = "-".join(
                        part for part in (seed.external_id, data.COLOURS[colour], size) if part
                    )
                    barcode += 1
                    variant = ProductVariant(
                        product=product,
                        sku=sku,
                        size=size,
                        color=colour,
                        barcode=ean13(f"8437{barcode:08d}"),
                    )
                    self.session.add(variant)
                    self.variants[sku] = variant
                    for currency, amount in seed.prices:
                        self.prices[(sku, currency)] = amount
        return len(data.PRODUCTS)

    def _add_inventory(self) -> None:
        for code, store in self.stores.items():
            for sku, variant in self.variants.items():
                # Drawn for every pair, overridden or not, so that editing an override
                # changes no other shelf.
                draw = self.rng.random()
                if draw < data.STOCK_OUT_RATE:
                    on_hand = 0
                elif draw < data.STOCK_OUT_RATE + data.LAST_UNITS_RATE:
                    on_hand = self.rng.randint(1, 3)
                else:
                    on_hand = self.rng.randint(*data.COMFORTABLE_STOCK)
                on_hand = data.INVENTORY_OVERRIDES.get((code, sku), on_hand)
                row = Inventory(
                    store_id=store.id,
                    variant_id=variant.id,
                    on_hand=on_hand,
                    reserved=0,
                    updated_at=self.now,
                )
                self.session.add(row)
                self.inventory[(code, sku)] = row

    def _store_ref(self, code: str) -> StoreRef:
        store = self.stores[code]
        return StoreRef(
            store.id, store.code, store.country, store.city, store.currency, store.timezone
        )

    def _plan_orders(self) -> list[tuple[str, str | None, OrderPlan]]:
        """(customer key, story key or None, plan) for every order, oldest first."""
        refs = [self._store_ref(code) for code in self.stores]
        sellable: dict[str, list[tuple[int, int]]] = {}
        for (sku, currency), amount in sorted(self.prices.items()):
            sellable.setdefault(currency, []).append((self.variants[sku].id, amount))
        drawer = OrderDrawer(refs, dict(sellable))
        plans: list[tuple[str, str | None, OrderPlan]] = []
        for customer in data.CUSTOMERS:
            home = self._store_ref(customer.home_store)
            low, high = (
                data.LAPSED_HISTORY_DAYS if customer.stage is data.LAPSED else data.HISTORY_DAYS
            )
            for _ in range(customer.past_orders):
                placed_at = self.now - timedelta(days=self.rng.uniform(low, high))
                # History orders are finished: no cancellations, all handed over.
                plans.append(
                    (
                        customer.key,
                        None,
                        drawer.draw(self.rng, home, placed_at, self.now, cancel_rate=0),
                    )
                )
        for story in data.STORY_ORDERS:
            plans.append((story.customer, story.key, self._story_plan(story)))
        plans.sort(key=lambda p: (p[2].placed_at, p[1] or "", p[0]))
        return plans

    def _story_plan(self, story: data.OrderSeed) -> OrderPlan:
        customer = next(c for c in data.CUSTOMERS if c.key == story.customer)
        home = self._store_ref(story.store or customer.home_store)
        market = data.MARKETS[home.country]
        placed_at = self.hours_ago(story.placed_hours_ago)
        steps = story_timeline(story.fulfilment, story.status, placed_at, self.now)
        carrier = data.CARRIERS[story.carrier] if story.carrier else None
        in_store = story.fulfilment is data.IN_STORE
        return OrderPlan(
            market=market,
            sales_channel=story.sales_channel,
            fulfilment=story.fulfilment,
            store=home if in_store else None,
            pickup_store=home if story.fulfilment is data.PICKUP else None,
            currency=home.currency,
            lines=tuple(
                Line(self.variants[sku].id, qty, self.prices[(sku, home.currency)])
                for sku, qty in story.items
            ),
            steps=tuple(steps),
            placed_at=placed_at,
            promised_at=(
                placed_at + timedelta(days=story.promise_days)
                if story.promise_days is not None
                else None
            ),
            received_at=received_at(steps),
            carrier=carrier,
            tracking_number=tracking_number(self.rng, carrier) if carrier else None,
            till=story.till if in_store else None,
            payment_method=story.payment if in_store else None,
        )

    def _add_customers(self, plans: list[tuple[str, str | None, OrderPlan]]) -> None:
        first_order: dict[str, datetime] = {}
        for key, _, plan in plans:
            first_order.setdefault(key, plan.placed_at)
        for number, seed in enumerate(data.CUSTOMERS, start=1):
            # Customers sign up some time before their first order (or before now).
            since = first_order.get(seed.key, self.now)
            created_at = since - timedelta(days=self.rng.uniform(1, 120))
            customer = Customer(
                external_id=customer_external_id(number),
                name=seed.name,
                email=seed.email,
                phone=seed.phone,
                language=seed.language,
                timezone=seed.timezone or self.stores[seed.home_store].timezone,
                city=seed.city,
                country=seed.country,
                tags=list(seed.tags),
                attributes={"locale": seed.locale},
                funnel_stage=seed.stage,
                loyalty_points=seed.loyalty_points,
                created_at=created_at,
                updated_at=self.now,
            )
            self.session.add(customer)
            self.customers[seed.key] = customer

    def _add_consents(self) -> int:
        for seed in data.CONSENTS:
            self.session.add(
                Consent(
                    customer_id=self.customers[seed.customer].id,
                    channel=seed.channel,
                    purpose=ConsentPurpose.MARKETING,
                    granted=seed.granted,
                    source=seed.source,
                    recorded_at=self.now - timedelta(days=seed.days_ago),
                )
            )
        return len(data.CONSENTS)

    def _add_orders(self, plans: list[tuple[str, str | None, OrderPlan]]) -> tuple[int, int]:
        counter = FIRST_ORDER_COUNTER
        items = receipts = 0
        for customer_key, story_key, plan in plans:
            counter += self.rng.randint(1, 29)  # other shops' orders fall in between
            order = Order(
                external_id=order_external_id(counter),
                number=order_number(plan.market, counter),
                customer_id=self.customers[customer_key].id,
                sales_channel=plan.sales_channel,
                fulfilment=plan.fulfilment,
                status=plan.status,
                store_id=plan.store.id if plan.store else None,
                pickup_store_id=plan.pickup_store.id if plan.pickup_store else None,
                currency=plan.currency,
                total_minor=plan.total_minor,
                carrier=plan.carrier.name if plan.carrier else None,
                tracking_number=plan.tracking_number,
                tracking_url=plan.tracking_url,
                placed_at=plan.placed_at,
                promised_at=plan.promised_at,
                received_at=plan.received_at,
                updated_at=plan.updated_at,
                items=[
                    OrderItem(
                        line_no=n,
                        variant_id=line.variant_id,
                        quantity=line.quantity,
                        unit_price_minor=line.unit_price_minor,
                    )
                    for n, line in enumerate(plan.lines, start=1)
                ],
                history=[OrderStatusChange(status=s, changed_at=at) for s, at in plan.steps],
            )
            items += len(plan.lines)
            if plan.store is not None and plan.till is not None and plan.payment_method:
                order.receipt = Receipt(
                    number=receipt_number(plan.store.code, plan.till, counter),
                    store_id=plan.store.id,
                    till=plan.till,
                    payment_method=plan.payment_method,
                    issued_at=plan.placed_at,
                    total_minor=plan.total_minor,
                    tax_minor=plan.receipt_tax_minor(),
                    currency=plan.currency,
                )
                receipts += 1
            self.session.add(order)
            if story_key is not None:
                self.orders[story_key] = order
        return items, receipts

    def _add_reservations(self) -> None:
        for seed in data.RESERVATIONS:
            created_at = self.hours_ago(seed.created_hours_ago)
            held_until = created_at + timedelta(hours=seed.hold_hours)
            held = seed.status is ReservationStatus.HELD
            self.session.add(
                Reservation(
                    customer_id=self.customers[seed.customer].id,
                    store_id=self.stores[seed.store].id,
                    variant_id=self.variants[seed.sku].id,
                    quantity=seed.quantity,
                    pickup_code=seed.pickup_code,
                    status=seed.status,
                    held_until=held_until,
                    created_at=created_at,
                    closed_at=None if held else min(held_until, self.now),
                )
            )
            if held:
                self.inventory[(seed.store, seed.sku)].reserved += seed.quantity

    def _add_returns(self) -> None:
        for seed in data.RETURNS:
            order = self.orders[seed.order]
            lines = {item.variant_id: item for item in order.items}
            created_at = self.hours_ago(seed.created_hours_ago)
            self.session.add(
                Return(
                    rma_code=seed.rma_code,
                    order_id=order.id,
                    customer_id=order.customer_id,
                    reason=seed.reason,
                    note=seed.note,
                    method=seed.method,
                    store_id=self.stores[seed.store].id if seed.store else None,
                    status=ReturnStatus.REQUESTED,
                    refund_minor=None,
                    currency=order.currency,
                    created_at=created_at,
                    updated_at=created_at,
                    items=[
                        ReturnItem(order_item=lines[self.variants[sku].id], quantity=qty)
                        for sku, qty in seed.items
                    ],
                )
            )
