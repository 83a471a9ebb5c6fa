"""The Twilio SMS and WhatsApp channel: its signed webhooks and its senders.

`add_routes(app)` registers POST /webhooks/twilio (inbound messages) and POST
/webhooks/twilio/status (delivery status callbacks); `senders(settings)` builds the
senders for the numbers that are configured.
"""

from adapters.channels.twilio._sender import CAPABILITIES, TwilioSender, senders
from adapters.channels.twilio._webhooks import INBOUND_PATH, STATUS_PATH, add_routes

__all__ = ["CAPABILITIES", "INBOUND_PATH", "STATUS_PATH", "TwilioSender", "add_routes", "senders"]
