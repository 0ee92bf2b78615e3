"""Webhook mode: register the webhook, check Telegram's secret-token header, say what to answer.

The HTTP route itself lives with the web server; it calls `check_secret` before storing
anything and answers 401 when it returns False, and answers a stored delivery with
`webhook_answer`.

Telegram lets a webhook answer carry one Bot API call ("Making requests when getting
updates"): a JSON body with `method` and that method's parameters, which Telegram performs
once it has the answer, without telling whether it worked. A pressed inline button is answered
that way (`answerCallbackQuery` stops its spinner), instead of an outgoing request per button.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence

from laporbot.channels.base import RawUpdate
from laporbot.channels.telegram.adapter import TelegramAdapter
from laporbot.channels.telegram.common import callback_query_id
from laporbot.errors import ConfigError
from laporbot.settings import Settings

#: The header Telegram sends with every webhook delivery when a secret was set.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

#: The answer to a stored delivery that asks Telegram for nothing more.
NO_CALL = b'{"ok":true}'

_ANSWER_CALLBACK = b'{"method":"answerCallbackQuery","callback_query_id":'

# Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and - as secret_token
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # a plain dict is case-sensitive, HTTP header names are not
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def check_secret(headers: Mapping[str, str], expected: str) -> bool:
    """True only if the delivery carries the secret we registered; compared in constant time.

    A missing header is False, and so is an empty `expected` (no secret configured means no
    delivery can be trusted).
    """
    given = _header(headers, SECRET_HEADER)
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def webhook_answer(updates: Sequence[RawUpdate]) -> bytes:
    """The JSON body to answer a stored delivery with: `answerCallbackQuery` for a pressed
    button, else `NO_CALL`.

    Given for a redelivery too: Telegram sends an update again when it did not get the earlier
    answer, so the call that answer carried may never have been made. Answering a query twice
    is harmless (Telegram refuses the second, and nobody sees the refusal).
    """
    for update in updates:
        query_id = callback_query_id(update)
        if query_id is not None:
            # the id as a JSON string: json.dumps' fast path for a str (a dict with options
            # takes ten times as long, on every button)
            return _ANSWER_CALLBACK + json.dumps(query_id).encode() + b"}"
    return NO_CALL


def derive_secret(token: str) -> str:
    """A webhook secret derived from the bot token: stable across restarts, unguessable without
    the token, so a deployer need not invent one (`LAPORBOT_TELEGRAM_WEBHOOK_SECRET` wins)."""
    return hmac.new(token.encode("utf-8"), b"laporbot-telegram-webhook", hashlib.sha256).hexdigest()


def webhook_secret(settings: Settings) -> str:
    """The secret to register and to expect: the configured one, else one derived from the
    token (raises `ConfigError` if there is no token)."""
    if settings.telegram_webhook_secret is not None:
        secret = settings.telegram_webhook_secret.get_secret_value()
    elif settings.telegram_token is not None:
        secret = derive_secret(settings.telegram_token.get_secret_value())
    else:
        raise ConfigError("Telegram needs LAPORBOT_TELEGRAM_TOKEN")
    check_secret_shape(secret)
    return secret


def check_secret_shape(secret: str) -> None:
    """Refuse a secret Telegram would refuse in setWebhook (raises `ConfigError`)."""
    if not _SECRET_SHAPE.fullmatch(secret):
        raise ConfigError(
            "telegram webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
        )


async def set_webhook(adapter: TelegramAdapter, url: str, secret: str) -> None:
    """Point Telegram at `url`; every delivery will carry `secret` in `SECRET_HEADER`."""
    check_secret_shape(secret)
    if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
        # Telegram delivers to HTTPS only; plain HTTP is allowed for a loopback test server
        raise ConfigError(f"telegram webhook URL must be https: {url}")
    await adapter.set_webhook(url, secret)
