"""The Bot API emulator itself, over raw HTTP: answer shapes, long polling, flood limits."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientSession, MultipartWriter, web

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


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the emulator did not get there in time"
        await asyncio.sleep(0.01)


async def test_a_method_in_a_webhook_answer_is_performed_and_counted(
    http: ClientSession, clock: FakeClock
) -> None:
    """Telegram performs the call a 2xx webhook answer names (JSON, a URL-encoded form or
    multipart form data), as if the bot had made it, flood limits included."""
    answers: list[web.Response] = []

    async def bot(request: web.Request) -> web.Response:
        await request.read()
        return answers.pop(0)

    app = web.Application()
    app.router.add_post("/hook", bot)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    limits = FloodLimits(private_chat=Limit(1, 1.0))
    try:
        async with BotApiEmulator(clock=clock, limits=limits) as api:
            chat = api.add_user()
            keyboard = {"inline_keyboard": [[{"text": "Ya", "callback_data": "yes"}]]}
            _status, body = await call(
                http, api, "sendMessage", chat_id=chat, text="Benar?", reply_markup=keyboard
            )
            clock.advance(1)
            await call(http, api, "setWebhook", url=f"http://127.0.0.1:{port}/hook")

            # a pressed button, answered in the JSON answer (twice: the second is refused,
            # and nobody is told)
            update = api.press_button(chat, body["result"]["message_id"], "yes")
            query = update["callback_query"]
            answer = {"method": "answerCallbackQuery", "callback_query_id": query["id"]}
            answers += [web.json_response(answer), web.json_response(answer)]
            api.redeliver(update)
            await until(lambda: len(api.calls_of("answerCallbackQuery")) == 2)
            first, again = api.calls_of("answerCallbackQuery")
            assert (first.in_webhook_answer, first.status) == (True, 200)
            assert (again.in_webhook_answer, again.status) == (True, 400)
            assert api.answered_callbacks == {query["id"]: {"text": None, "show_alert": False}}

            # a URL-encoded sendMessage counts toward the chat's one message a second
            form = urlencode({"method": "sendMessage", "chat_id": chat, "text": "Terima kasih"})
            answers.append(
                web.Response(text=form, content_type="application/x-www-form-urlencoded")
            )
            api.send_text(chat, "halo")
            await until(lambda: len(api.sent(chat)) == 2)
            assert api.sent(chat)[-1]["text"] == "Terima kasih"
            status, _body = await call(http, api, "sendMessage", chat_id=chat, text="lagi")
            assert status == 429

            # multipart form data; a message refused by flood control is lost, untold
            writer = MultipartWriter("form-data")
            for name, value in (("method", "sendMessage"), ("chat_id", chat), ("text", "x")):
                part = writer.append(str(value))
                part.set_content_disposition("form-data", name=name)
            answers.append(web.Response(body=writer, headers={"Content-Type": writer.content_type}))
            api.send_text(chat, "halo lagi")
            await until(lambda: len(api.calls_of("sendMessage")) == 4)
            refused = api.calls_of("sendMessage")[-1]
            assert (refused.in_webhook_answer, refused.status) == (True, 429)
            assert refused.params == {"chat_id": str(chat), "text": "x"}
            clock.advance(1)
            text = {"method": "sendMessage", "chat_id": chat, "text": "Sudah dicatat"}
            answers.append(web.Response(body=json.dumps(text), content_type="application/json"))
            api.send_text(chat, "halo sekali lagi")
            await until(lambda: len(api.sent(chat)) == 3)
            assert api.sent(chat)[-1]["text"] == "Sudah dicatat"
            assert [d.status for d in api.deliveries] == [200] * 5
            assert not api.pending_updates
    finally:
        await runner.cleanup()
