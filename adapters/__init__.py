"""The edge: settings, the CLI, the aiohttp app and one module per provider channel."""
