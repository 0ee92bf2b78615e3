"""Telegram translation shared by both backends: no library types, no network.

Each backend parses an update with its own library (aiogram or python-telegram-bot) and copies
the few fields laporbot uses into `ParsedMessage` / `ParsedCallback`; from there on the two
backends share every rule here, so they cannot drift apart (the plain shapes skip the library
altogether: `plain.parse_plain`). Sending works the other way round:
`plan_send` turns one `OutboundMessage` into `SendStep`s (text parts, photo, edit), and each
backend only performs those steps with its own `Bot`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from laporbot.channels.base import PermanentSendError, RawUpdate
from laporbot.errors import BadRequest
from laporbot.messages import Button, InboundMessage, Location, OutboundMessage, Photo

#: Telegram's limit for one message's text, in UTF-16 code units (how Telegram counts).
TEXT_LIMIT = 4096
#: Telegram's limit for a photo caption.
CAPTION_LIMIT = 1024
#: Telegram refuses callback data longer than this many UTF-8 bytes (`BUTTON_DATA_INVALID`).
CALLBACK_DATA_MAX_BYTES = 64
#: Telegram cuts long labels on screen anyway; a longer label is shortened with an ellipsis.
BUTTON_LABEL_MAX_CHARS = 64
#: An inline keyboard holds at most 100 buttons.
INLINE_KEYBOARD_MAX_BUTTONS = 100

#: Chat types that count as a group (officers' office groups).
GROUP_CHAT_TYPES = frozenset({"group", "supergroup"})


def split_update(body: Any) -> list[RawUpdate]:
    """One Telegram Update (a webhook body or one item of getUpdates) as a `RawUpdate`.

    Only the envelope is checked here (a JSON object with an integer `update_id`); the rest is
    parsed by the backend's library in `translate`, from what the inbox stored.
    """
    if not isinstance(body, Mapping):
        raise BadRequest("telegram update is not a JSON object")
    update_id = body.get("update_id")
    # bool is an int in Python, but never an update id
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise BadRequest("telegram update has no integer update_id")
    return [RawUpdate(channel="telegram", platform_id=str(update_id), payload=dict(body))]


def update_kind(payload: Mapping[str, Any]) -> str | None:
    """The one update field present besides `update_id` (`message`, `callback_query`, ...)."""
    for key in payload:
        if key != "update_id":
            return key
    return None


def callback_query_id(update: RawUpdate) -> str | None:
    """The id to answer if this update is a callback query (a pressed inline button)."""
    query = update.payload.get("callback_query")
    if isinstance(query, Mapping):
        query_id = query.get("id")
        if isinstance(query_id, str):
            return query_id
    return None


# --- inbound -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """The fields of a Telegram `Message` laporbot uses, copied out of either library's type."""

    message_id: int
    chat_id: int
    chat_type: str
    user_id: int | None
    language_code: str | None
    date: datetime
    text: str | None = None
    caption: str | None = None
    location: Location | None = None
    photo_file_id: str | None = None
    reply_to: int | None = None
    other: str | None = None  # the kind of content laporbot cannot read (see `other_content`)


@dataclass(frozen=True, slots=True)
class ParsedCallback:
    """The fields of a Telegram `CallbackQuery` laporbot uses."""

    query_id: str
    user_id: int
    language_code: str | None
    data: str | None
    chat_id: int | None  # None for a button on an inline-mode message: laporbot sends none
    chat_type: str | None
    message_id: int | None


#: What a person may send that no flow step can read, as the `Message` field that carries it.
#: Service messages (members joining, a pinned message, ...) are not here: nobody wrote them.
OTHER_CONTENT = (
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "document",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
    "paid_media",
)


def other_content(message: object) -> str | None:
    """The first of `OTHER_CONTENT` that `message` (aiogram's or python-telegram-bot's
    `Message`) carries, if any."""
    return next((name for name in OTHER_CONTENT if getattr(message, name, None)), None)


def largest_photo(sizes: list[tuple[str, int, int]]) -> str | None:
    """The file id of the largest size among (file_id, width, height); Telegram lists sizes
    smallest first, but the area decides, not the order."""
    if not sizes:
        return None
    return max(enumerate(sizes), key=lambda item: (item[1][1] * item[1][2], item[0]))[1][0]


def parse_message(message: Any) -> ParsedMessage:
    """The fields laporbot uses of a `Message` of aiogram or python-telegram-bot: both name
    them alike (`message_id`, `chat.id`, `from_user`, `photo`, `location`, ...)."""
    sender = message.from_user
    photo = largest_photo([(p.file_id, p.width, p.height) for p in message.photo or ()])
    point = message.location
    reply = message.reply_to_message
    return ParsedMessage(
        message_id=message.message_id,
        chat_id=message.chat.id,
        chat_type=message.chat.type,
        user_id=sender.id if sender is not None else None,
        language_code=sender.language_code if sender is not None else None,
        date=message.date,
        text=message.text,
        caption=message.caption,
        location=Location(latitude=point.latitude, longitude=point.longitude)
        if point is not None
        else None,
        photo_file_id=photo,
        reply_to=reply.message_id if reply is not None else None,
        other=other_content(message),
    )


