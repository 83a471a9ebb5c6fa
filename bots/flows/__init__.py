"""The self-service flows: small state machines with slots, one module each."""
