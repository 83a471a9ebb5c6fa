"""One module per provider channel: parse and verify its webhooks, send through its library."""
