"""The update shapes citizens send most, read straight from Telegram's JSON.

Each backend's library parses a whole update into its own types first (aiogram with pydantic,
python-telegram-bot with `de_json`): 31 to 47 µs an update with aiogram here, 100 to 120 with
python-telegram-bot. Nearly every update a citizen sends is one of a few plain shapes: a
text, a command, a shared location, a photo, a pressed button under the bot's message. This
module reads those shapes from the dict, into the same `ParsedMessage` / `ParsedCallback` the
library path gives, in a few µs.

It reads only what it can check completely: every key of every object must be one it knows,
with the JSON type Telegram gives it. Anything else (a reply, a forward, a sticker, an unknown
key, a number sent as a string, a field missing) answers None, and the backend's library
parses the update as before, raising on what is malformed. So an update read here is one both
libraries would read too, to equal fields (a coordinate is always a float here, as aiogram
gives it; python-telegram-bot keeps an integer one an int). `tests/channels/
test_telegram_plain.py` checks that against both over many shapes and every single-field
mutation of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from laporbot.channels.telegram.common import ParsedCallback, ParsedMessage, largest_photo
from laporbot.messages import Location

#: The latest unix time read here (year 2100); a later date goes to the library.
_MAX_DATE = 4_102_444_800


def _int(value: object) -> bool:
    # bool is an int in Python, and pydantic would coerce it: not a plain shape
    return type(value) is int


def _str(value: object) -> bool:
    return type(value) is str


def _bool(value: object) -> bool:
    return type(value) is bool


def _number(value: object) -> bool:
    # an int a float holds exactly (a larger one cannot be a coordinate, and float() of a
    # huge one raises)
    if type(value) is int:
        return -(2**53) <= value <= 2**53
    return type(value) is float and math.isfinite(value)


def _shaped(
    obj: object,
    required: Mapping[str, Callable[[object], bool]],
    optional: Mapping[str, Callable[[object], bool]],
) -> bool:
    """`obj` is a dict with every `required` key, no key outside `required` and `optional`,
    and each value of the type its check wants."""
    if type(obj) is not dict:
        return False
    for key in required:
        if key not in obj:
            return False
    for key, value in obj.items():
        check = required.get(key) or optional.get(key)
        if check is None or not check(value):
            return False
    return True


def _user(value: object) -> bool:
    return _shaped(value, _USER_REQUIRED, _USER_OPTIONAL)


def _chat(value: object) -> bool:
    return _shaped(value, _CHAT_REQUIRED, _CHAT_OPTIONAL)


def _entities(value: object) -> bool:
    return type(value) is list and all(_shaped(e, _ENTITY, {}) for e in value)


def _location(value: object) -> bool:
    return _shaped(value, _LOCATION, {})


def _photo(value: object) -> bool:
    return (
        type(value) is list
        and len(value) > 0
        and all(_shaped(size, _PHOTO_SIZE_REQUIRED, _PHOTO_SIZE_OPTIONAL) for size in value)
    )


def _button(value: object) -> bool:
    return _shaped(value, _BUTTON_REQUIRED, _BUTTON_OPTIONAL)


def _inline_keyboard(value: object) -> bool:
    return type(value) is list and all(
        type(row) is list and all(_button(button) for button in row) for row in value
    )


def _reply_markup(value: object) -> bool:
    return _shaped(value, {"inline_keyboard": _inline_keyboard}, {})


def _date(value: object) -> bool:
    # 0 is an inaccessible message (a button under one too old to show): a type of its own
    return type(value) is int and 0 < value <= _MAX_DATE


_USER_REQUIRED = {"id": _int, "is_bot": _bool, "first_name": _str}
_USER_OPTIONAL = {
    "last_name": _str,
    "username": _str,
    "language_code": _str,
    "is_premium": _bool,
    "added_to_attachment_menu": _bool,
}
_CHAT_REQUIRED = {"id": _int, "type": _str}
_CHAT_OPTIONAL = {
    "title": _str,
    "username": _str,
    "first_name": _str,
    "last_name": _str,
    "is_forum": _bool,
}
_ENTITY = {"type": _str, "offset": _int, "length": _int}
_LOCATION = {"latitude": _number, "longitude": _number}
_PHOTO_SIZE_REQUIRED = {"file_id": _str, "file_unique_id": _str, "width": _int, "height": _int}
_PHOTO_SIZE_OPTIONAL = {"file_size": _int}
_BUTTON_REQUIRED = {"text": _str}
_BUTTON_OPTIONAL = {"callback_data": _str}
_MESSAGE_REQUIRED = {"message_id": _int, "chat": _chat, "date": _date}
_MESSAGE_OPTIONAL = {
    "from": _user,
    "text": _str,
    "entities": _entities,
    "location": _location,
    "photo": _photo,
    "caption": _str,
    "caption_entities": _entities,
}
#: The bot's own message a pressed button was under.
_CARRIER_OPTIONAL = {
    "from": _user,
    "text": _str,
    "entities": _entities,
    "reply_markup": _reply_markup,
    "edit_date": _date,
}
_CALLBACK_REQUIRED = {
    "id": _str,
    "from": _user,
    "chat_instance": _str,
    "message": lambda value: _shaped(value, _MESSAGE_REQUIRED, _CARRIER_OPTIONAL),
}
_CALLBACK_OPTIONAL = {"data": _str}


def parse_plain(payload: Mapping[str, Any]) -> ParsedMessage | ParsedCallback | None:
    """The message or pressed button of `payload` when it is one of the plain shapes; None
    when the backend's library has to parse it."""
    if len(payload) != 2 or not _int(payload.get("update_id")):
        return None
    message = payload.get("message")
    if message is not None:
        if not _shaped(message, _MESSAGE_REQUIRED, _MESSAGE_OPTIONAL):
            return None
        return _message(message)
    query = payload.get("callback_query")
    if query is not None:
        if not _shaped(query, _CALLBACK_REQUIRED, _CALLBACK_OPTIONAL):
            return None
        sender = query["from"]
        carrier = query["message"]
        return ParsedCallback(
            query_id=query["id"],
            user_id=sender["id"],
            language_code=sender.get("language_code"),
            data=query.get("data"),
            chat_id=carrier["chat"]["id"],
            chat_type=carrier["chat"]["type"],
            message_id=carrier["message_id"],
        )
    return None


def _message(message: dict[str, Any]) -> ParsedMessage:
    sender = message.get("from")
    point = message.get("location")
    sizes = message.get("photo")
    return ParsedMessage(
        message_id=message["message_id"],
        chat_id=message["chat"]["id"],
        chat_type=message["chat"]["type"],
        user_id=sender["id"] if sender is not None else None,
        language_code=sender.get("language_code") if sender is not None else None,
        date=datetime.fromtimestamp(message["date"], UTC),
        text=message.get("text"),
        caption=message.get("caption"),
        location=Location(latitude=float(point["latitude"]), longitude=float(point["longitude"]))
        if point is not None
        else None,
        photo_file_id=largest_photo([(s["file_id"], s["width"], s["height"]) for s in sizes])
        if sizes is not None
        else None,
    )
