"""The simulated providers' server: Twilio and Telegram on one loopback port, with demo credentials.

`omnihub demo` starts it before the hub (the hub's Telegram bot calls getMe at start)
and points the hub at it, for each provider whose real credentials are not set:

    providers = await start_simulated_providers(settings.public_base, hub_base)
    settings, simulated = providers.fill_in(settings)
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web

from adapters.settings import Settings
from adapters.simulator.events import EventLog
from adapters.simulator.hub_link import HubLink
from adapters.simulator.simulated_telegram import SimulatedTelegram, TelegramCredentials
from adapters.simulator.simulated_twilio import STATUS_STEP, SimulatedTwilio, TwilioCredentials
from crm.models import Channel

# The shop's numbers in the simulation: a Spanish mobile for SMS, and a Madrid number
# registered with WhatsApp Business.
SMS_FROM = "+34722102030"
WHATSAPP_FROM = "+34911234567"

_TWILIO_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP})


class SimulatedProviders:
    """Twilio's Messages API and Telegram's Bot API on 127.0.0.1, and the customers' side.

    Everything the hub sends and every customer message is published on `events`,
    which the simulator page shows live.
    """

    def __init__(self, public_base: str, hub_base: str, *, status_step: float = STATUS_STEP):
        self.events = EventLog()
        self.hub = HubLink(public_base, hub_base)
        self.twilio = SimulatedTwilio(
            TwilioCredentials.generate(sms_from=SMS_FROM, whatsapp_from=WHATSAPP_FROM),
            self.hub,
            self.events,
            status_step=status_step,
        )
        self.telegram = SimulatedTelegram(TelegramCredentials.generate(), self.hub, self.events)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """Where both simulated APIs listen (no trailing slash)."""
        if self._base_url is None:
            raise RuntimeError("the simulated providers are not started")
        return self._base_url

    async def start(self) -> str:
        app = web.Application()
        self.twilio.add_routes(app)
        self.telegram.add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        self._base_url = f"http://127.0.0.1:{port}"
        return self._base_url

    async def close(self) -> None:
        """Stop serving and end the pages' live streams; safe to call more than once."""
        self.events.close()
        await self.twilio.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.hub.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def settings_overrides(self) -> dict[str, str]:
        """Settings aliases that point the hub at both simulated providers."""
        return self.twilio_overrides() | self.telegram_overrides()

    def twilio_overrides(self) -> dict[str, str]:
        twilio = self.twilio.credentials
        return {
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_SMS_FROM": twilio.sms_from,
            "TWILIO_WHATSAPP_FROM": twilio.whatsapp_from,
            "OMNIHUB_TWILIO_API_URL": self.base_url,
        }

    def telegram_overrides(self) -> dict[str, str]:
        telegram = self.telegram.credentials
        return {
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_WEBHOOK_SECRET": telegram.webhook_secret,
            "OMNIHUB_TELEGRAM_API_URL": self.base_url,
        }

    def fill_in(self, settings: Settings) -> tuple[Settings, frozenset[Channel]]:
        """`settings` with the simulation standing in for each provider that has no
        credentials of its own, and the channels it then simulates.

        Real credentials are never replaced: a provider with its account id or token
        set (even half set, which `serve` reports as off) is left as it is.
        """
        update: dict[str, str] = {}
        if not (settings.twilio_account_sid or settings.twilio_auth_token):
            update |= self.twilio_overrides()
        if not (settings.telegram_bot_token or settings.telegram_webhook_secret):
            update |= self.telegram_overrides()
        if not update:
            return settings, frozenset()
        # Validated again (URLs parsed) from aliases only, so no key is given twice;
        # model_validate, unlike Settings(), reads nothing more from the environment.
        filled = Settings.model_validate(settings.model_dump(by_alias=True) | update)
        return filled, self.simulated_channels(filled)

    def simulated_channels(self, settings: Settings) -> frozenset[Channel]:
        """The channels on which the hub with `settings` talks to these simulated providers."""
        channels: set[Channel] = set()
        twilio = self.twilio.credentials
        if (
            settings.twilio_account_sid == twilio.account_sid
            and settings.twilio_auth_token == twilio.auth_token
        ):
            if settings.twilio_sms_from == twilio.sms_from:
                channels.add(Channel.SMS)
            if settings.twilio_whatsapp_from == twilio.whatsapp_from:
                channels.add(Channel.WHATSAPP)
        if settings.telegram_bot_token == self.telegram.credentials.token:
            channels.add(Channel.TELEGRAM)
        return frozenset(channels)


async def start_simulated_providers(
    public_base: str, hub_base: str, *, status_step: float = STATUS_STEP
) -> SimulatedProviders:
    """Start both simulated providers on a free port of 127.0.0.1; close() them at exit.

    `public_base` is the hub's OMNIHUB_PUBLIC_URL (what webhooks are signed for) and
    `hub_base` where the hub listens, which webhooks are posted to.
    """
    providers = SimulatedProviders(public_base, hub_base, status_step=status_step)
    await providers.start()
    return providers
