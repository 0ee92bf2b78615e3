"""One typed settings object, read once at start and passed down.

Sources, first wins: keyword arguments (tests), `LAPORBOT_*` environment variables, the TOML
file named by `LAPORBOT_CONFIG` (or `laporbot.toml` in the working directory), then defaults.
The defaults run with no configuration at all: SQLite under `var/`, web chat on 127.0.0.1:8080,
no Telegram or WhatsApp until their tokens are set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from laporbot.paths import data_dir


def _config_file() -> Path | None:
    named = os.environ.get("LAPORBOT_CONFIG")
    if named:
        return Path(named)
    local = Path("laporbot.toml")
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Everything laporbot can be told; every field has a default that works."""

    model_config = SettingsConfigDict(env_prefix="LAPORBOT_", extra="forbid", frozen=True)

    # storage
    data_dir: Path = Path("var")
    database_url: str | None = None
    database_echo: bool = False

    # data folders
    standards_dir: Path = Field(default_factory=lambda: data_dir("standards"))
    conversations_dir: Path = Field(default_factory=lambda: data_dir("conversations"))
    locales_dir: Path = Field(default_factory=lambda: data_dir("locales"))
    default_locale: str = "id"
    locales: Annotated[tuple[str, ...], NoDecode] = ("id", "en")

    # HTTP server: webhooks, web chat, health check
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str | None = None
    # Web chat flood control: messages (and photos) per minute per chat client and per network
    # address (0: no limit). Many phones share one address behind a carrier's NAT, and behind a
    # reverse proxy every client has the proxy's: keep the address limit generous.
    webchat_client_per_minute: int = 60
    webchat_address_per_minute: int = 600
    # Behind a reverse proxy: take the client's address from the X-Forwarded-For entry the
    # proxy added (the last one). Only set it when a proxy adds that header to every request:
    # otherwise anyone can choose the address they are counted under.
    http_behind_proxy: bool = False

    # Telegram
    telegram_token: SecretStr | None = None
    telegram_backend: Literal["aiogram", "ptb"] = "aiogram"
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_poll_timeout: int = 30

    # WhatsApp Cloud API
    whatsapp_access_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_graph_api_url: str = "https://graph.facebook.com"
    whatsapp_graph_api_version: str = "v23.0"
    whatsapp_messages_per_second: float = 80.0
    whatsapp_followup_template: str = "laporbot_followup"
    whatsapp_reminder_template: str = "laporbot_reminder"
    whatsapp_template_language: str = "id"

    # conversations
    session_idle_minutes: int = 30
    session_nudge_minutes: int = 20
    max_message_chars: int = 4000

    # deadlines, reminders, digest
    sweep_interval_seconds: float = 15.0
    digest_time: str = "07:30"
    outbox_max_attempts: int = 8

    # inbound: group commits in flight at once on PostgreSQL (while one waits for the server,
    # the next is handled; one person's updates still one after the other). SQLite writes one
    # transaction at a time: always 1 there.
    postgres_inbox_groups: int = Field(default=3, ge=1, le=16)

    # privacy (UU 27/2022)
    retention_days: int = 365 * 5
    # Raw inbound updates, sent messages, finished conversations and unused web chat photos:
    # they only carried messages, the cases keep what happened.
    transport_retention_days: int = 90

    @field_validator("locales", mode="before")
    @classmethod
    def _split_locales(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to an SQLite file under `data_dir`."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'laporbot.db').as_posix()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _config_file()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)
