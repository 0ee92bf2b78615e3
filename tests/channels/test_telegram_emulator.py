"""The Bot API emulator itself, over raw HTTP: answer shapes, long polling, flood limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession

from tests.support.botapi import BotApiEmulator, FakeClock, FloodLimits, Limit

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_795_000_000.0)


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


async def call(
    http: ClientSession, api: BotApiEmulator, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{api.url}/bot{api.token}/{method}", json=params) as response:
        return response.status, await response.json()


async def test_answers_are_shaped_as_the_bot_api(http: ClientSession, api: BotApiEmulator) -> None:
    status, body = await call(http, api, "getMe")
    assert (status, body["ok"], body["result"]["is_bot"]) == (200, True, True)
    chat = api.add_user()
    status, body = await call(http, api, "sendMessage", chat_id=chat, text="halo")
    assert status == 200
    assert body["result"]["date"] == 1_795_000_000  # seconds, not milliseconds
    assert isinstance(body["result"]["date"], int)
    status, body = await call(http, api, "sendMessage", chat_id=999, text="halo")
    assert (status, body) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
    )
    async with http.post(f"{api.url}/bot1:wrong/getMe") as response:
        assert response.status == 401
    status, body = await call(http, api, "noSuchMethod")
    assert (status, body["description"]) == (404, "Not Found")


async def test_get_updates_waits_for_an_update_and_confirms_by_offset(
    http: ClientSession, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    started = time.monotonic()
    waiting = asyncio.create_task(call(http, api, "getUpdates", timeout=10))
    await asyncio.sleep(0.05)
    update = api.send_text(chat, "halo")
    _status, body = await waiting
    assert body["result"] == [update]
    assert time.monotonic() - started < 2  # woken by the update, not by the timeout

    _status, body = await call(http, api, "getUpdates", timeout=0)
    assert body["result"] == [update]  # not confirmed yet
    _status, body = await call(http, api, "getUpdates", offset=update["update_id"] + 1, timeout=0)
    assert body["result"] == []
    assert api.pending_updates == []


async def test_get_updates_conflicts_with_a_webhook(
    http: ClientSession, api: BotApiEmulator
) -> None:
    await call(http, api, "setWebhook", url="http://127.0.0.1:9/hook")
    status, body = await call(http, api, "getUpdates")
    assert status == 409
    assert body["description"].startswith("Conflict:")
    status, body = await call(
        http, api, "setWebhook", url="http://127.0.0.1:9/h", secret_token="a b"
    )
    assert status == 400
    await call(http, api, "deleteWebhook")
    status, _body = await call(http, api, "getUpdates")
    assert status == 200


async def test_flood_limits_per_chat_per_bot_and_per_group(
    http: ClientSession, clock: FakeClock
) -> None:
    limits = FloodLimits(private_chat=Limit(1, 1.0))
    async with BotApiEmulator(clock=clock, limits=limits) as api:
        chat = api.add_user()
        assert (await call(http, api, "sendMessage", chat_id=chat, text="1"))[0] == 200
        status, body = await call(http, api, "sendMessage", chat_id=chat, text="2")
        assert (status, body["parameters"], body["description"]) == (
            429,
            {"retry_after": 1},
            "Too Many Requests: retry after 1",
        )
        clock.advance(1)
        assert (await call(http, api, "sendMessage", chat_id=chat, text="2"))[0] == 200

        clock.advance(1)
        others = [api.add_user() for _ in range(31)]
        statuses = [(await call(http, api, "sendMessage", chat_id=c, text="x"))[0] for c in others]
        assert statuses == [200] * 30 + [429]  # 30 a second for the whole bot

        clock.advance(1)
        group = api.add_group()
        statuses = [
            (await call(http, api, "sendMessage", chat_id=group, text="x"))[0] for _ in range(21)
        ]
        assert statuses == [200] * 20 + [429]  # 20 a minute per group
        _status, body = await call(http, api, "sendMessage", chat_id=group, text="x")
        assert body["parameters"]["retry_after"] == 60
        clock.advance(60)
        assert (await call(http, api, "sendMessage", chat_id=group, text="x"))[0] == 200


async def test_refusals_and_injected_failures(http: ClientSession, api: BotApiEmulator) -> None:
    chat = api.add_user()
    api.block(chat)
    status, body = await call(http, api, "sendMessage", chat_id=chat, text="x")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")

    other = api.add_user()
    api.fail("sendMessage", status=500, times=2)
    statuses = [
        (await call(http, api, "sendMessage", chat_id=other, text="x"))[0] for _ in range(2)
    ]
    assert statuses == [500, 500]
    status, body = await call(http, api, "sendMessage", chat_id=other, text="x" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "x" * 65}]]}
    status, body = await call(
        http, api, "sendMessage", chat_id=other, text="x", reply_markup=markup
    )
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")


async def test_send_location_photo_and_files(http: ClientSession, api: BotApiEmulator) -> None:
    chat = api.add_user()
    status, body = await call(
        http, api, "sendLocation", chat_id=chat, latitude=-7.1, longitude=112.2
    )
    assert (status, body["result"]["location"]) == (200, {"latitude": -7.1, "longitude": 112.2})
    update = api.send_photo(chat, b"abc")
    file_id = update["message"]["photo"][-1]["file_id"]
    _status, body = await call(http, api, "getFile", file_id=file_id)
    async with http.get(f"{api.url}/file/bot{api.token}/{body['result']['file_path']}") as response:
        assert await response.read() == b"abc"
    async with http.get(f"{api.url}/file/bot{api.token}/photos/none.jpg") as response:
        assert response.status == 404
    status, body = await call(http, api, "sendPhoto", chat_id=chat, photo=file_id, caption="c")
    assert (status, body["result"]["caption"]) == (200, "c")
    with pytest.raises(LookupError):
        api.press_button(chat, body["result"]["message_id"], "no-such-button")


async def test_a_second_poller_ends_the_first_with_a_conflict(
    http: ClientSession, api: BotApiEmulator
) -> None:
    first = asyncio.create_task(call(http, api, "getUpdates", timeout=10))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(call(http, api, "getUpdates", timeout=10))
    status, body = await asyncio.wait_for(first, timeout=2)
    assert status == 409
    assert "terminated by other getUpdates request" in body["description"]
    api.send_text(api.add_user(), "halo")
    status, body = await asyncio.wait_for(second, timeout=2)
    assert (status, len(body["result"])) == (200, 1)


async def test_edit_reply_markup_and_press_the_new_button(
    http: ClientSession, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    first = {"inline_keyboard": [[{"text": "Ambil", "callback_data": "claim"}]]}
    _status, body = await call(
        http, api, "sendMessage", chat_id=chat, text="Kasus", reply_markup=first
    )
    message_id = body["result"]["message_id"]
    second = {"inline_keyboard": [[{"text": "Selesai", "callback_data": "done"}]]}
    status, body = await call(
        http,
        api,
        "editMessageReplyMarkup",
        chat_id=chat,
        message_id=message_id,
        reply_markup=second,
    )
    assert (status, body["result"]["reply_markup"]) == (200, second)
    status, body = await call(
        http,
        api,
        "editMessageReplyMarkup",
        chat_id=chat,
        message_id=message_id,
        reply_markup=second,
    )
    assert status == 400
    assert body["description"].startswith("Bad Request: message is not modified")
    with pytest.raises(LookupError):
        api.press_button(chat, message_id, "claim")  # that button is gone
    update = api.press_button(chat, message_id, "done")
    query = update["callback_query"]
    assert query["message"]["reply_markup"] == second
    status, _body = await call(http, api, "answerCallbackQuery", callback_query_id=query["id"])
    assert status == 200
    assert api.answered_callbacks == {query["id"]: {"text": None, "show_alert": False}}


async def test_redeliver_sends_the_same_update_id_again(
    http: ClientSession, api: BotApiEmulator
) -> None:
    update = api.send_text(api.add_user(), "halo")
    _status, body = await call(http, api, "getUpdates", offset=update["update_id"] + 1)
    assert body["result"] == []
    api.redeliver(update)
    _status, body = await call(http, api, "getUpdates")
    assert body["result"] == [update]
