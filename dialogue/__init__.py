"""Conversations: message types, ports, the router, handoff and the outbox."""
