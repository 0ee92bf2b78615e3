"""The Telegram adapter interface both backends implement, and the rules they share.

`TelegramAdapter` is a `ChannelAdapter` plus what only Telegram has: answering a pressed
button, long polling, webhook registration and fetching a photo. A backend supplies the
library-specific parts (`_parse`, `_perform`, the raw calls); splitting, translating, planning
the calls of a send and mapping the answer stay here, identical for both. The plain update
shapes are read without either library (`plain.parse_plain`), the same for both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from laporbot.channels.base import ChannelAdapter, RawUpdate, SendResult
from laporbot.channels.telegram.common import (
    ParsedCallback,
    ParsedMessage,
    SendStep,
    callback_query_id,
    inbound_from_callback,
    inbound_from_message,
    plan_send,
    split_update,
    update_kind,
)
from laporbot.channels.telegram.plain import parse_plain
from laporbot.clock import Clock
from laporbot.errors import BadRequest
from laporbot.messages import Channel, InboundMessage, OutboundMessage

#: Update types laporbot translates; every other type (edited_message, my_chat_member, ...)
#: translates to no message at all.
USED_UPDATE_TYPES = ("message", "callback_query")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is, from getMe."""

    id: int
    username: str | None
    first_name: str


class TelegramAdapter(ABC):
    """Translate Telegram updates and send messages through one Telegram library.

    Use as `async with adapter:` (or `start()` / `close()`): starting opens the library's HTTP
    session and checks the token with getMe; `split` and `translate` work without starting.
    """

    channel: Channel = "telegram"
    backend: ClassVar[Literal["aiogram", "ptb"]]

    def __init__(self, *, clock: Clock, location_label: str) -> None:
        self._clock = clock
        self._location_label = location_label

    # --- ChannelAdapter ---------------------------------------------------------------------

    def split(self, body: dict[str, Any]) -> list[RawUpdate]:
        """One Telegram Update (webhook body or polled item) -> one `RawUpdate`."""
        return split_update(body)

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        """Parse the stored update (`parse_plain`, else the backend's library) and return what
        the person did."""
        if update.channel != "telegram":
            raise BadRequest(f"not a telegram update: {update.channel}")
        update_id = int(split_update(update.payload)[0].platform_id)
        if update_kind(update.payload) not in USED_UPDATE_TYPES:
            return []
        # the plain shapes (nearly every update) without the library; the rest through it
        parsed = parse_plain(update.payload)
        try:
            if parsed is None:
                parsed = self._parse(update.payload)
        except BadRequest:
            raise
        except Exception as exc:
            # each library raises its own error types on a broken payload (pydantic's
            # ValidationError, KeyError or TypeError in python-telegram-bot's de_json)
            raise BadRequest(f"telegram update {update_id} is malformed: {exc}") from exc
        if isinstance(parsed, ParsedMessage):
            return inbound_from_message(update_id, parsed)
        if isinstance(parsed, ParsedCallback):
            return inbound_from_callback(update_id, parsed, self._clock.now())
        return []

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one message (several parts past 4096 characters, keyboard on the last part).

        Raises `RetryAfter`, `TransientSendError` or `PermanentSendError`. A message of several
        parts that fails half-way has sent the earlier parts; callers that must never repeat a
        part can send `parts(message)` one by one instead.
        """
        ids: list[str] = []
        for step in plan_send(message, location_label=self._location_label):
            ids.append(str(await self._perform(step)))
        return SendResult(platform_message_ids=tuple(ids))

    def split_outbound(self, message: OutboundMessage) -> list[OutboundMessage]:
        """`message` as messages that each take exactly one Bot API call, in order.

        `send` of a long message makes several calls; if one fails half-way, retrying the
        whole message would repeat the parts already delivered. An outbox that stores these
        pieces as separate rows retries only what was not delivered.
        """
        return [_step_message(message, step) for step in self.parts(message)]

    def parts(self, message: OutboundMessage) -> list[SendStep]:
        """The Bot API calls `send(message)` makes, in order."""
        return plan_send(message, location_label=self._location_label)

    async def answer_callback(self, update: RawUpdate, text: str | None = None) -> bool:
        """Answer the callback query in `update` so the button stops spinning; False if the
        update is not a callback query. Raises the `SendError`s of `send`."""
        query_id = callback_query_id(update)
        if query_id is None:
            return False
        await self._answer_callback(query_id, text)
        return True

    # --- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def start(self) -> BotIdentity:
        """Open the HTTP session and check the token (getMe)."""

    @abstractmethod
    async def close(self) -> None:
        """Close the HTTP session; safe to call twice."""

    # --- Bot API calls ----------------------------------------------------------------------

    @abstractmethod
    async def get_me(self) -> BotIdentity:
        """getMe."""

    @abstractmethod
    async def get_raw_updates(
        self,
        *,
        offset: int | None,
        timeout: int,  # noqa: ASYNC109 - Telegram's long-poll seconds, not a deadline
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """getUpdates, returning each update as the JSON object Telegram sent (what the inbox
        stores). Raises `TransientSendError` on network errors and 5xx, `RetryAfter` on 429."""

    @abstractmethod
    async def set_webhook(self, url: str, secret: str | None) -> None:
        """setWebhook with the secret Telegram will echo in `X-Telegram-Bot-Api-Secret-Token`."""

    @abstractmethod
    async def delete_webhook(self, *, drop_pending_updates: bool = False) -> None:
        """deleteWebhook, so getUpdates may be used."""

    @abstractmethod
    async def get_file_url(self, file_id: str) -> str:
        """getFile, then the download URL (it contains the bot token: do not log or show it)."""

    @abstractmethod
    async def download(self, file_id: str) -> bytes:
        """getFile and download the file's bytes (a citizen's photo an officer asks to see)."""

    # --- backend parts ----------------------------------------------------------------------

    @abstractmethod
    def _parse(self, payload: dict[str, Any]) -> ParsedMessage | ParsedCallback | None:
        """Parse a `message` or `callback_query` update with the library's own types."""

    @abstractmethod
    async def _perform(self, step: SendStep) -> int:
        """Make one call of a send; return the message id. Maps the library's errors."""

    @abstractmethod
    async def _answer_callback(self, query_id: str, text: str | None) -> None:
        """answerCallbackQuery."""


def _step_message(message: OutboundMessage, step: SendStep) -> OutboundMessage:
    return replace(
        message,
        text=step.text,
        buttons=step.buttons,
        request_location=step.request_location,
        photo=step.photo,
        edit_of=str(step.edit_of) if step.edit_of is not None else None,
    )


if TYPE_CHECKING:

    def _is_a_channel_adapter(adapter: TelegramAdapter) -> ChannelAdapter:
        # mypy checks here that every Telegram backend satisfies the channel interface
        return adapter
