"""The one interface every channel adapter implements.

An adapter only translates: a platform payload becomes zero or more `InboundMessage`s, an
`OutboundMessage` becomes one or more platform calls. Storing, deduplicating, pacing and retrying
belong to the inbox and the outbox dispatcher, never to an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from laporbot.errors import LaporbotError
from laporbot.messages import Channel, InboundMessage, OutboundMessage


@dataclass(frozen=True, slots=True)
class RawUpdate:
    """One platform delivery as it arrived, before translation; what the inbox stores.

    `platform_id` is the dedup key within the channel (Telegram `update_id`, WhatsApp message or
    status id). `payload` is the JSON-able body of that one update.
    """

    channel: Channel
    platform_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the platform answered for a sent message: its id(s) there, for later edits."""

    platform_message_ids: tuple[str, ...]


class SendError(LaporbotError):
    """Sending failed; subclasses say whether and when to try again."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RetryAfter(SendError):
    """The platform asked us to wait (`429`, Telegram `retry_after`) before sending again."""

    def __init__(self, reason: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(reason)


class TransientSendError(SendError):
    """A network error or a 5xx: try again later with backoff."""


class PermanentSendError(SendError):
    """The message can never be delivered (blocked by the user, chat not found, bad request)."""


class ChannelAdapter(Protocol):
    """Translate one platform to and from laporbot's channel-neutral messages."""

    channel: Channel

    def split(self, body: dict[str, Any]) -> list[RawUpdate]:
        """Cut one webhook body (or one polled update) into updates with their dedup ids.

        Raises `laporbot.errors.BadRequest` on a body that is not of the platform's shape.
        """
        ...

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        """Turn one stored update into inbound messages; an update type laporbot does not use
        (a status callback, an edited message) gives an empty list, a malformed one raises
        `BadRequest`."""
        ...

    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message; raises `RetryAfter`, `TransientSendError` or
        `PermanentSendError`."""
        ...
