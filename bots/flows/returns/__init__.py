"""Returns by chat: the flow (flow.py), what the customer's words answer (words.py), their
orders screened and the lines chosen (purchases.py), and what the bot says (replies.py).

Whether an order can be returned, and what is left of each line, are
crm.services.returns'; these modules only ask it and turn its answers into words.
"""

from bots.flows.returns.flow import Returns
from bots.flows.returns.replies import FLOW
from bots.flows.returns.words import reason_from_text

__all__ = ["FLOW", "Returns", "reason_from_text"]
