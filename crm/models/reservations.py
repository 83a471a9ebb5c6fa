"""Items held in a store for a customer to pick up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.models.base import Base, BigId, str_enum, utcnow
from crm.models.catalog import ProductVariant, Store
from crm.models.enums import ReservationStatus


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index(None, "status", "held_until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    store_id: Mapped[int] = mapped_column(BigId, ForeignKey("stores.id"))
    variant_id: Mapped[int] = mapped_column(BigId, ForeignKey("product_variants.id"))
    quantity: Mapped[int]
    pickup_code: Mapped[str] = mapped_column(String(12), unique=True)
    status: Mapped[ReservationStatus] = mapped_column(
        str_enum(ReservationStatus), default=ReservationStatus.HELD
    )
    held_until: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    store: Mapped[Store] = relationship()
    variant: Mapped[ProductVariant] = relationship()
