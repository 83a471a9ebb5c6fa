"""Orders from every sales channel, their lines, status history and receipts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.models.base import Base, BigId, str_enum, utcnow
from crm.models.catalog import ProductVariant, Store
from crm.models.enums import Fulfilment, OrderStatus, SalesChannel


def order_number_key(number: str) -> str:
    """The form order numbers are stored and compared in: customers type " es-100234 "."""
    return number.strip().upper()


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index(None, "customer_id", "placed_at"),
        # Segments' "orders in the last N days": the window's orders found by date, and
        # their customers, ids (to reach their lines) and totals read from the index
        # alone (crm.segments.compile; the figures are in docs/decisions.md).
        Index(
            "ix_orders_by_date",
            "placed_at",
            "customer_id",
            "id",
            postgresql_include=["currency", "total_minor"],
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    # What the customer sees and types ("ES-100234"); unique across the chain, stored
    # in key form (order_number_key) so that lookups are exact and use the index.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="CASCADE"))
    sales_channel: Mapped[SalesChannel] = mapped_column(str_enum(SalesChannel))
    fulfilment: Mapped[Fulfilment] = mapped_column(str_enum(Fulfilment))
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus))
    # The store that sold it (in-store sales) and the store that hands it over (pick-up).
    store_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("stores.id"))
    pickup_store_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("stores.id"))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int]
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    tracking_url: Mapped[str | None] = mapped_column(String(500))
    placed_at: Mapped[datetime]
    promised_at: Mapped[datetime | None]
    # When the customer got the goods: the start of the return window.
    received_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.line_no", cascade="all, delete-orphan"
    )
    history: Mapped[list[OrderStatusChange]] = relationship(
        order_by="(OrderStatusChange.changed_at, OrderStatusChange.id)",
        cascade="all, delete-orphan",
    )
    store: Mapped[Store | None] = relationship(foreign_keys=[store_id])
    pickup_store: Mapped[Store | None] = relationship(foreign_keys=[pickup_store_id])
    receipt: Mapped[Receipt | None] = relationship(back_populates="order")


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int]
    variant_id: Mapped[int] = mapped_column(BigId, ForeignKey("product_variants.id"), index=True)
    quantity: Mapped[int]
    unit_price_minor: Mapped[int]

    order: Mapped[Order] = relationship(back_populates="items")
    variant: Mapped[ProductVariant] = relationship()


class OrderStatusChange(Base):
    __tablename__ = "order_status_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus))
    changed_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(300))


class Receipt(Base):
    """The digital copy of a ticket printed at a store's till."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), unique=True
    )
    number: Mapped[str] = mapped_column(String(64), unique=True)
    store_id: Mapped[int] = mapped_column(BigId, ForeignKey("stores.id"))
    till: Mapped[str | None] = mapped_column(String(16))
    payment_method: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime]
    total_minor: Mapped[int]
    tax_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))

    order: Mapped[Order] = relationship(back_populates="receipt")
    store: Mapped[Store] = relationship()
