"""The CRM's tables, one module per area, re-exported here."""

from crm.models.base import Base, utcnow
from crm.models.catalog import Inventory, Product, ProductPrice, ProductVariant, Store, StoreHours
from crm.models.conversations import (
    WHATSAPP_WINDOW,
    Conversation,
    ConversationEvent,
    InboundReceipt,
    Message,
    WaitingDeliveryUpdate,
)
from crm.models.customers import ChannelIdentity, Consent, Customer, OneTimeCodeEvent
from crm.models.enums import (
    RECEIVED_STATUSES,
    AgentRole,
    Channel,
    ConsentPurpose,
    ConversationStatus,
    DeliveryStatus,
    Fulfilment,
    FunnelStage,
    Language,
    MessageAuthor,
    MessageDirection,
    OrderStatus,
    ReservationStatus,
    ReturnMethod,
    ReturnReason,
    ReturnStatus,
    SalesChannel,
    VerificationMethod,
)
from crm.models.orders import Order, OrderItem, OrderStatusChange, Receipt, order_number_key
from crm.models.reservations import Reservation
from crm.models.returns import Return, ReturnItem
from crm.models.segments import Segment
from crm.models.staff import Agent, AgentSession, ApiToken, CannedResponse
from crm.models.webchat import WebchatSite, WebchatTokenGeneration

__all__ = [
    "RECEIVED_STATUSES",
    "WHATSAPP_WINDOW",
    "Agent",
    "AgentRole",
    "AgentSession",
    "ApiToken",
    "Base",
    "CannedResponse",
    "Channel",
    "ChannelIdentity",
    "Consent",
    "ConsentPurpose",
    "Conversation",
    "ConversationEvent",
    "ConversationStatus",
    "Customer",
    "DeliveryStatus",
    "Fulfilment",
    "FunnelStage",
    "InboundReceipt",
    "Inventory",
    "Language",
    "Message",
    "MessageAuthor",
    "MessageDirection",
    "OneTimeCodeEvent",
    "Order",
    "OrderItem",
    "OrderStatus",
    "OrderStatusChange",
    "Product",
    "ProductPrice",
    "ProductVariant",
    "Receipt",
    "Reservation",
    "ReservationStatus",
    "Return",
    "ReturnItem",
    "ReturnMethod",
    "ReturnReason",
    "ReturnStatus",
    "SalesChannel",
    "Segment",
    "Store",
    "StoreHours",
    "VerificationMethod",
    "WaitingDeliveryUpdate",
    "WebchatSite",
    "WebchatTokenGeneration",
    "order_number_key",
    "utcnow",
]
