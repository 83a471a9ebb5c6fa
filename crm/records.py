"""The sync API's records: what the shop's systems send, and what the hub answers."""

from __future__ import annotations

from datetime import datetime, time
from itertools import pairwise
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    JsonValue,
    RootModel,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crm.models import (
    Channel,
    ConsentPurpose,
    Fulfilment,
    FunnelStage,
    Language,
    OrderStatus,
    SalesChannel,
    order_number_key,
)
from crm.phones import InvalidPhone, normalise_phone
from crm.values import (
    MAX_INTEGER,
    Count,
    Country,
    Currency,
    ExternalId,
    HttpUrl,
    Moment,
    Money,
    Phone,
    Positive,
    Sku,
    StoreCode,
    TimeZone,
    _fits,
)

# The most records one batch request may carry: enough for a nightly export in a few
# calls, small enough that one transaction stays short.
BATCH_LIMIT = 1000
# The most variants or order lines in one batch: the SKUs they name are looked up in one
# query, and PostgreSQL takes at most 32,767 parameters in a statement.
BATCH_LINE_LIMIT = 10_000


def _phone(value: str | None, info: ValidationInfo) -> str | None:
    """E.164, reading a national number in the record's country (validated before)."""
    if value is None:
        return None
    try:
        return normalise_phone(value, info.data.get("country"))
    except InvalidPhone as exc:
        raise ValueError(str(exc)) from exc


def _check_lines(count: int, what: str) -> None:
    if count > BATCH_LINE_LIMIT:
        raise ValueError(f"at most {BATCH_LINE_LIMIT} {what} in one batch, not {count}")


class Record(BaseModel):
    """A record from the shop, refusing fields it does not know.

    With omitted fields kept on update, a misspelt field would otherwise be dropped
    without a word and its value never updated.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- customers


class ConsentRecord(Record):
    """One consent decision; it is appended only if it changes the current state."""

    channel: Channel
    purpose: ConsentPurpose = ConsentPurpose.MARKETING
    granted: bool
    source: Annotated[str, _fits(64)] = Field(
        "api", description="What recorded it: a form, a till..."
    )
    recorded_at: Moment = Field(
        description="When the customer decided. Required: an older decision than the one "
        "the hub holds (a STOP on WhatsApp, say) never overrides it."
    )


class CustomerRecord(Record):
    """A customer. On update, omitted fields keep their value; null clears one."""

    external_id: ExternalId
    name: Annotated[str, _fits(200)] | None = None
    email: EmailStr | None = None
    # Before phone: a national phone number is read in this country.
    country: Country | None = None
    phone: Phone | None = None
    language: Language | None = None
    timezone: TimeZone | None = None
    city: Annotated[str, _fits(120)] | None = None
    tags: list[Annotated[str, _fits(64)]] = Field(default_factory=list, max_length=100)
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    funnel_stage: FunnelStage = FunnelStage.LEAD
    loyalty_points: Count = 0
    consents: list[ConsentRecord] = Field(
        default_factory=list, max_length=50, description="Appended to the consent history."
    )

    _normalise_phone = field_validator("phone")(_phone)


class CustomerBatch(RootModel[Annotated[list[CustomerRecord], Field(max_length=BATCH_LIMIT)]]):
    """Customers upserted all together or not at all."""


# ---------------------------------------------------------------- catalogue


class VariantRecord(Record):
    """A sellable variant of a product, known by its SKU."""

    sku: Sku
    size: Annotated[str, _fits(16)] | None = None
    color: Annotated[str, _fits(32)] | None = None
    barcode: Annotated[str, _fits(32)] | None = None


class ProductRecord(Record):
    """A product style. Variants absent from a later payload are kept (orders name them);
    prices, when sent, replace the product's prices as a whole."""

    external_id: ExternalId
    names: Annotated[
        dict[Language, Annotated[str, _fits(200)]],
        Field(min_length=1, description="The product's name per language."),
    ]
    category: Annotated[str, _fits(64)]
    brand: Annotated[str, _fits(100)] | None = None
    active: bool = True
    variants: list[VariantRecord] = Field(default_factory=list, max_length=500)
    prices: dict[Currency, Money] | None = Field(
        None, description="Amount in minor units per currency; omit to keep the current ones."
    )

    @field_validator("variants")
    @classmethod
    def _unique_skus(cls, variants: list[VariantRecord]) -> list[VariantRecord]:
        skus = [v.sku for v in variants]
        if len(set(skus)) != len(skus):
            raise ValueError("each sku may appear once")
        return variants


