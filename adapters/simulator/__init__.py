"""`omnihub demo`'s channel simulator: simulated Twilio and Telegram, a page to play customers.

Customers' messages go to the hub through its real webhooks, signed as the providers
sign them, and the hub's replies come back through its real adapters and provider
libraries, to APIs served here on 127.0.0.1. Wiring (in `omnihub demo`):

    providers = await start_simulated_providers(settings.public_base, hub_base)
    settings, simulated = providers.fill_in(settings)   # only providers without credentials
    app = create_app(settings)
    add_simulator_routes(app, providers)                 # GET /demo/simulator
    app.on_cleanup.append(lambda _: providers.close())
"""

from adapters.simulator.page import PAGE_PATH, add_simulator_routes
from adapters.simulator.providers import SimulatedProviders, start_simulated_providers

__all__ = ["PAGE_PATH", "SimulatedProviders", "add_simulator_routes", "start_simulated_providers"]
