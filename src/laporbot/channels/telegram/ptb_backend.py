"""The Telegram adapter on python-telegram-bot 22 (`LAPORBOT_TELEGRAM_BACKEND=ptb`).

python-telegram-bot parses updates (`Update.de_json`) and makes every HTTP call through its
`HTTPXRequest`, with `base_url` / `base_file_url` from `settings.telegram_api_url`.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest as PtbBadRequest
from telegram.error import ChatMigrated, Forbidden, TelegramError
from telegram.error import RetryAfter as PtbRetryAfter
from telegram.request import HTTPXRequest

from laporbot.channels.base import (
    PermanentSendError,
    RetryAfter,
    SendError,
    TransientSendError,
)
from laporbot.channels.telegram.adapter import BotIdentity, TelegramAdapter
from laporbot.channels.telegram.common import (
    ParsedCallback,
    ParsedMessage,
    SendStep,
    parse_callback,
    parse_message,
    perform_step,
)
from laporbot.clock import Clock

# python-telegram-bot 22 warns whenever a time period is read as an int, even inside its own
# RetryAfter constructor, unless the program opts in to the coming `timedelta` values (it reads
# the variable at each access). This adapter handles both, so it opts in.
os.environ.setdefault("PTB_TIMEDELTA", "true")


class _RawKeepingRequest(HTTPXRequest):
    """The getUpdates request object, keeping the body of the last successful answer.

    `do_request` is python-telegram-bot's seam for custom transports. The library still makes
    the call, maps its errors and parses the updates; keeping the body lets the inbox store
    each update exactly as Telegram sent it. Long polls on one bot never overlap, so one slot
    suffices.
    """

    last_body: bytes | None = None

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, body = await super().do_request(*args, **kwargs)
        self.last_body = body if 200 <= code <= 299 else None
        return code, body


def _retry_seconds(exc: PtbRetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def map_error(exc: TelegramError) -> SendError:
    """python-telegram-bot's error -> laporbot's: wait, retry later, or give up."""
    if isinstance(exc, PtbRetryAfter):
        return RetryAfter(exc.message, _retry_seconds(exc))
    # BadRequest subclasses NetworkError in python-telegram-bot, so it is tested first
    if isinstance(exc, PtbBadRequest | Forbidden | ChatMigrated):
        return PermanentSendError(exc.message)
    # NetworkError, TimedOut, 5xx, InvalidToken and Conflict (configuration being fixed)
    return TransientSendError(exc.message)


class PtbTelegramAdapter(TelegramAdapter):
    """`TelegramAdapter` backed by python-telegram-bot."""

    backend = "ptb"

    def __init__(self, token: str, api_url: str, *, clock: Clock, location_label: str) -> None:
        super().__init__(clock=clock, location_label=location_label)
        base = api_url.rstrip("/")
        # room for an outbox sending to many chats at once (Telegram allows 30 a second)
        self._request = HTTPXRequest(connection_pool_size=32)
        self._updates_request = _RawKeepingRequest(connection_pool_size=1)
        self._bot = Bot(
            token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=self._request,
            get_updates_request=self._updates_request,
        )

    @property
    def bot(self) -> Bot:
        """The python-telegram-bot `Bot`, for calls this adapter does not wrap."""
        return self._bot

    async def start(self) -> BotIdentity:
        try:
            await self._bot.initialize()  # opens the HTTP clients and calls getMe
        except TelegramError as exc:
            raise map_error(exc) from exc
        return await self.get_me()

    async def close(self) -> None:
        await self._bot.shutdown()
        # shutdown() skips request objects of a bot whose initialize() failed half-way
        await self._request.shutdown()
        await self._updates_request.shutdown()

    async def get_me(self) -> BotIdentity:
        try:
            me = await self._bot.get_me()
        except TelegramError as exc:
            raise map_error(exc) from exc
        return BotIdentity(id=me.id, username=me.username, first_name=me.first_name)

    async def get_raw_updates(
        self,
        *,
        offset: int | None,
        timeout: int,  # noqa: ASYNC109 - Telegram's long-poll seconds, not a deadline
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        self._updates_request.last_body = None
        try:
            # python-telegram-bot adds `timeout` to the read timeout of the long poll itself
            await self._bot.get_updates(offset=offset, timeout=timeout, limit=limit)
        except TelegramError as exc:
            raise map_error(exc) from exc
        body = self._updates_request.last_body
        raw = json.loads(body).get("result") if body is not None else None
        if not isinstance(raw, list):
            raise TransientSendError("getUpdates answered no list of updates")
        return [item for item in raw if isinstance(item, dict)]

    async def set_webhook(self, url: str, secret: str | None) -> None:
        try:
            await self._bot.set_webhook(url, secret_token=secret)
        except TelegramError as exc:
            raise map_error(exc) from exc

    async def delete_webhook(self, *, drop_pending_updates: bool = False) -> None:
        try:
            await self._bot.delete_webhook(drop_pending_updates=drop_pending_updates)
        except TelegramError as exc:
            raise map_error(exc) from exc

    async def get_file_url(self, file_id: str) -> str:
        try:
            file = await self._bot.get_file(file_id)
        except TelegramError as exc:
            raise map_error(exc) from exc
        if file.file_path is None:
            raise PermanentSendError(f"file {file_id} cannot be downloaded (no file_path)")
        return file.file_path  # python-telegram-bot already made it a full URL

    async def download(self, file_id: str) -> bytes:
        try:
            file = await self._bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            raise map_error(exc) from exc

    # --- backend parts ----------------------------------------------------------------------

    def _parse(self, payload: dict[str, Any]) -> ParsedMessage | ParsedCallback | None:
        update = Update.de_json(payload, self._bot)
        if update.message is not None:
            return parse_message(update.message)
        if update.callback_query is not None:
            return parse_callback(update.callback_query)
        return None

    async def _perform(self, step: SendStep) -> int:
        try:
            return await perform_step(self._bot, step, _markup(step), bad_request=PtbBadRequest)
        except TelegramError as exc:
            raise map_error(exc) from exc

    async def _answer_callback(self, query_id: str, text: str | None) -> None:
        try:
            await self._bot.answer_callback_query(query_id, text=text)
        except TelegramError as exc:
            raise map_error(exc) from exc


def _markup(step: SendStep) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    if step.request_location:
        rows = [[KeyboardButton(step.location_label, request_location=True)]]
        rows += [[KeyboardButton(button.label)] for button in step.buttons]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    if step.buttons:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(button.label, callback_data=button.id)]
                for button in step.buttons
            ]
        )
    return None
