"""The Telegram adapter with the real aiogram and python-telegram-bot, over loopback HTTP to the
Bot API emulator. Every test runs once per backend; expectations are written once, so both
backends must give the same result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from laporbot.channels.base import (
    PermanentSendError,
    RawUpdate,
    RetryAfter,
    TransientSendError,
)
from laporbot.channels.telegram import TelegramAdapter, make_telegram_adapter
from laporbot.channels.telegram.polling import poll
from laporbot.channels.telegram.webhook import SECRET_HEADER, check_secret, set_webhook
from laporbot.clock import FixedClock
from laporbot.errors import BadRequest
from laporbot.messages import Button, InboundMessage, Location, OutboundMessage, Photo
from laporbot.settings import Settings
from tests.support.botapi import BotApiEmulator, FakeClock

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 3, 0, 30, tzinfo=UTC)  # the adapter's clock, for callback queries


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START.timestamp())


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture(params=["aiogram", "ptb"])
async def adapter(
    request: pytest.FixtureRequest, api: BotApiEmulator
) -> AsyncIterator[TelegramAdapter]:
    settings = Settings(
        telegram_token=api.token,
        telegram_backend=request.param,
        telegram_api_url=api.url,
    )
    async with make_telegram_adapter(settings, clock=FixedClock(NOW)) as started:
        yield started


async def poll_updates(adapter: TelegramAdapter, count: int) -> list[RawUpdate]:
    """Run the poller until `count` updates were accepted."""
    accepted: list[RawUpdate] = []
    stop = asyncio.Event()

    async def on_update(raw: RawUpdate) -> None:
        accepted.append(raw)
        if len(accepted) >= count:
            stop.set()

    await asyncio.wait_for(poll(adapter, on_update, timeout=1, stop_event=stop), timeout=10)
    return accepted


def text_message(chat_id: str, text: str, **extra: object) -> OutboundMessage:
    return OutboundMessage(channel="telegram", chat_id=chat_id, text=text, **extra)  # type: ignore[arg-type]


async def test_backend_is_chosen_by_settings(adapter: TelegramAdapter, api: BotApiEmulator) -> None:
    me = await adapter.get_me()
    assert (me.id, me.username) == (123456, "LaporTestBot")
    assert adapter.backend in ("aiogram", "ptb")
    assert api.calls_of("getMe")


async def test_polling_translates_what_citizens_do(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user(first_name="Sari", language_code="id")
    sent = await adapter.send(
        text_message(str(chat), "Apa yang ingin dilaporkan?", buttons=(Button("anak", "Anak"),))
    )
    updates = [
        api.send_text(chat, "/start"),
        api.send_text(chat, "ada anak di pasar", reply_to=int(sent.platform_message_ids[0])),
        api.press_button(chat, int(sent.platform_message_ids[0]), "anak"),
        api.send_location(chat, -7.25, 112.75),
        api.send_photo(chat, b"jpeg bytes", caption="di sini"),
    ]
    raws = await poll_updates(adapter, len(updates))

    assert [raw.platform_id for raw in raws] == [str(u["update_id"]) for u in updates]
    assert [raw.payload for raw in raws] == updates  # stored exactly as Telegram sent it
    inbound = [message for raw in raws for message in adapter.translate(raw)]
    chat_id = str(chat)
    base = {
        "channel": "telegram",
        "user_id": chat_id,
        "chat_id": chat_id,
        "received_at": START,
        "language_hint": "id",
    }
    largest = updates[4]["message"]["photo"][-1]["file_id"]
    ids = [str(u["update_id"]) for u in updates]
    assert inbound == [
        InboundMessage(platform_id=ids[0], kind="command", text="/start", **base),  # type: ignore[arg-type]
        InboundMessage(
            platform_id=ids[1],
            kind="text",
            text="ada anak di pasar",
            reply_to=sent.platform_message_ids[0],
            **base,  # type: ignore[arg-type]
        ),
        InboundMessage(
            platform_id=ids[2],
            kind="choice",
            choice="anak",
            reply_to=sent.platform_message_ids[0],
            **{**base, "received_at": NOW},  # type: ignore[arg-type]
        ),
        InboundMessage(
            platform_id=ids[3],
            kind="location",
            location=Location(-7.25, 112.75),
            **base,  # type: ignore[arg-type]
        ),
        InboundMessage(
            platform_id=ids[4],
            kind="photo",
            text="di sini",
            photo=Photo(ref=largest, caption="di sini"),
            **base,  # type: ignore[arg-type]
        ),
    ]
    assert all(m.received_at.tzinfo is UTC for m in inbound)


async def test_group_command_and_callback_answer(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    officer = api.add_user(first_name="Budi", language_code="en")
    group = api.add_group("Dinsos Lumajang")
    sent = await adapter.send(
        text_message(str(group), "Kasus baru", buttons=(Button("claim:1", "Ambil"),))
    )
    api.send_text(group, "/kasus@LaporTestBot 42", user_id=officer)
    api.press_button(group, int(sent.platform_message_ids[0]), "claim:1", user_id=officer)
    raws = await poll_updates(adapter, 2)

    command, choice = (adapter.translate(raw)[0] for raw in raws)
    assert (command.kind, command.text, command.is_group) == ("command", "/kasus 42", True)
    assert (command.user_id, command.chat_id, command.language_hint) == (
        str(officer),
        str(group),
        "en",
    )
    assert (choice.kind, choice.choice, choice.is_group, choice.user_id) == (
        "choice",
        "claim:1",
        True,
        str(officer),
    )
    assert await adapter.answer_callback(raws[0]) is False  # not a callback query
    assert await adapter.answer_callback(raws[1]) is True
    assert list(api.answered_callbacks) == [raws[1].payload["callback_query"]["id"]]
    with pytest.raises(PermanentSendError, match=r"(?i)query is too old"):
        await adapter.answer_callback(raws[1])  # a query is answered once


async def test_unknown_update_types_translate_to_nothing_and_a_sticker_to_unsupported(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    member = {
        "chat": {"id": chat, "type": "private", "first_name": "Sari"},
        "from": {"id": chat, "is_bot": False, "first_name": "Sari"},
        "date": 1795000000,
        "old_chat_member": {"status": "member", "user": api.bot_user},
        "new_chat_member": {"status": "kicked", "user": api.bot_user, "until_date": 0},
    }
    api.add_update({"my_chat_member": member})
    edited = api.send_text(chat, "typo")["message"]
    api.add_update({"edited_message": {**edited, "text": "fixed", "edit_date": 1795000100}})
    api.send_text(chat, "x")  # a sticker-free text, to see the poller goes on
    api._updates[-1]["message"].pop("text")
    api._updates[-1]["message"]["sticker"] = {
        "file_id": "s",
        "file_unique_id": "s",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    # Someone joined a group: a service message nobody wrote, so nothing to answer.
    api.send_text(chat, "x")
    api._updates[-1]["message"].pop("text")
    api._updates[-1]["message"]["new_chat_members"] = [api.bot_user]
    # A sticker in an officers' group is their chatter, not an answer to the bot.
    group = api.add_group()
    api.send_sticker(group, user_id=chat)
    raws = await poll_updates(adapter, 6)
    translated = [adapter.translate(raw) for raw in raws]
    assert [[m.kind for m in messages] for messages in translated] == [
        [],
        ["text"],
        [],
        ["unsupported"],
        [],
        [],
    ]
    assert translated[1][0].text == "typo"
    sticker = translated[3][0]
    assert (sticker.content, sticker.text, sticker.chat_id) == ("sticker", None, str(chat))


async def test_malformed_updates_are_bad_requests(adapter: TelegramAdapter) -> None:
    with pytest.raises(BadRequest):
        adapter.split({"message": {"text": "no update id"}})
    with pytest.raises(BadRequest):
        adapter.split([1, 2])  # type: ignore[arg-type]
    with pytest.raises(BadRequest):
        adapter.split({"update_id": "7"})
    (raw,) = adapter.split({"update_id": 7, "message": {"message_id": 1, "text": "no chat"}})
    with pytest.raises(BadRequest, match="malformed"):
        adapter.translate(raw)
    (raw,) = adapter.split({"update_id": 8, "callback_query": "not an object"})
    with pytest.raises(BadRequest, match="malformed"):
        adapter.translate(raw)


async def test_send_with_buttons_makes_an_inline_keyboard(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    result = await adapter.send(
        text_message(
            str(chat),
            "Siapa yang perlu dibantu?",
            buttons=(Button("anak", "Anak terlantar"), Button("lansia", "Lansia terlantar")),
        )
    )
    (message,) = api.sent(chat)
    assert result.platform_message_ids == (str(message["message_id"]),)
    assert message["text"] == "Siapa yang perlu dibantu?"
    assert message["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Anak terlantar", "callback_data": "anak"}],
            [{"text": "Lansia terlantar", "callback_data": "lansia"}],
        ]
    }
    assert "parse_mode" not in api.calls_of("sendMessage")[0].params  # plain text, no escaping


async def test_callback_data_over_64_bytes_is_refused_before_sending(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    with pytest.raises(PermanentSendError, match="64 bytes"):
        await adapter.send(text_message(str(chat), "x", buttons=(Button("é" * 33, "too long"),)))
    assert api.calls_of("sendMessage") == []


async def test_request_location_sends_a_reply_keyboard(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    result = await adapter.send(
        text_message(
            str(chat),
            "Di mana lokasinya?",
            request_location=True,
            buttons=(Button("skip", "Ketik alamat"),),
        )
    )
    markup = api.markups[(chat, int(result.platform_message_ids[0]))]
    assert markup["keyboard"] == [
        [{"text": "📍 Kirim lokasi saya", "request_location": True}],
        [{"text": "Ketik alamat"}],
    ]
    assert markup["one_time_keyboard"] is True
    assert markup["resize_keyboard"] is True


async def test_send_photo_by_file_id_and_download(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    citizen = api.add_user()
    officer = api.add_user(first_name="Budi")
    update = api.send_photo(citizen, b"the photo bytes")
    file_id = update["message"]["photo"][-1]["file_id"]

    assert await adapter.download(file_id) == b"the photo bytes"
    url = await adapter.get_file_url(file_id)
    assert url.startswith(f"{api.url}/file/bot{api.token}/photos/")

    result = await adapter.send(
        text_message(str(officer), "Foto laporan", photo=file_id, buttons=(Button("ok", "OK"),))
    )
    (message,) = api.sent(officer)
    assert result.platform_message_ids == (str(message["message_id"]),)
    assert message["photo"][0]["file_id"] == file_id
    assert message["caption"] == "Foto laporan"
    assert message["reply_markup"]["inline_keyboard"] == [[{"text": "OK", "callback_data": "ok"}]]
    with pytest.raises(PermanentSendError, match=r"(?i)wrong file identifier"):
        await adapter.send(text_message(str(officer), "x", photo="no-such-file"))


async def test_edit_replaces_text_and_buttons(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    first = await adapter.send(
        text_message(str(chat), "Kasus LPR-1: baru", buttons=(Button("claim", "Ambil"),))
    )
    message_id = first.platform_message_ids[0]
    edited = await adapter.send(
        text_message(
            str(chat),
            "Kasus LPR-1: diambil Budi",
            edit_of=message_id,
            buttons=(Button("done", "Selesai"),),
        )
    )
    assert edited.platform_message_ids == (message_id,)
    (message,) = api.sent(chat)
    assert message["text"] == "Kasus LPR-1: diambil Budi"
    assert message["reply_markup"]["inline_keyboard"] == [
        [{"text": "Selesai", "callback_data": "done"}]
    ]
    assert "edit_date" in message
    # an edit that changes nothing already reads as wanted: success, not an error
    again = await adapter.send(
        text_message(
            str(chat),
            "Kasus LPR-1: diambil Budi",
            edit_of=message_id,
            buttons=(Button("done", "Selesai"),),
        )
    )
    assert again.platform_message_ids == (message_id,)
    with pytest.raises(PermanentSendError, match=r"(?i)message to edit not found"):
        await adapter.send(text_message(str(chat), "x", edit_of="999"))


async def test_long_message_is_split_in_order_with_buttons_on_the_last_part(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    paragraphs = [f"Paragraf {n}. " + " ".join(["kata"] * 180) for n in range(10)]
    text = "\n\n".join(paragraphs)
    assert 9000 <= len(text) <= 9300
    result = await adapter.send(text_message(str(chat), text, buttons=(Button("ok", "Baik"),)))

    sent = api.sent(chat)
    assert len(sent) == 3
    assert result.platform_message_ids == tuple(str(m["message_id"]) for m in sent)
    assert all(len(m["text"]) <= 4096 for m in sent)
    assert [("reply_markup" in m) for m in sent] == [False, False, True]
    # cut between paragraphs, nothing lost, order kept
    assert all(m["text"].endswith("kata") for m in sent)
    assert "\n\n".join(m["text"] for m in sent) == text.strip()


async def test_flood_limit_surfaces_as_retry_after(
    adapter: TelegramAdapter, api: BotApiEmulator, clock: FakeClock
) -> None:
    chat = api.add_user()
    for n in range(3):  # a short burst passes, as on Telegram
        await adapter.send(text_message(str(chat), f"pesan {n}"))
    with pytest.raises(RetryAfter) as caught:
        await adapter.send(text_message(str(chat), "pesan 3"))
    assert caught.value.seconds == 3
    clock.advance(3)
    await adapter.send(text_message(str(chat), "pesan 3"))
    assert [m["text"] for m in api.sent(chat)][-1] == "pesan 3"

    api.fail(
        "sendMessage", status=429, description="Too Many Requests: retry after 7", retry_after=7
    )
    with pytest.raises(RetryAfter) as caught:
        await adapter.send(text_message(str(chat), "pesan 4"))
    assert caught.value.seconds == 7


async def test_permanent_errors(adapter: TelegramAdapter, api: BotApiEmulator) -> None:
    chat = api.add_user()
    api.block(chat)
    with pytest.raises(PermanentSendError, match=r"(?i)bot was blocked by the user"):
        await adapter.send(text_message(str(chat), "halo"))
    with pytest.raises(PermanentSendError, match=r"(?i)chat not found"):
        await adapter.send(text_message("424242", "halo"))
    with pytest.raises(PermanentSendError, match="empty"):
        await adapter.send(text_message(str(chat), "   "))
    assert len(api.calls_of("sendMessage")) == 2  # the empty one never left


async def test_transient_errors(adapter: TelegramAdapter, api: BotApiEmulator) -> None:
    chat = api.add_user()
    api.fail("sendMessage", status=500, description="Internal Server Error")
    with pytest.raises(TransientSendError):
        await adapter.send(text_message(str(chat), "halo"))
    api.fail("sendMessage", status=502, description="Bad Gateway")
    with pytest.raises(TransientSendError):
        await adapter.send(text_message(str(chat), "halo"))
    api.drop("sendMessage")
    with pytest.raises(TransientSendError):
        await adapter.send(text_message(str(chat), "halo"))
    await adapter.send(text_message(str(chat), "halo"))
    assert [m["text"] for m in api.sent(chat)] == ["halo"]


async def test_poll_moves_the_offset_only_past_accepted_updates(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    for n in range(3):
        api.send_text(chat, f"pesan {n}")
    accepted: list[str] = []
    failed_once: list[str] = []
    stop = asyncio.Event()

    async def on_update(raw: RawUpdate) -> None:
        text = raw.payload["message"]["text"]
        if text == "pesan 1" and not failed_once:
            failed_once.append(text)
            raise RuntimeError("database is down")
        accepted.append(text)
        if len(accepted) == 3:
            stop.set()

    await asyncio.wait_for(
        poll(adapter, on_update, timeout=1, stop_event=stop, backoff=lambda _: 0.01), timeout=10
    )
    assert accepted == ["pesan 0", "pesan 1", "pesan 2"]
    assert api.pending_updates == []  # the last offset was confirmed on stop
    polls = api.calls_of("getUpdates")
    assert api.calls.index(api.calls_of("deleteWebhook")[0]) < api.calls.index(polls[0])
    first_id = 700_000_001
    offsets = [call.params.get("offset") for call in polls]
    assert offsets[0] is None
    assert [int(o) for o in offsets[1:]] == [first_id + 1, first_id + 3]


async def test_poll_survives_network_errors_and_stops_promptly(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    api.fail("getUpdates", status=500)
    api.drop("getUpdates")
    api.send_text(chat, "halo")
    (raw,) = await asyncio.wait_for(_poll_with_fast_backoff(adapter, 1), timeout=10)
    assert raw.payload["message"]["text"] == "halo"

    # a poller waiting in a long poll ends as soon as it is told to stop
    stop = asyncio.Event()

    async def ignore(raw: RawUpdate) -> None:
        raise AssertionError("no update expected")

    task = asyncio.create_task(poll(adapter, ignore, timeout=30, stop_event=stop))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, timeout=2)


async def _poll_with_fast_backoff(adapter: TelegramAdapter, count: int) -> list[RawUpdate]:
    accepted: list[RawUpdate] = []
    stop = asyncio.Event()

    async def on_update(raw: RawUpdate) -> None:
        accepted.append(raw)
        if len(accepted) >= count:
            stop.set()

    await poll(adapter, on_update, timeout=1, stop_event=stop, backoff=lambda _: 0.01)
    return accepted


async def test_webhook_mode_with_secret_and_redelivery(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    """The emulator POSTs updates with the secret header; the bot's route checks it and
    answers 2xx only once an update is stored, so a 500 makes Telegram send it again."""
    secret = "s3cret_-token"
    stored: list[RawUpdate] = []
    answers = iter([500])  # the first delivery fails (say, the database was busy)

    async def route(request: web.Request) -> web.Response:
        if not check_secret(request.headers, secret):
            return web.Response(status=403)
        status = next(answers, 200)
        if status == 200:
            stored.extend(adapter.split(await request.json()))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/telegram", route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await set_webhook(adapter, f"http://127.0.0.1:{port}/telegram", secret)
        assert (api.webhook_url, api.webhook_secret) == (
            f"http://127.0.0.1:{port}/telegram",
            secret,
        )
        chat = api.add_user()
        update = api.send_text(chat, "/start")
        for _ in range(200):
            if stored:
                break
            await asyncio.sleep(0.01)
        assert [raw.payload for raw in stored] == [update]
        assert [(d.update_id, d.status) for d in api.deliveries] == [
            (update["update_id"], 500),
            (update["update_id"], 200),
        ]

        # a forged secret is refused and stores nothing; Telegram keeps re-sending
        await set_webhook(adapter, f"http://127.0.0.1:{port}/telegram", "wrong-secret")
        api.send_text(chat, "halo")
        for _ in range(200):
            if len(api.deliveries) >= 4:
                break
            await asyncio.sleep(0.01)
        assert {d.status for d in api.deliveries[2:]} == {403}
        assert len(stored) == 1
        await adapter.delete_webhook()
        assert api.webhook_url is None
    finally:
        await runner.cleanup()


def test_header_name_is_telegrams() -> None:
    assert SECRET_HEADER == "X-Telegram-Bot-Api-Secret-Token"


async def test_split_outbound_pieces_each_take_one_call(
    adapter: TelegramAdapter, api: BotApiEmulator
) -> None:
    chat = api.add_user()
    text = "\n\n".join(" ".join(["kata"] * 700) for _ in range(3))
    message = text_message(str(chat), text, buttons=(Button("ok", "Baik"),))
    pieces = adapter.split_outbound(message)
    assert len(pieces) == 3
    assert [p.buttons for p in pieces] == [(), (), (Button("ok", "Baik"),)]
    ids = []
    for piece in pieces:
        assert len(adapter.parts(piece)) == 1
        ids += (await adapter.send(piece)).platform_message_ids
    assert [m["text"] for m in api.sent(chat)] == [p.text for p in pieces]
    assert len(ids) == 3


def _payloads(api: BotApiEmulator) -> list[dict[str, object]]:
    """Updates of many shapes, made by the emulator plus a few written by hand."""
    citizen = api.add_user(first_name="Sari", language_code="id")
    officer = api.add_user(first_name="Budi", language_code=None)
    group = api.add_group("Dinsos")
    bot_message = {
        "message_id": 5,
        "from": api.bot_user,
        "chat": {"id": citizen, "type": "private", "first_name": "Sari"},
        "date": 1795000000,
        "text": "Pilih",
        "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
    }
    chat = {"id": citizen, "type": "private", "first_name": "Sari"}
    sender = {"id": citizen, "is_bot": False, "first_name": "Sari", "language_code": "id"}
    return [
        api.send_text(citizen, "halo"),
        api.send_text(citizen, "/start report"),
        api.send_text(group, "/kasus@LaporTestBot", user_id=officer),
        api.send_text(group, "catatan", user_id=officer),
        api.send_location(citizen, -8.1, 113.2),
        api.send_photo(citizen, b"x"),
        api.send_photo(citizen, b"y", caption="foto"),
        {
            "update_id": 1,
            "callback_query": {
                "id": "77",
                "from": sender,
                "chat_instance": "1",
                "data": "a",
                "message": bot_message,
            },
        },
        # the message under the button is too old to show: Telegram sends it with date 0
        {
            "update_id": 2,
            "callback_query": {
                "id": "78",
                "from": sender,
                "chat_instance": "1",
                "data": "b",
                "message": {"chat": chat, "message_id": 4, "date": 0},
            },
        },
        # a button on an inline-mode message: no chat to answer in
        {
            "update_id": 3,
            "callback_query": {
                "id": "79",
                "from": sender,
                "chat_instance": "1",
                "data": "c",
                "inline_message_id": "AAA",
            },
        },
        {
            "update_id": 4,
            "message": {
                "message_id": 9,
                "from": sender,
                "chat": chat,
                "date": 1795000000,
                "contact": {"phone_number": "+62811", "first_name": "Sari", "user_id": citizen},
            },
        },
        {
            "update_id": 5,
            "channel_post": {
                "message_id": 1,
                "chat": {"id": -100, "type": "channel", "title": "C"},
                "date": 1795000000,
                "text": "x",
            },
        },
        {
            "update_id": 6,
            "edited_message": {
                "message_id": 9,
                "from": sender,
                "chat": chat,
                "date": 1795000000,
                "edit_date": 1795000100,
                "text": "x",
            },
        },
    ]


async def test_both_backends_translate_every_shape_alike(api: BotApiEmulator) -> None:
    adapters = [
        make_telegram_adapter(
            Settings(telegram_token=api.token, telegram_backend=backend, telegram_api_url=api.url),
            clock=FixedClock(NOW),
        )
        for backend in ("aiogram", "ptb")
    ]
    try:
        payloads = _payloads(api)
        results = [
            [adapter.translate(adapter.split(body)[0]) for body in payloads]  # type: ignore[arg-type]
            for adapter in adapters
        ]
        assert results[0] == results[1]
        kinds = [[m.kind for m in messages] for messages in results[0]]
        assert kinds == [
            ["text"],
            ["command"],
            ["command"],
            ["text"],
            ["location"],
            ["photo"],
            ["photo"],
            ["choice"],
            ["choice"],
            [],
            ["unsupported"],  # a contact card
            [],
            [],
        ]
        inaccessible = results[0][8][0]
        assert (inaccessible.choice, inaccessible.reply_to) == ("b", "4")
    finally:
        for adapter in adapters:
            await adapter.close()


async def test_receive_updates_polls_by_default_and_registers_a_webhook_when_set(
    api: BotApiEmulator,
) -> None:
    from laporbot.channels.telegram.receive import receive_updates
    from laporbot.channels.telegram.webhook import derive_secret

    polling = Settings(telegram_token=api.token, telegram_api_url=api.url, telegram_poll_timeout=1)
    chat = api.add_user()
    update = api.send_text(chat, "halo")
    got: list[RawUpdate] = []
    stop = asyncio.Event()

    async def on_update(raw: RawUpdate) -> None:
        got.append(raw)
        stop.set()

    async with make_telegram_adapter(polling) as adapter:
        await asyncio.wait_for(receive_updates(adapter, polling, on_update, stop_event=stop), 10)
    assert [raw.payload for raw in got] == [update]

    hooked = Settings(
        telegram_token=api.token,
        telegram_api_url=api.url,
        telegram_webhook_url="https://laporbot.example.go.id/telegram",
    )
    stop = asyncio.Event()
    async with make_telegram_adapter(hooked) as adapter:
        task = asyncio.create_task(receive_updates(adapter, hooked, on_update, stop_event=stop))
        for _ in range(100):
            if api.webhook_url:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 2)
    assert api.webhook_url == "https://laporbot.example.go.id/telegram"
    assert api.webhook_secret == derive_secret(api.token)
