"""Returns (RMAs) of order lines, bought online or in a shop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.models.base import Base, BigId, str_enum, utcnow
from crm.models.catalog import Store
from crm.models.enums import ReturnMethod, ReturnReason, ReturnStatus
from crm.models.orders import Order, OrderItem


class Return(Base):
    __tablename__ = "returns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rma_code: Mapped[str] = mapped_column(String(16), unique=True)
    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[ReturnReason] = mapped_column(str_enum(ReturnReason))
    note: Mapped[str | None] = mapped_column(Text)
    method: Mapped[ReturnMethod] = mapped_column(str_enum(ReturnMethod))
    store_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("stores.id"))
    status: Mapped[ReturnStatus] = mapped_column(
        str_enum(ReturnStatus), default=ReturnStatus.REQUESTED
    )
    refund_minor: Mapped[int | None]
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship()
    store: Mapped[Store | None] = relationship()
    items: Mapped[list[ReturnItem]] = relationship(
        back_populates="return_", cascade="all, delete-orphan"
    )


class ReturnItem(Base):
    __tablename__ = "return_items"
    __table_args__ = (
        UniqueConstraint("return_id", "order_item_id"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(BigId, ForeignKey("returns.id", ondelete="CASCADE"))
    order_item_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_items.id"), index=True)
    quantity: Mapped[int]

    return_: Mapped[Return] = relationship(back_populates="items")
    order_item: Mapped[OrderItem] = relationship()
