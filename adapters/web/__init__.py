"""The aiohttp application: every HTTP route the hub serves."""