def parse_callback(query: Any) -> ParsedCallback:
    """The fields laporbot uses of a `CallbackQuery` of either library."""
    carrier = query.message
    return ParsedCallback(
        query_id=query.id,
        user_id=query.from_user.id,
        language_code=query.from_user.language_code,
        data=query.data,
        chat_id=carrier.chat.id if carrier is not None else None,
        chat_type=carrier.chat.type if carrier is not None else None,
        message_id=carrier.message_id if carrier is not None else None,
    )


def _command_text(text: str) -> str:
    # "/lapor@LaporBot 123" in a group means "/lapor 123": drop the bot's name from the command
    head, sep, rest = text.partition(" ")
    command = head.split("@", 1)[0]
    return command + sep + rest


def inbound_from_message(update_id: int, message: ParsedMessage) -> list[InboundMessage]:
    """A message as laporbot sees it: text, command, location or photo; content no step can
    read (a sticker, a voice note, a file, a contact card) in a private chat is "unsupported",
    for a friendly re-ask; in a group it gives nothing, as does a service message (someone
    joined, a pin)."""
    common: dict[str, Any] = {
        "channel": "telegram",
        "platform_id": str(update_id),
        "user_id": str(message.user_id if message.user_id is not None else message.chat_id),
        "chat_id": str(message.chat_id),
        # aiogram and python-telegram-bot give different UTC tzinfo objects; normalise
        "received_at": message.date.astimezone(UTC),
        "language_hint": message.language_code,
        "is_group": message.chat_type in GROUP_CHAT_TYPES,
        "reply_to": str(message.reply_to) if message.reply_to is not None else None,
    }
    if message.photo_file_id is not None:
        photo = Photo(ref=message.photo_file_id, caption=message.caption)
        return [InboundMessage(kind="photo", photo=photo, text=message.caption, **common)]
    if message.location is not None:
        return [InboundMessage(kind="location", location=message.location, **common)]
    if message.text is not None:
        if message.text.startswith("/") and len(message.text) > 1:
            return [InboundMessage(kind="command", text=_command_text(message.text), **common)]
        return [InboundMessage(kind="text", text=message.text, **common)]
    if message.other is not None and not common["is_group"]:
        # In a private chat it is someone answering the bot; in a group, chatter between
        # officers that is not for laporbot at all.
        return [InboundMessage(kind="unsupported", content=message.other, **common)]
    return []


def inbound_from_callback(
    update_id: int, query: ParsedCallback, now: datetime
) -> list[InboundMessage]:
    """A pressed inline button as a choice; `reply_to` names the message that carried it.

    A callback query has no date of its own, so `now` (the clock when translated) stands in.
    """
    if query.chat_id is None or query.data is None:
        return []
    return [
        InboundMessage(
            channel="telegram",
            platform_id=str(update_id),
            user_id=str(query.user_id),
            chat_id=str(query.chat_id),
            kind="choice",
            received_at=now,
            choice=query.data,
            language_hint=query.language_code,
            is_group=query.chat_type in GROUP_CHAT_TYPES,
            reply_to=str(query.message_id) if query.message_id is not None else None,
        )
    ]