class ProductBatch(RootModel[Annotated[list[ProductRecord], Field(max_length=BATCH_LIMIT)]]):
    """Products upserted all together or not at all."""

    @model_validator(mode="after")
    def _few_enough_variants(self) -> ProductBatch:
        _check_lines(sum(len(p.variants) for p in self.root), "variants")
        return self


# ---------------------------------------------------------------- stores


class StoreHoursRecord(Record):
    """One opening interval; a split shift is two intervals on the same weekday."""

    weekday: Annotated[int, Strict(), Field(ge=0, le=6, description="0 = Monday.")]
    opens: time = Field(description="Local time of the store, e.g. 09:30.")
    closes: time

    @model_validator(mode="after")
    def _interval(self) -> StoreHoursRecord:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opening hours are local times, without a UTC offset")
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes")
        return self


class StoreRecord(Record):
    """A store. Hours, when sent, replace the store's hours as a whole."""

    code: StoreCode
    name: Annotated[str, _fits(200)]
    city: Annotated[str, _fits(120)]
    country: Country
    address: Annotated[str, _fits(300)]
    postal_code: Annotated[str, _fits(16)] | None = None
    phone: Phone | None = None
    timezone: TimeZone
    currency: Currency
    latitude: Annotated[float, Strict(), Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Strict(), Field(ge=-180, le=180)] | None = None
    active: bool = True
    hours: list[StoreHoursRecord] | None = Field(
        None, max_length=50, description="The whole week; omit to keep the current hours."
    )

    _normalise_phone = field_validator("phone")(_phone)

    @field_validator("hours")
    @classmethod
    def _no_overlaps(cls, hours: list[StoreHoursRecord] | None) -> list[StoreHoursRecord] | None:
        ordered = sorted(hours or [], key=lambda h: (h.weekday, h.opens))
        for before, after in pairwise(ordered):
            if before.weekday == after.weekday and after.opens < before.closes:
                raise ValueError(f"intervals overlap on weekday {before.weekday}")
        return hours


class StoreBatch(RootModel[Annotated[list[StoreRecord], Field(max_length=BATCH_LIMIT)]]):
    """Stores upserted all together or not at all."""


# ---------------------------------------------------------------- inventory


class InventoryLevel(Record):
    """The stock a store counts of one SKU. Reservations are the hub's and kept."""

    store_code: StoreCode
    sku: Sku
    on_hand: Count = Field(description="Absolute: replaces the previous count.")


class InventoryBatch(RootModel[Annotated[list[InventoryLevel], Field(max_length=BATCH_LIMIT)]]):
    """Stock levels set all together or not at all."""


# ---------------------------------------------------------------- orders


class OrderLineRecord(Record):
    """One line of an order, known by its line_no."""

    line_no: Positive
    sku: Sku
    quantity: Positive
    unit_price_minor: Money


class ReceiptRecord(Record):
    """The ticket printed at a store's till (in the order's currency)."""

    number: Annotated[str, _fits(64)]
    store_code: StoreCode
    till: Annotated[str, _fits(16)] | None = None
    payment_method: Annotated[str, _fits(32)]
    issued_at: Moment
    total_minor: Money
    tax_minor: Money


