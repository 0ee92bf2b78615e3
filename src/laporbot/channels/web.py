"""The web chat as a channel like the others.

Inbound: the page POSTs `{client_id, message_id, text | choice | location}` to `/api/chat/send`;
`split` turns that body into one `RawUpdate` keyed `<client_id>:<message_id>`, so a page that
re-sends after a lost answer changes nothing. The client id is a random id the page keeps in
`localStorage`; it is both the user and the chat.

A photo is uploaded to `/api/chat/photo` (multipart); the server stores the file under
`<data_dir>/uploads/` by its SHA-256 and the update refers to it as `web-upload:<name>`.

Outbound: the dispatcher "sends" by marking the outbox row sent; the page reads the sent rows of
its chat (`/api/chat/messages`), so the message list lives in the database and a reload loses
nothing. `send` only wakes the long polls waiting on that chat.
"""

from __future__ import annotations

import asyncio
import math
import re
from datetime import datetime
from typing import Any

from laporbot.channels.base import RawUpdate, SendResult
from laporbot.errors import BadRequest
from laporbot.messages import Channel, InboundMessage, Location, OutboundMessage, Photo

_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TEXT_CHARS = 20_000  # far past any sane answer; the engine re-asks past its own limit
MAX_CHOICE_CHARS = 64
MAX_DISPLAY_CHARS = 300  # how the page showed a pressed button or a shared pin


def valid_client_id(value: object) -> bool:
    """True for a client id the page could have made (8-64 of A-Z a-z 0-9 _ -)."""
    return isinstance(value, str) and _ID.match(value) is not None


class WebChatAdapter:
    """Translate web chat posts to inbound messages; wake long polls on "send"."""

    channel: Channel = "web"

    def __init__(self) -> None:
        self._waiters: dict[str, asyncio.Event] = {}
        self._counts: dict[asyncio.Event, int] = {}
        self.closing = False

    def split(self, body: dict[str, Any], *, uploaded: bool = False) -> list[RawUpdate]:
        """Check one posted body and key it by client and message id.

        A `photo` is accepted only from the upload route (`uploaded=True`), which stored the
        file itself: a posted body cannot name a file on the server."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        client_id = body.get("client_id")
        message_id = body.get("message_id")
        if not valid_client_id(client_id):
            raise BadRequest("client_id must be 8-64 letters, digits, '-' or '_'")
        if not isinstance(message_id, str) or not _MESSAGE_ID.match(message_id):
            raise BadRequest("message_id must be 1-64 letters, digits, '-' or '_'")
        if body.get("photo") is not None and not uploaded:
            raise BadRequest("photos are sent to /api/chat/photo")
        _kind_of(body)  # refuse a malformed body before it is stored
        for key, longest in (("display", MAX_DISPLAY_CHARS), ("lang", 16)):
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > longest):
                raise BadRequest(f"{key} must be a string of at most {longest} characters")
        return [RawUpdate(channel="web", platform_id=f"{client_id}:{message_id}", payload=body)]

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        """One stored post becomes one inbound message."""
        body = update.payload
        received = body.get("received_at")
        if not isinstance(received, str):
            raise BadRequest("stored web chat update lacks received_at")
        client_id = str(body["client_id"])
        kind = _kind_of(body)
        common: dict[str, Any] = {
            "channel": "web",
            "platform_id": update.platform_id,
            "user_id": client_id,
            "chat_id": client_id,
            "received_at": datetime.fromisoformat(received),
            "language_hint": body.get("lang") if isinstance(body.get("lang"), str) else None,
        }
        if kind == "text":
            text = str(body["text"])
            if text.startswith("/"):
                return [InboundMessage(kind="command", text=text, **common)]
            return [InboundMessage(kind="text", text=text, **common)]
        if kind == "choice":
            return [InboundMessage(kind="choice", choice=str(body["choice"]), **common)]
        if kind == "photo":
            photo = body["photo"]
            caption = photo.get("caption") if isinstance(photo.get("caption"), str) else None
            return [InboundMessage(kind="photo", photo=Photo(str(photo["ref"]), caption), **common)]
        where = body["location"]
        return [
            InboundMessage(
                kind="location",
                location=Location(float(where["latitude"]), float(where["longitude"])),
                **common,
            )
        ]

    async def send(self, message: OutboundMessage) -> SendResult:
        """Nothing to transmit: the row itself is the delivery. Wake that chat's long polls."""
        self.notify(message.chat_id)
        return SendResult(platform_message_ids=())

    def notify(self, chat_id: str) -> None:
        """Wake every long poll waiting on `chat_id`."""
        event = self._waiters.pop(chat_id, None)
        if event is not None:
            event.set()

    async def wait(self, chat_id: str, seconds: float) -> bool:
        """Wait up to `seconds` for something new in `chat_id`; True if woken."""
        if self.closing:
            return True
        event = self._waiters.get(chat_id)
        if event is None:
            event = self._waiters[chat_id] = asyncio.Event()
        self._counts[event] = self._counts.get(event, 0) + 1
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        finally:
            self._counts[event] -= 1
            if not self._counts[event]:
                del self._counts[event]
                if self._waiters.get(chat_id) is event:
                    del self._waiters[chat_id]
        return True

    def close(self) -> None:
        """The service is stopping: answer every long poll now, and every later one at once."""
        self.closing = True
        for event in self._waiters.values():
            event.set()
        self._waiters.clear()

    def waiting(self) -> int:
        """How many chats have a long poll waiting (for tests and metrics)."""
        return len(self._waiters)


def _kind_of(body: dict[str, Any]) -> str:
    """Which one of text, choice or location the body carries; BadRequest otherwise."""
    keys = ("text", "choice", "location", "photo")
    present = [key for key in keys if body.get(key) is not None]
    if len(present) != 1:
        raise BadRequest("send exactly one of text, choice or location")
    kind = present[0]
    if kind == "text":
        text = body["text"]
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("text must be a non-empty string")
        if len(text) > MAX_TEXT_CHARS:
            raise BadRequest(f"text longer than {MAX_TEXT_CHARS} characters")
    elif kind == "choice":
        choice = body["choice"]
        if not isinstance(choice, str) or not choice or len(choice) > MAX_CHOICE_CHARS:
            raise BadRequest(f"choice must be a string of 1-{MAX_CHOICE_CHARS} characters")
    elif kind == "photo":
        photo = body["photo"]
        if not isinstance(photo, dict) or not isinstance(photo.get("ref"), str):
            raise BadRequest("photo must be {ref}")
    else:
        where = body["location"]
        if not isinstance(where, dict):
            raise BadRequest("location must be {latitude, longitude}")
        lat, lon = where.get("latitude"), where.get("longitude")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
            raise BadRequest("latitude and longitude must be numbers")
        assert isinstance(lat, int | float)
        assert isinstance(lon, int | float)
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise BadRequest("latitude and longitude must be finite")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise BadRequest("latitude must be within ±90 and longitude within ±180")
    return kind
