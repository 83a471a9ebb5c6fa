"""Settings come from the environment names the README documents."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from pydantic import ValidationError

from adapters.channels.webchat.config import CONFIG as WEBCHAT
from adapters.settings import Settings
from adapters.web.app import create_app


def test_unset_means_the_embedded_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OMNIHUB_DATABASE_URL",
        "OMNIHUB_REDIS_URL",
        "OMNIHUB_RASA_URL",
        "OMNIHUB_PORT",
        "OMNIHUB_WEBCHAT_SESSIONS_PER_ADDRESS",
        "OMNIHUB_WEBCHAT_MESSAGES_BURST",
        "OMNIHUB_WEBCHAT_MESSAGES_SUSTAINED",
        "OMNIHUB_TRUSTED_PROXIES",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///./omnihub.db"
    assert settings.redis_url is None
    assert settings.rasa_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.public_base == "http://127.0.0.1:8080"
    assert settings.webchat_sessions_per_address == 30
    assert (settings.webchat_messages_burst, settings.webchat_messages_sustained) == (10, 100)
    assert settings.trusted_proxies == ()  # request.remote is the client


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIHUB_DATABASE_URL", "postgresql://u:p@db:5432/omnihub")
    monkeypatch.setenv("OMNIHUB_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("OMNIHUB_PUBLIC_URL", "https://hub.example.com/")
    monkeypatch.setenv("OMNIHUB_PORT", "9000")
    monkeypatch.setenv("OMNIHUB_WEBCHAT_SESSIONS_PER_ADDRESS", "200")
    monkeypatch.setenv("OMNIHUB_WEBCHAT_MESSAGES_BURST", "5")
    monkeypatch.setenv("OMNIHUB_WEBCHAT_MESSAGES_SUSTAINED", "0")
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/omnihub"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.public_base == "https://hub.example.com"
    assert settings.port == 9000
    assert settings.webchat_sessions_per_address == 200
    # The web chat gets them from the hub's app.
    config = create_app(settings)[WEBCHAT]
    assert config.sessions_per_address == 200
    assert (config.messages_burst, config.messages_sustained) == (5, 0)


def test_trusted_proxies_are_addresses_and_networks_separated_by_commas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMNIHUB_TRUSTED_PROXIES", " 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,")
    assert Settings().trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("192.168.1.7/32"),
        ip_network("2001:db8::/32"),
    )
    monkeypatch.setenv("OMNIHUB_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == ()


def test_a_channel_without_credentials_is_off() -> None:
    settings = Settings(TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="t", TWILIO_SMS_FROM="+1")
    assert settings.channel_status() == {
        "sms": True,
        "whatsapp": False,
        "telegram": False,
        "webchat": True,
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OMNIHUB_DATABASE_URL", "mysql://root@localhost/x"),
        ("OMNIHUB_PORT", "eighty"),
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces"),
        ("OMNIHUB_PUBLIC_URL", "not a url"),
        ("OMNIHUB_WEBCHAT_SESSIONS_PER_ADDRESS", "-1"),
        ("OMNIHUB_WEBCHAT_MESSAGES_BURST", "-1"),
        ("OMNIHUB_WEBCHAT_MESSAGES_SUSTAINED", "many"),
        ("OMNIHUB_TRUSTED_PROXIES", "proxy.internal"),
        ("OMNIHUB_TRUSTED_PROXIES", "10.0.0.0/8 192.168.1.7"),
        ("OMNIHUB_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("OMNIHUB_TRUSTED_PROXIES", "10.0.0.0/8, 300.1.2.3"),
        ("OMNIHUB_TRUSTED_PROXIES", "*"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        Settings()


def test_a_network_written_with_its_host_bits_is_refused_not_widened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMNIHUB_TRUSTED_PROXIES", "10.0.0.1/8")
    with pytest.raises(
        ValidationError, match=r"(?s)OMNIHUB_TRUSTED_PROXIES.*10\.0\.0\.1/8 has host bits set"
    ):
        Settings()


def test_answering_in_workers_needs_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMNIHUB_REDIS_URL", raising=False)
    monkeypatch.setenv("OMNIHUB_ANSWERING", "worker")
    with pytest.raises(ValidationError, match="OMNIHUB_ANSWERING=worker needs OMNIHUB_REDIS_URL"):
        Settings()
    monkeypatch.setenv("OMNIHUB_REDIS_URL", "redis://cache:6379/0")
    assert Settings().answering == "worker"
    monkeypatch.setenv("OMNIHUB_ANSWERING", "elsewhere")
    with pytest.raises(ValidationError, match="OMNIHUB_ANSWERING"):
        Settings()


def test_a_metrics_token_easy_to_guess_stops_the_start_without_being_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for weak in ("hunter2", "a token with spaces in it"):
        monkeypatch.setenv("OMNIHUB_METRICS_TOKEN", weak)
        with pytest.raises(ValidationError, match="OMNIHUB_METRICS_TOKEN") as refused:
            Settings()
        assert weak not in str(refused.value)
    monkeypatch.setenv("OMNIHUB_METRICS_TOKEN", "")
    assert Settings().metrics_token is None
    monkeypatch.setenv("OMNIHUB_METRICS_TOKEN", "0123456789abcdef")
    token = Settings().metrics_token
    assert token is not None
    assert token.get_secret_value() == "0123456789abcdef"
    assert "0123456789abcdef" not in repr(Settings())