class OrderRecord(Record):
    """An order from any sales channel. Lines are matched by line_no; lines absent from
    a later payload are removed (unless a return names them)."""

    external_id: ExternalId
    # Stored in the form customers' typing is compared in, so a lookup is one index probe.
    number: Annotated[str, _fits(32), AfterValidator(order_number_key)] = Field(
        description="What the customer sees, e.g. ES-100234; stored upper-case."
    )
    customer_external_id: ExternalId
    sales_channel: SalesChannel
    fulfilment: Fulfilment
    status: OrderStatus
    status_changed_at: Moment | None = Field(
        None,
        description="When the status took effect. Defaults to placed_at for a new order "
        "and to now for a change; re-sending the same status records nothing.",
    )
    store_code: StoreCode | None = Field(
        None, validate_default=True, description="The store that sold it."
    )
    pickup_store_code: StoreCode | None = Field(
        None, validate_default=True, description="The store that hands it over."
    )
    currency: Currency
    total_minor: Money
    carrier: Annotated[str, _fits(64)] | None = None
    tracking_number: Annotated[str, _fits(64)] | None = None
    tracking_url: HttpUrl | None = None
    placed_at: Moment
    promised_at: Moment | None = None
    received_at: Moment | None = Field(
        None,
        description="When the customer got the goods (starts the return window). If not "
        "sent, it is set when the status first becomes delivered, collected or completed.",
    )
    items: list[OrderLineRecord] = Field(min_length=1, max_length=500)
    receipt: ReceiptRecord | None = Field(None, description="Omit to keep the current one.")

    @field_validator("store_code")
    @classmethod
    def _sold_in_store(cls, code: str | None, info: ValidationInfo) -> str | None:
        if code is None and info.data.get("fulfilment") is Fulfilment.IN_STORE:
            raise ValueError("an in-store sale needs the store_code of the store that sold it")
        return code

    @field_validator("pickup_store_code")
    @classmethod
    def _picked_up_in_store(cls, code: str | None, info: ValidationInfo) -> str | None:
        if code is None and info.data.get("fulfilment") is Fulfilment.PICKUP:
            raise ValueError("a pick-up order needs a pickup_store_code")
        return code

    @field_validator("items")
    @classmethod
    def _unique_lines(cls, items: list[OrderLineRecord]) -> list[OrderLineRecord]:
        numbers = [line.line_no for line in items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("each line_no may appear once")
        # A return's refund adds up lines' prices into an INTEGER column of its own.
        if sum(line.quantity * line.unit_price_minor for line in items) > MAX_INTEGER:
            raise ValueError(f"the lines add up to more than {MAX_INTEGER} minor units")
        return items


class OrderBatch(RootModel[Annotated[list[OrderRecord], Field(max_length=BATCH_LIMIT)]]):
    """Orders upserted all together or not at all."""

    @model_validator(mode="after")
    def _few_enough_lines(self) -> OrderBatch:
        _check_lines(sum(len(o.items) for o in self.root), "order lines")
        return self


# ---------------------------------------------------------------- answers


class UpsertResult(BaseModel):
    id: int = Field(description="The hub's id.")
    external_id: str
    created: bool = Field(description="True if new, false if an existing one was updated.")


class StoreUpsertResult(BaseModel):
    id: int = Field(description="The hub's id.")
    code: str
    created: bool = Field(description="True if new, false if an existing one was updated.")


class BatchResult(BaseModel):
    created: int
    updated: int


class OverReserved(BaseModel):
    """A level below what the hub holds for pick-up reservations: available stock is
    zero until the shop counts more or reservations end."""

    store_code: str
    sku: str
    on_hand: int
    reserved: int


class InventoryResult(BaseModel):
    created: int
    updated: int
    over_reserved: list[OverReserved]


class CustomerView(BaseModel):
    id: int
    external_id: str | None
    name: str | None
    email: str | None
    phone: str | None
    language: Language | None
    timezone: str | None
    city: str | None
    country: str | None
    tags: list[str]
    attributes: dict[str, JsonValue]
    funnel_stage: FunnelStage
    loyalty_points: int
    consents: list[ConsentRecord] = Field(
        description="The current decision per channel and purpose (the newest of each)."
    )
    created_at: datetime
    updated_at: datetime


class ProductView(BaseModel):
    id: int
    external_id: str
    names: dict[Language, str]
    category: str
    brand: str | None
    active: bool
    variants: list[VariantRecord]
    prices: dict[str, int]
    updated_at: datetime


class StoreView(BaseModel):
    id: int
    code: str
    name: str
    city: str
    country: str
    address: str
    postal_code: str | None
    phone: str | None
    timezone: str
    currency: str
    latitude: float | None
    longitude: float | None
    active: bool
    hours: list[StoreHoursRecord]
    updated_at: datetime


class StatusChangeView(BaseModel):
    status: OrderStatus
    changed_at: datetime


class OrderView(BaseModel):
    id: int
    external_id: str
    number: str
    customer_external_id: str | None
    sales_channel: SalesChannel
    fulfilment: Fulfilment
    status: OrderStatus
    store_code: str | None
    pickup_store_code: str | None
    currency: str
    total_minor: int
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    placed_at: datetime
    promised_at: datetime | None
    received_at: datetime | None
    items: list[OrderLineRecord]
    receipt: ReceiptRecord | None
    history: list[StatusChangeView] = Field(description="Oldest first.")
    updated_at: datetime
