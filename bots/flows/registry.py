"""Every flow the chatbot runs; the hub builds its responder from this list."""

from __future__ import annotations

from bots.flows.base import Flow
from bots.flows.orders import OrderStatus, PurchaseHistory
from bots.flows.reservations import CancelReservation, ReserveItem
from bots.flows.returns import Returns
from bots.flows.stock import CheckStock
from bots.flows.stores import StoreInfo


def all_flows() -> list[Flow]:
    return [
        StoreInfo(),
        OrderStatus(),
        PurchaseHistory(),
        Returns(),
        CheckStock(),
        ReserveItem(),
        CancelReservation(),
    ]
