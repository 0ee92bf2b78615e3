"""The Telegram adapter on aiogram 3 (the default backend).

aiogram parses updates (`Update.model_validate`) and makes every HTTP call through its
`AiohttpSession`, pointed at `settings.telegram_api_url` so a local Bot API server works.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods import TelegramMethod
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)

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


class _GetRawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates answering plain JSON objects, so the inbox stores what Telegram sent."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None


def map_error(exc: Exception) -> SendError:
    """aiogram's error -> laporbot's: wait, retry later, or give up with the reason."""
    if isinstance(exc, TelegramRetryAfter):
        return RetryAfter(exc.message, float(exc.retry_after))
    # too large is a network error in aiogram's tree, but retrying cannot shrink the file
    if isinstance(
        exc,
        TelegramEntityTooLarge
        | TelegramForbiddenError
        | TelegramBadRequest
        | TelegramNotFound
        | TelegramMigrateToChat,
    ):
        return PermanentSendError(exc.message)
    # network errors, 5xx, 401/409 (configuration being fixed), undecodable answers
    return TransientSendError(str(exc))


class AiogramTelegramAdapter(TelegramAdapter):
    """`TelegramAdapter` backed by aiogram."""

    backend = "aiogram"

    def __init__(self, token: str, api_url: str, *, clock: Clock, location_label: str) -> None:
        super().__init__(clock=clock, location_label=location_label)
        self._session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
        self._bot = Bot(token, session=self._session)

    @property
    def bot(self) -> Bot:
        """The aiogram `Bot`, for callers that need a call this adapter does not wrap."""
        return self._bot

    async def start(self) -> BotIdentity:
        return await self.get_me()

    async def close(self) -> None:
        await self._session.close()

    async def get_me(self) -> BotIdentity:
        try:
            me = await self._bot.get_me()
        except AiogramError as exc:
            raise map_error(exc) from exc
        return BotIdentity(id=me.id, username=me.username, first_name=me.first_name)

    async def get_raw_updates(
        self,
        *,
        offset: int | None,
        timeout: int,  # noqa: ASYNC109 - Telegram's long-poll seconds, not a deadline
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        method = _GetRawUpdates(offset=offset, timeout=timeout, limit=limit)
        try:
            # the HTTP timeout must outlast the long poll itself
            return await self._bot(method, request_timeout=timeout + 10)
        except AiogramError as exc:
            raise map_error(exc) from exc

    async def set_webhook(self, url: str, secret: str | None) -> None:
        try:
            await self._bot.set_webhook(url, secret_token=secret)
        except AiogramError as exc:
            raise map_error(exc) from exc

    async def delete_webhook(self, *, drop_pending_updates: bool = False) -> None:
        try:
            await self._bot.delete_webhook(drop_pending_updates=drop_pending_updates)
        except AiogramError as exc:
            raise map_error(exc) from exc

    async def get_file_url(self, file_id: str) -> str:
        try:
            file = await self._bot.get_file(file_id)
        except AiogramError as exc:
            raise map_error(exc) from exc
        if file.file_path is None:
            raise PermanentSendError(f"file {file_id} cannot be downloaded (no file_path)")
        return self._session.api.file_url(self._bot.token, file.file_path)

    async def download(self, file_id: str) -> bytes:
        try:
            data = await self._bot.download(file_id)
        except AiogramError as exc:
            raise map_error(exc) from exc
        if data is None:  # only when a destination is given, which we never do
            raise TransientSendError(f"file {file_id} came back empty")
        return data.read()

    # --- backend parts ----------------------------------------------------------------------

    def _parse(self, payload: dict[str, Any]) -> ParsedMessage | ParsedCallback | None:
        update = Update.model_validate(payload, context={"bot": self._bot})
        if update.message is not None:
            return parse_message(update.message)
        if update.callback_query is not None:
            return parse_callback(update.callback_query)
        return None

    async def _perform(self, step: SendStep) -> int:
        try:
            return await perform_step(
                self._bot, step, _markup(step), bad_request=TelegramBadRequest
            )
        except AiogramError as exc:
            raise map_error(exc) from exc

    async def _answer_callback(self, query_id: str, text: str | None) -> None:
        try:
            await self._bot.answer_callback_query(query_id, text=text)
        except AiogramError as exc:
            raise map_error(exc) from exc


def _markup(step: SendStep) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    if step.request_location:
        rows = [[KeyboardButton(text=step.location_label, request_location=True)]]
        rows += [[KeyboardButton(text=button.label)] for button in step.buttons]
        return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)
    if step.buttons:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=button.label, callback_data=button.id)]
                for button in step.buttons
            ]
        )
    return None
