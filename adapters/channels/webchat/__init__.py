"""The web-chat channel: sessions, the widget's websocket, its sender, the widget and a demo page.

The lead wires it: `add_routes(app)` in create_app (with app[DATABASE], app[INBOUND],
app[BUS] set), `WebchatSender(app[BUS])` in the outbox's senders, `WebchatProofs(app[BUS])` as the
router's identity guard, and
`add_demo_routes(app, site_key)` for `omnihub demo`.
"""

from adapters.channels.webchat.config import WebchatConfig
from adapters.channels.webchat.demo import add_demo_routes
from adapters.channels.webchat.frames import visitor_topic
from adapters.channels.webchat.proofs import WebchatProofs
from adapters.channels.webchat.routes import add_routes, drop_connections
from adapters.channels.webchat.sender import CAPABILITIES, WebchatSender
from adapters.channels.webchat.tokens import identity_hash

__all__ = [
    "CAPABILITIES",
    "WebchatConfig",
    "WebchatProofs",
    "WebchatSender",
    "add_demo_routes",
    "add_routes",
    "drop_connections",
    "identity_hash",
    "visitor_topic",
]
