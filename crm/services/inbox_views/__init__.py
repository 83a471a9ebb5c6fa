"""What the shared inbox reads: conversation lists, one conversation, a customer's panel.

Read-only queries returning frozen dataclasses, never ORM objects, so what the web
side turns into JSON is exactly what is declared here. One module per view: listing
(the list, and a conversation's summary), detail (one conversation), panel (the
customer beside it), pickers (canned responses, agents to transfer to).
"""

from crm.services.inbox_views.detail import (
    ConversationDetail,
    TemplateView,
    conversation_detail,
    whatsapp_window,
)
from crm.services.inbox_views.listing import (
    DEFAULT_PAGE,
    MAX_PAGE,
    BadCursor,
    ConversationNotFound,
    ConversationPage,
    ConversationSummary,
    ListFilter,
    View,
    conversation_summary,
    decode_cursor,
    list_conversations,
)
from crm.services.inbox_views.panel import (
    CustomerNotFound,
    CustomerPanel,
    customer_panel,
    reservation_view,
    return_view,
)
from crm.services.inbox_views.pickers import (
    AgentView,
    CannedView,
    answering_agents,
    canned_responses,
)

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "AgentView",
    "BadCursor",
    "CannedView",
    "ConversationDetail",
    "ConversationNotFound",
    "ConversationPage",
    "ConversationSummary",
    "CustomerNotFound",
    "CustomerPanel",
    "ListFilter",
    "TemplateView",
    "View",
    "answering_agents",
    "canned_responses",
    "conversation_detail",
    "conversation_summary",
    "customer_panel",
    "decode_cursor",
    "list_conversations",
    "reservation_view",
    "return_view",
    "whatsapp_window",
]
