"""Telegram: one adapter interface, two backends (aiogram, the default, and python-telegram-bot).

`make_telegram_adapter(settings)` builds the backend `settings.telegram_backend` names, talking
to `settings.telegram_api_url`. `polling.poll` runs long polling; `webhook` registers a webhook
and checks its secret header.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from laporbot.channels.telegram.adapter import BotIdentity, TelegramAdapter
from laporbot.clock import Clock, SystemClock
from laporbot.errors import CatalogError, ConfigError
from laporbot.settings import Settings

__all__ = ["BotIdentity", "TelegramAdapter", "catalog_text", "make_telegram_adapter"]

#: The catalog domain of the words the Telegram adapter itself shows (locales/*/telegram.po).
DOMAIN = "telegram"


def catalog_text(locales_dir: Path, locale: str, msgid: str) -> str:
    """One message of the `telegram` domain, read straight from its `.po` file.

    The adapter shows a single word of its own (the location button's label); reading the
    catalog here keeps the adapter free of the conversation engine's translator.
    """
    path = locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=DOMAIN)
    except OSError as exc:
        raise CatalogError(str(path), msgid, f"cannot read catalog: {exc}") from exc
    message = catalog.get(msgid)
    if message is None or not isinstance(message.string, str) or not message.string:
        raise CatalogError(str(path), msgid, "message id missing or untranslated")
    return message.string


def make_telegram_adapter(
    settings: Settings, *, clock: Clock | None = None, location_label: str | None = None
) -> TelegramAdapter:
    """The Telegram adapter for `settings` (backend, token, Bot API URL); not started yet.

    The location button's label comes from the `telegram` catalog in the default locale: a
    reply keyboard is sent before the conversation knows the reader's language for sure, and
    laporbot serves Indonesian first.
    """
    if settings.telegram_token is None:
        raise ConfigError("Telegram needs LAPORBOT_TELEGRAM_TOKEN")
    token = settings.telegram_token.get_secret_value()
    label = location_label or catalog_text(
        settings.locales_dir, settings.default_locale, "telegram.share_location"
    )
    used_clock = clock or SystemClock()
    if settings.telegram_backend == "ptb":
        from laporbot.channels.telegram.ptb_backend import PtbTelegramAdapter

        return PtbTelegramAdapter(
            token, settings.telegram_api_url, clock=used_clock, location_label=label
        )
    from laporbot.channels.telegram.aiogram_backend import AiogramTelegramAdapter

    return AiogramTelegramAdapter(
        token, settings.telegram_api_url, clock=used_clock, location_label=label
    )
