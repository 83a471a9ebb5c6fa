"""The closed vocabularies of the CRM, stored as their string values."""

from enum import StrEnum


class Language(StrEnum):
    ES = "es"
    PT = "pt"
    EN = "en"


class Channel(StrEnum):
    """A conversation channel: where a customer writes to the shop."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    WEBCHAT = "webchat"


class VerificationMethod(StrEnum):
    """Who vouches that a channel address belongs to the customer."""

    CARRIER = "carrier"  # the phone network delivered the message from that number
    TELEGRAM_CONTACT = "telegram_contact"  # the user shared their own contact card
    WEBCHAT_HMAC = "webchat_hmac"  # the shop's backend signed the visitor's identity
    ONE_TIME_CODE = "one_time_code"  # the customer typed a code we sent to a known phone


class FunnelStage(StrEnum):
    LEAD = "lead"
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    REPEAT = "repeat"
    LAPSED = "lapsed"


class ConsentPurpose(StrEnum):
    MARKETING = "marketing"


class SalesChannel(StrEnum):
    """Where an order was placed (not where the customer chats)."""

    ONLINE = "online"
    STORE = "store"
    APP = "app"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    WEBCHAT = "webchat"
    PHONE = "phone"
    MARKETPLACE = "marketplace"


class Fulfilment(StrEnum):
    DELIVERY = "delivery"  # shipped to the customer
    PICKUP = "pickup"  # collected by the customer at a store
    IN_STORE = "in_store"  # bought and taken at the till


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    PREPARING = "preparing"
    READY_FOR_PICKUP = "ready_for_pickup"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COLLECTED = "collected"
    COMPLETED = "completed"  # an in-store sale, paid and taken
    CANCELLED = "cancelled"


# The statuses in which the customer holds the goods, so a return can start.
RECEIVED_STATUSES = frozenset({OrderStatus.DELIVERED, OrderStatus.COLLECTED, OrderStatus.COMPLETED})


class ReservationStatus(StrEnum):
    HELD = "held"
    COLLECTED = "collected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ReturnMethod(StrEnum):
    IN_STORE = "in_store"
    COURIER = "courier"


class ReturnReason(StrEnum):
    WRONG_SIZE = "wrong_size"
    DEFECTIVE = "defective"
    NOT_AS_DESCRIBED = "not_as_described"
    CHANGED_MIND = "changed_mind"
    LATE_DELIVERY = "late_delivery"
    OTHER = "other"


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"
    REFUNDED = "refunded"
    REJECTED = "rejected"


class AgentRole(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    MARKETER = "marketer"
    ADMIN = "admin"


class ConversationStatus(StrEnum):
    """Who owns a conversation now; the handoff state machine moves it."""

    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"
    RESOLVED = "resolved"


class MessageDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageAuthor(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # inbound, stored
    PENDING = "pending"  # outbound, not yet handed to the provider
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
