"""Stores with their opening hours, products with variants and prices, and stock."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.models.base import Base, BigId, Json, utcnow


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120), index=True)
    country: Mapped[str] = mapped_column(String(2))
    address: Mapped[str] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    hours: Mapped[list[StoreHours]] = relationship(
        back_populates="store",
        cascade="all, delete-orphan",
        order_by="(StoreHours.weekday, StoreHours.opens)",
    )


class StoreHours(Base):
    """One opening interval on one weekday (0 = Monday); split shifts are two rows."""

    __tablename__ = "store_hours"
    __table_args__ = (
        UniqueConstraint("store_id", "weekday", "opens"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("opens < closes", name="interval"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigId, ForeignKey("stores.id", ondelete="CASCADE"))
    weekday: Mapped[int]
    opens: Mapped[time]
    closes: Mapped[time]

    store: Mapped[Store] = relationship(back_populates="hours")


class Product(Base):
    """A style (a model of shoe, a shirt); what is stocked and sold is a variant."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    # {"es": "Zapatilla urbana", "pt": "Ténis urbano", "en": "City sneaker"}
    names: Mapped[dict[str, str]] = mapped_column(Json)
    category: Mapped[str] = mapped_column(String(64), index=True)
    brand: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    variants: Mapped[list[ProductVariant]] = relationship(
        back_populates="product", order_by="ProductVariant.sku"
    )
    prices: Mapped[list[ProductPrice]] = relationship(
        back_populates="product", cascade="all, delete-orphan"
    )

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("en") or next(iter(self.names.values()))


class ProductVariant(Base):
    __tablename__ = "product_variants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[str | None] = mapped_column(String(16))
    color: Mapped[str | None] = mapped_column(String(32))
    barcode: Mapped[str | None] = mapped_column(String(32))

    product: Mapped[Product] = relationship(back_populates="variants")


class ProductPrice(Base):
    """The one price of a product in a currency: the same on every sales channel."""

    __tablename__ = "product_prices"
    __table_args__ = (
        UniqueConstraint("product_id", "currency"),
        CheckConstraint("amount_minor >= 0", name="non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int]  # cents, centavos...

    product: Mapped[Product] = relationship(back_populates="prices")


class Inventory(Base):
    """Stock of one variant in one store.

    `reserved` may exceed `on_hand` after the shop reports a lower count than we hold
    for reservations; available stock is then zero, never negative. Reservations take
    stock with one conditional UPDATE, so concurrency can never over-reserve.
    """

    __tablename__ = "inventory"
    __table_args__ = (
        UniqueConstraint("store_id", "variant_id"),
        CheckConstraint("on_hand >= 0", name="on_hand"),
        CheckConstraint("reserved >= 0", name="reserved"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigId, ForeignKey("stores.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("product_variants.id", ondelete="CASCADE"), index=True
    )
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    store: Mapped[Store] = relationship()
    variant: Mapped[ProductVariant] = relationship()

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved)
