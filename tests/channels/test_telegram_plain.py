"""The plain update shapes read without a library give what both libraries give (no network).

`parse_plain` may decline any update (the library then parses it); what it reads, it must read
exactly as aiogram and python-telegram-bot do. Checked over shapes citizens and officers send
and over every mutation of one field of them: removed, of another JSON type, or beside an
unknown key.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from laporbot.channels.telegram import TelegramAdapter, make_telegram_adapter
from laporbot.channels.telegram.common import ParsedCallback, ParsedMessage
from laporbot.channels.telegram.plain import parse_plain
from laporbot.clock import FixedClock
from laporbot.messages import Location
from laporbot.settings import Settings

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
DATE = 1795000000
BOT = {"id": 99, "is_bot": True, "first_name": "Lapor", "username": "LaporTestBot"}
CITIZEN = {
    "id": 501,
    "is_bot": False,
    "first_name": "Sari",
    "last_name": "Wulandari",
    "username": "sari_w",
    "language_code": "id",
    "is_premium": True,
}
OFFICER = {"id": 502, "is_bot": False, "first_name": "Budi"}
PRIVATE = {"id": 501, "type": "private", "first_name": "Sari", "last_name": "W", "username": "s"}
GROUP = {"id": -1001, "type": "supergroup", "title": "Dinsos Lumajang", "is_forum": False}


def message(update_id: int, **fields: Any) -> dict[str, Any]:
    body = {"message_id": 10 + update_id, "from": CITIZEN, "chat": PRIVATE, "date": DATE}
    return {"update_id": update_id, "message": body | fields}


def pressed(update_id: int, **fields: Any) -> dict[str, Any]:
    carrier = {
        "message_id": 4,
        "from": BOT,
        "chat": PRIVATE,
        "date": DATE,
        "edit_date": DATE + 5,
        "text": "Pilih satu",
        "entities": [{"type": "bold", "offset": 0, "length": 5}],
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "Ya", "callback_data": "yes"}, {"text": "Tidak", "callback_data": "no"}],
                [{"text": "Lewati", "callback_data": "_skip"}],
            ]
        },
    }
    query = {"id": "4401", "from": CITIZEN, "chat_instance": "-77", "data": "yes"}
    return {"update_id": update_id, "callback_query": query | {"message": carrier} | fields}


PLAIN = [
    message(1, text="halo, ada anak di lampu merah"),
    message(2, text="/start report", entities=[{"type": "bot_command", "offset": 0, "length": 6}]),
    message(
        3,
        chat=GROUP,
        text="/kasus@LaporTestBot 12",
        entities=[{"type": "bot_command", "offset": 0, "length": 19}],
        **{"from": OFFICER},
    ),
    message(4, chat=GROUP, text="sudah saya datangi", **{"from": OFFICER}),
    message(5, location={"latitude": -8.1335, "longitude": 113.2246}),
    message(6, location={"latitude": -8, "longitude": 113}),
    message(
        7,
        photo=[
            {"file_id": "s", "file_unique_id": "s1", "width": 90, "height": 60, "file_size": 900},
            {"file_id": "l", "file_unique_id": "l1", "width": 1280, "height": 853},
            {"file_id": "m", "file_unique_id": "m1", "width": 320, "height": 213},
        ],
        caption="di depan pasar",
        caption_entities=[{"type": "italic", "offset": 0, "length": 2}],
    ),
    message(
        8, chat={"id": -42, "type": "group", "title": "Dinsos"}, text="ok", **{"from": OFFICER}
    ),
    pressed(9),
    pressed(10, data="_skip", **{"from": OFFICER}),
]


def without_sender() -> dict[str, Any]:
    update = message(11, text="x")
    del update["message"]["from"]
    return update


PLAIN.append(without_sender())
# a query with no data (a game button): nothing to choose, but the same shape both ways
NO_DATA = pressed(12)
del NO_DATA["callback_query"]["data"]
PLAIN.append(NO_DATA)


@pytest.fixture(scope="module")
def adapters() -> list[TelegramAdapter]:
    # constructing a backend makes no call: nothing here touches the network
    return [
        make_telegram_adapter(
            Settings(
                telegram_token="123456:ABCDEF",
                telegram_backend=backend,
                telegram_api_url="http://127.0.0.1:9",
            ),
            clock=FixedClock(NOW),
        )
        for backend in ("aiogram", "ptb")
    ]


def library_parse(adapter: TelegramAdapter, payload: dict[str, Any]) -> object:
    return adapter._parse(copy.deepcopy(payload))  # the library path itself


@pytest.mark.parametrize("payload", PLAIN, ids=lambda p: str(p["update_id"]))
def test_plain_shapes_are_read_without_a_library_as_both_libraries_read_them(
    payload: dict[str, Any], adapters: list[TelegramAdapter]
) -> None:
    plain = parse_plain(payload)
    assert plain is not None, "a plain shape went to the library"
    for adapter in adapters:
        assert library_parse(adapter, payload) == plain, adapter.backend


def test_the_fields_read_are_the_ones_laporbot_uses() -> None:
    photo = parse_plain(PLAIN[6])
    assert isinstance(photo, ParsedMessage)
    assert (photo.photo_file_id, photo.caption, photo.user_id, photo.language_code) == (
        "l",
        "di depan pasar",
        501,
        "id",
    )
    assert photo.date == datetime.fromtimestamp(DATE, UTC)
    point = parse_plain(PLAIN[5])
    assert isinstance(point, ParsedMessage)
    assert point.location == Location(latitude=-8.0, longitude=113.0)
    assert isinstance(point.location.latitude, float)
    button = parse_plain(PLAIN[9])
    assert button == ParsedCallback(
        query_id="4401",
        user_id=502,
        language_code=None,
        data="_skip",
        chat_id=501,
        chat_type="private",
        message_id=4,
    )


#: What a field is replaced with: every JSON type, a numeric string, an out-of-range date.
REPLACEMENTS: list[object] = [
    None,
    True,
    False,
    "7",
    7,
    -1,
    0,
    7.5,
    10**12,
    2**63,
    10**400,
    "",
    [],
    {},
    [{}],
]


def _paths(node: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index)
            yield from _paths(value, (*path, index))


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def mutations(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every copy of `payload` with one field removed or replaced, or one unknown key added."""
    for path in _paths(payload):
        parent, last = path[:-1], path[-1]
        removed = copy.deepcopy(payload)
        del _at(removed, parent)[last]
        yield removed
        for value in REPLACEMENTS:
            replaced = copy.deepcopy(payload)
            _at(replaced, parent)[last] = copy.deepcopy(value)
            yield replaced
        container = _at(payload, path)
        if isinstance(container, dict):
            added = copy.deepcopy(payload)
            _at(added, path)["reply_to_message"] = {"message_id": 1}
            yield added


