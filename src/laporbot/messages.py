"""Channel-neutral messages: what adapters produce from platform payloads and what they send.

Adapters only translate between these and a platform; no business rule lives in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Channel = Literal["telegram", "whatsapp", "web", "terminal"]
#: "unsupported": something a person sent that no step can read (a sticker, a voice note, a
#: video, a file, a contact card); the conversation answers it with a friendly re-ask.
InboundKind = Literal["text", "choice", "location", "photo", "command", "unsupported"]


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo as the platform refers to it; fetched only when an officer needs it."""

    ref: str  # Telegram file_id, WhatsApp media id, or a stored path for web/terminal
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One thing a person did in a chat: typed text, pressed a button, shared a pin or a photo.

    `platform_id` is unique per channel (Telegram `update_id`, WhatsApp message id, web chat
    client message id); the inbox keys on (channel, platform_id) so a redelivery is a no-op.
    `user_id` keys the person (WhatsApp: the business-scoped user id when present), `chat_id`
    is where replies go.
    """

    channel: Channel
    platform_id: str
    user_id: str
    chat_id: str
    kind: InboundKind
    received_at: datetime
    text: str | None = None
    choice: str | None = None  # the option id of a pressed button
    location: Location | None = None
    photo: Photo | None = None
    language_hint: str | None = None  # the platform's idea of the user's language
    is_group: bool = False
    reply_to: str | None = None  # platform message id this one replies to
    content: str | None = None  # what an "unsupported" message was ("sticker", "voice", ...)


@dataclass(frozen=True, slots=True)
class Button:
    """An option offered to the reader: `id` comes back as `InboundMessage.choice`."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to send. Text is already in the reader's language."""

    channel: Channel
    chat_id: str
    text: str
    buttons: tuple[Button, ...] = ()
    request_location: bool = False
    photo: str | None = None  # a platform file reference to send as a photo
    edit_of: str | None = None  # platform message id to edit instead of sending anew
    template: str | None = None  # WhatsApp template name, used outside the 24-hour window
    template_params: tuple[str, ...] = field(default_factory=tuple)
