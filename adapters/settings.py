"""The hub's one typed settings object, read from the environment once at start."""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from crm.db import DEFAULT_URL, async_url
from dialogue.inbox import SupportHours


class Settings(BaseSettings):
    """Every setting the hub reads. Unset means the embedded default.

    Nothing else in the code reads os.environ: build this once and pass it on.
    """

    # An error names the variable and what is wrong, never the value: several are
    # secrets (tokens, webhook secrets), and the error goes to the terminal and logs.
    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    database_url: str = Field(DEFAULT_URL, alias="OMNIHUB_DATABASE_URL")
    redis_url: str | None = Field(None, alias="OMNIHUB_REDIS_URL")
    # Who answers the messages `serve` stores: "serve" itself (the default), or
    # "worker": `omnihub worker` processes, told through Redis, so that `serve` only
    # stores and acknowledges (see docs/decisions.md, the router).
    answering: Literal["serve", "worker"] = Field("serve", alias="OMNIHUB_ANSWERING")
    rasa_url: AnyHttpUrl | None = Field(None, alias="OMNIHUB_RASA_URL")
    host: str = Field("127.0.0.1", alias="OMNIHUB_HOST")
    port: int = Field(8080, ge=1, le=65535, alias="OMNIHUB_PORT")
    public_url: AnyHttpUrl | None = Field(None, alias="OMNIHUB_PUBLIC_URL")
    # The largest request body accepted (a batch upsert from the shop's systems).
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0, alias="OMNIHUB_MAX_BODY_BYTES")
    # The reverse proxies in front of the hub (addresses or networks): a request from one
    # of them is counted by the client address its X-Forwarded-For names. Empty: none.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = Field(
        (), alias="OMNIHUB_TRUSTED_PROXIES"
    )
    # New web-chat visitors one client address may start in 10 minutes; 0 is no limit.
    webchat_sessions_per_address: int = Field(
        30, ge=0, alias="OMNIHUB_WEBCHAT_SESSIONS_PER_ADDRESS"
    )
    # Messages one web-chat visitor may send in 10 seconds, and in 10 minutes; 0 is no limit.
    webchat_messages_burst: int = Field(10, ge=0, alias="OMNIHUB_WEBCHAT_MESSAGES_BURST")
    webchat_messages_sustained: int = Field(100, ge=0, alias="OMNIHUB_WEBCHAT_MESSAGES_SUSTAINED")
    # Set: GET /metrics answers only `Authorization: Bearer <this>`. Unset: anyone
    # (as before it existed; `serve` says which at start). See docs/decisions.md.
    metrics_token: SecretStr | None = Field(None, alias="OMNIHUB_METRICS_TOKEN")

    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    twilio_sms_from: str | None = Field(None, alias="TWILIO_SMS_FROM")
    twilio_whatsapp_from: str | None = Field(None, alias="TWILIO_WHATSAPP_FROM")
    twilio_api_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.twilio.com"), alias="OMNIHUB_TWILIO_API_URL"
    )

    telegram_bot_token: str | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_secret: str | None = Field(
        None, alias="TELEGRAM_WEBHOOK_SECRET", pattern=r"^[A-Za-z0-9_-]{1,256}$"
    )
    telegram_api_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.telegram.org"), alias="OMNIHUB_TELEGRAM_API_URL"
    )
    # When people answer in the inbox: "mon-fri 09:00-19:00, sat 10:00-14:00" in the zone
    # below; unset means always. Outside them a customer asking for a person is told
    # when someone will answer.
    support_hours_spec: str | None = Field(None, alias="OMNIHUB_SUPPORT_HOURS")
    support_timezone: str = Field("UTC", alias="OMNIHUB_SUPPORT_TIMEZONE")

    @model_validator(mode="after")
    def _support_hours_read(self) -> Self:
        try:
            self.support_hours  # noqa: B018 (parsed now, so a bad value stops the start)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ValueError(f"OMNIHUB_SUPPORT_HOURS / OMNIHUB_SUPPORT_TIMEZONE: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _workers_need_redis(self) -> Self:
        if self.answering == "worker" and self.redis_url is None:
            raise ValueError(
                "OMNIHUB_ANSWERING=worker needs OMNIHUB_REDIS_URL: the workers are told "
                "through Redis what to answer"
            )
        return self

    @property
    def support_hours(self) -> SupportHours:
        return SupportHours.parse(self.support_hours_spec, self.support_timezone)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        return async_url(url)

    @field_validator("redis_url", "metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("metrics_token")
    @classmethod
    def _a_token_hard_to_guess(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[!-~]{16,}", value.get_secret_value()):
            # Checked on each scrape, unthrottled: it must be long enough not to guess.
            raise ValueError(
                "give at least 16 printable characters without spaces, "
                "e.g. the output of `openssl rand -hex 32`"
            )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        networks = []
        for entry in filter(None, (part.strip() for part in value.split(","))):
            try:
                # Strict: "10.0.0.1/8" is refused rather than read as the whole 10.0.0.0/8.
                networks.append(ip_network(entry))
            except ValueError as exc:
                raise ValueError(
                    f"{exc}; give addresses or networks, comma-separated: "
                    "10.0.0.5, 10.0.0.0/8, 2001:db8::/32"
                ) from exc
        return tuple(networks)

    @property
    def public_base(self) -> str:
        """The base URL providers call; defaults to where the hub listens."""
        if self.public_url is not None:
            return str(self.public_url).rstrip("/")
        return f"http://{self.host}:{self.port}"

    def channel_status(self) -> dict[str, bool]:
        """Which provider channels have their credentials; the others are off."""
        twilio = bool(self.twilio_account_sid and self.twilio_auth_token)
        return {
            "sms": twilio and bool(self.twilio_sms_from),
            "whatsapp": twilio and bool(self.twilio_whatsapp_from),
            "telegram": bool(self.telegram_bot_token and self.telegram_webhook_secret),
            "webchat": True,
        }