def test_every_mutation_is_read_as_the_libraries_read_it_or_left_to_them(
    adapters: list[TelegramAdapter],
) -> None:
    read = declined = 0
    for base in PLAIN:
        for variant in mutations(base):
            plain = parse_plain(variant)
            if plain is None:
                declined += 1
                continue
            read += 1
            for adapter in adapters:
                # a library that refuses what was read here, or reads it otherwise, fails
                assert library_parse(adapter, variant) == plain, (adapter.backend, variant)
    # both outcomes happen: mutations of a field laporbot ignores (a name, a label) stay plain
    assert read > 100
    assert declined > 1000


@pytest.mark.parametrize(
    "payload",
    [
        {"update_id": 1, "edited_message": PLAIN[0]["message"]},
        {"update_id": 1, "message": PLAIN[0]["message"] | {"sticker": {"file_id": "x"}}},
        {"update_id": 1, "message": PLAIN[0]["message"] | {"reply_to_message": {"message_id": 3}}},
        {"update_id": 1, "message": PLAIN[0]["message"], "callback_query": {}},
        {"update_id": True, "message": PLAIN[0]["message"]},
        {"update_id": 1, "message": PLAIN[0]["message"] | {"date": "1795000000"}},
        # the message under the button too old to show (date 0): the library's own type
        {
            "update_id": 1,
            "callback_query": PLAIN[8]["callback_query"]
            | {"message": {"chat": PRIVATE, "message_id": 4, "date": 0}},
        },
        {"update_id": 1, "callback_query": PLAIN[8]["callback_query"] | {"inline_message_id": "A"}},
        {"update_id": 1, "message": PLAIN[4]["message"] | {"location": {"latitude": 1.0}}},
    ],
)
def test_other_shapes_are_left_to_the_library(payload: dict[str, Any]) -> None:
    assert parse_plain(payload) is None