# --- outbound ----------------------------------------------------------------------------------


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _cut_index(text: str, limit: int) -> int:
    """Largest index i such that text[:i] fits in `limit` UTF-16 code units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut text into parts of at most `limit` (Telegram units), in order, preferring to cut
    between paragraphs, then lines, then words, and only as a last resort inside a word.

    The separator at a cut is dropped (a part never starts or ends with the blank it was cut
    at), so joining the parts loses only that whitespace.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    if not text.strip():
        return [""]  # nothing to send; `plan_send` refuses it with a clear reason
    parts: list[str] = []
    rest = text
    while telegram_length(rest) > limit:
        window = rest[: _cut_index(rest, limit)]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            # a cut in the first fifth would leave a tiny part; look for a smaller separator
            if at > len(window) // 5:
                cut, skip = at, len(separator)
                break
        if cut == -1:
            # no blank to cut at; a character wider than the limit still goes out alone
            cut, skip = max(1, len(window)), 0
        parts.append(rest[:cut].rstrip())
        rest = rest[cut + skip :].lstrip("\n ")
    if rest.strip() or not parts:
        parts.append(rest)
    return [part for part in parts if part]


def check_callback_data(button_id: str) -> None:
    """Refuse a button id Telegram would refuse as callback data (1 to 64 UTF-8 bytes).

    Ids are not shortened or hashed: the pressed id must come back unchanged as the choice, and
    the adapter keeps no table to map a short code back.
    """
    size = len(button_id.encode("utf-8"))
    if not 1 <= size <= CALLBACK_DATA_MAX_BYTES:
        raise PermanentSendError(
            f"button id {button_id!r} is {size} bytes; Telegram callback data must be 1 to "
            f"{CALLBACK_DATA_MAX_BYTES} bytes"
        )


def button_label(label: str) -> str:
    """The label as shown on a keyboard button: one line, at most `BUTTON_LABEL_MAX_CHARS`."""
    one_line = " ".join(label.split())
    if len(one_line) <= BUTTON_LABEL_MAX_CHARS:
        return one_line
    return one_line[: BUTTON_LABEL_MAX_CHARS - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class SendStep:
    """One Bot API call that sending an `OutboundMessage` takes.

    `kind` "text" is sendMessage, "photo" sendPhoto (with `text` as caption), "edit"
    editMessageText. `buttons` become an inline keyboard, one button per row; with
    `request_location` a one-time reply keyboard offers the location button (labelled
    `location_label`) and the buttons' labels as typed answers.
    """

    kind: Literal["text", "photo", "edit"]
    chat_id: str
    text: str
    buttons: tuple[Button, ...] = ()
    request_location: bool = False
    location_label: str = ""
    photo: str | None = None
    edit_of: int | None = None


def plan_send(message: OutboundMessage, *, location_label: str) -> list[SendStep]:
    """The calls that deliver `message`, in order; keyboards ride on the last one.

    Raises `PermanentSendError` for what Telegram would refuse whatever we retry: empty text,
    a button id too long for callback data, too many buttons, an edit of a non-numeric id.
    """
    if not message.text.strip() and message.photo is None:
        raise PermanentSendError("empty message: Telegram refuses a message without text")
    if len(message.buttons) > INLINE_KEYBOARD_MAX_BUTTONS:
        raise PermanentSendError(
            f"{len(message.buttons)} buttons; an inline keyboard holds at most "
            f"{INLINE_KEYBOARD_MAX_BUTTONS}"
        )
    if not message.request_location:
        for button in message.buttons:
            check_callback_data(button.id)
    buttons = tuple(Button(id=b.id, label=button_label(b.label)) for b in message.buttons)
    keyboard: dict[str, Any] = {
        "buttons": buttons,
        "request_location": message.request_location,
        "location_label": button_label(location_label),
    }
    steps: list[SendStep] = []
    text_parts = split_text(message.text) if message.text.strip() else []

    if message.edit_of is not None and not message.request_location:
        # a reply keyboard cannot ride on an edit, so a location request is sent anew instead
        try:
            edit_of = int(message.edit_of)
        except ValueError:
            raise PermanentSendError(f"cannot edit message {message.edit_of!r}") from None
        first, *more = text_parts or [""]
        if not first:
            raise PermanentSendError("empty message: Telegram refuses an edit without text")
        last = not more
        steps.append(
            SendStep(
                kind="edit",
                chat_id=message.chat_id,
                text=first,
                edit_of=edit_of,
                **(keyboard if last else {}),
            )
        )
        text_parts = more
    elif message.photo is not None:
        caption_fits = telegram_length(message.text) <= CAPTION_LIMIT
        caption = message.text if caption_fits else ""
        steps.append(
            SendStep(
                kind="photo",
                chat_id=message.chat_id,
                text=caption,
                photo=message.photo,
                **(keyboard if caption_fits or not text_parts else {}),
            )
        )
        if caption_fits:
            text_parts = []

    for index, part in enumerate(text_parts):
        last = index == len(text_parts) - 1
        steps.append(
            SendStep(kind="text", chat_id=message.chat_id, text=part, **(keyboard if last else {}))
        )
    return steps


def chat_id_value(chat_id: str) -> int | str:
    """Telegram chat ids are integers; a `@channelname` is passed as is."""
    try:
        return int(chat_id)
    except ValueError:
        return chat_id


async def perform_step(
    bot: Any, step: SendStep, markup: object | None, *, bad_request: type[Exception]
) -> int:
    """Make the Bot API call `step` stands for and answer the id of the message sent or edited.

    `bot` is aiogram's or python-telegram-bot's `Bot`: both name the three calls and their
    arguments alike. `markup` is the step's keyboard in that library's types. An edit that
    changes nothing (the library's `bad_request` saying so) succeeded; every other library
    error passes through, for the backend to map.
    """
    chat_id = chat_id_value(step.chat_id)
    if step.kind == "edit":
        assert step.edit_of is not None
        try:
            await bot.edit_message_text(
                text=step.text,
                chat_id=chat_id,
                message_id=step.edit_of,
                # only an inline keyboard can ride on an edit (`plan_send` puts no other there)
                reply_markup=None if step.request_location else markup,
            )
        except bad_request as exc:
            # both libraries' str() of the error holds Telegram's description
            if not is_not_modified(str(exc)):
                raise
        return step.edit_of
    if step.kind == "photo":
        assert step.photo is not None
        sent = await bot.send_photo(
            chat_id, photo=step.photo, caption=step.text or None, reply_markup=markup
        )
    else:
        sent = await bot.send_message(chat_id, step.text, reply_markup=markup)
    message_id: int = sent.message_id
    return message_id


# --- errors ------------------------------------------------------------------------------------


def is_not_modified(description: str) -> bool:
    """An edit that changes nothing: the message already reads as wanted, so it succeeded."""
    return "message is not modified" in description.lower()
