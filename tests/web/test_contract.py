"""One contract suite, every channel: the same conversations through the real `laporbot serve`
wiring (in-process, random loopback port, temporary SQLite), with

- Telegram via aiogram (long polling) and via python-telegram-bot (webhook), each the real
  library speaking HTTP to the Bot API emulator;
- WhatsApp via the Graph API fake, fed with Meta-shaped webhook bodies signed with the app
  secret;
- the web chat over HTTP.

Each channel is a `Driver`: how a person types, presses a button, shares a pin, how a platform
re-delivers, refuses (429) or is blocked, and what the bot sent. The scenarios are written once.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
from sqlalchemy import func, select

from laporbot.clock import SystemClock
from laporbot.db import outbox as outbox_repo
from laporbot.db.models import Case, Contact, InboxItem, OutboxMessage
from laporbot.messages import OutboundMessage
from laporbot.ratelimit import unlimited_pacer
from laporbot.serve import Service
from laporbot.settings import Settings
from tests.support.botapi import BotApiEmulator, FloodLimits, Limit
from tests.support.graphapi import GraphApiFake, WaUser, WebhookBuilder, encode, sign_body

pytestmark = pytest.mark.integration

WA_SECRET = "contract-app-secret"
WA_VERIFY = "contract-verify"
LOOSE = Limit(10_000, 1.0)


@dataclass
class Reply:
    """A bot message as the person sees it: its text and the ids of its options."""

    text: str
    options: list[str]


class Driver(Protocol):
    """One channel as a person and a platform use it."""

    channel: str

    def settings(self) -> dict[str, Any]: ...
    async def start(self, service: Service) -> None: ...
    async def stop(self) -> None: ...
    async def text(self, text: str) -> str: ...
    async def choose(self, option: str) -> str: ...
    async def locate(self, latitude: float, longitude: float) -> str: ...
    async def sticker(self) -> str: ...
    async def redeliver(self) -> None: ...
    def replies(self) -> list[Reply]: ...
    def block(self) -> None: ...
    def refuse_next_with_429(self, seconds: int) -> None: ...


# -- drivers ---------------------------------------------------------------------------------


class WebDriver:
    channel = "web"

    def __init__(self) -> None:
        self.client_id = uuid.uuid4().hex
        self.http: aiohttp.ClientSession | None = None
        self.base = ""
        self.last: dict[str, Any] | None = None
        self._replies: list[Reply] = []
        self._cursor = 0

    def settings(self) -> dict[str, Any]:
        return {}

    async def start(self, service: Service) -> None:
        self.base = service.url
        if self.http is None:
            self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def _post(self, body: dict[str, Any]) -> str:
        assert self.http is not None
        async with self.http.post(self.base + "api/chat/send", json=body) as response:
            assert response.status == 200, await response.text()
        return f"{body['client_id']}:{body['message_id']}"

    async def _send(self, **fields: Any) -> str:
        body = {"client_id": self.client_id, "message_id": uuid.uuid4().hex[:16], **fields}
        self.last = body
        return await self._post(body)

    async def text(self, text: str) -> str:
        return await self._send(text=text)

    async def choose(self, option: str) -> str:
        return await self._send(choice=option)

    async def locate(self, latitude: float, longitude: float) -> str:
        return await self._send(location={"latitude": latitude, "longitude": longitude})

    async def sticker(self) -> str:
        pytest.skip("the web chat page sends no stickers")

    async def redeliver(self) -> None:
        assert self.last is not None
        await self._post(self.last)

    async def refresh(self) -> None:
        assert self.http is not None
        params = {"client_id": self.client_id, "after": str(self._cursor)}
        async with self.http.get(self.base + "api/chat/messages", params=params) as response:
            data = await response.json()
        self._cursor = data["cursor"]
        for message in data["messages"]:
            self._replies.append(Reply(message["text"], [b["id"] for b in message["buttons"]]))

    def replies(self) -> list[Reply]:
        return list(self._replies)

    def block(self) -> None:
        pytest.skip("a web chat cannot block the bot")

    def refuse_next_with_429(self, seconds: int) -> None:
        pytest.skip("the web chat has no platform limits")


class TelegramDriver:
    channel = "telegram"

    def __init__(self, backend: str, webhook: bool) -> None:
        self.backend = backend
        self.webhook = webhook
        self.api = BotApiEmulator(limits=FloodLimits(bot=LOOSE, private_chat=LOOSE, group=LOOSE))
        self.chat = 0
        self.last: dict[str, Any] | None = None
        self.port = _free_port()

    def settings(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "telegram_token": self.api.token,
            "telegram_backend": self.backend,
            "telegram_api_url": self.api.url,
            "telegram_poll_timeout": 5,
        }
        if self.webhook:
            values["http_port"] = self.port
            values["telegram_webhook_url"] = f"http://127.0.0.1:{self.port}/hooks/telegram"
        return values

    async def start(self, service: Service) -> None:
        if not self.chat:
            self.chat = self.api.add_user(first_name="Sari", language_code="id")

    async def stop(self) -> None:
        await self.api.stop()

    def _keep(self, update: dict[str, Any]) -> str:
        self.last = update
        return str(update["update_id"])

    async def text(self, text: str) -> str:
        return self._keep(self.api.send_text(self.chat, text))

    async def choose(self, option: str) -> str:
        for message in reversed(self.api.sent(self.chat)):
            if option in _inline_options(message):
                return self._keep(self.api.press_button(self.chat, message["message_id"], option))
        raise AssertionError(f"no message offers {option!r}")

    async def locate(self, latitude: float, longitude: float) -> str:
        return self._keep(self.api.send_location(self.chat, latitude, longitude))

    async def sticker(self) -> str:
        return self._keep(self.api.send_sticker(self.chat))

    async def redeliver(self) -> None:
        assert self.last is not None
        if not self.webhook:
            # A poller confirms by offset: Telegram never re-sends a confirmed update to it. A
            # duplicate can only come from a replayed body, so feed one to the inbox directly.
            pytest.skip("long polling confirms by offset; duplicates come through webhooks")
        self.api.redeliver(self.last)

    def replies(self) -> list[Reply]:
        return [
            Reply(m.get("text") or m.get("caption") or "", _inline_options(m))
            for m in self.api.sent(self.chat)
        ]

    def block(self) -> None:
        self.api.block(self.chat)

    def refuse_next_with_429(self, seconds: int) -> None:
        self.api.fail(
            "sendMessage",
            status=429,
            description=f"Too Many Requests: retry after {seconds}",
            retry_after=seconds,
        )


def _inline_options(message: dict[str, Any]) -> list[str]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["callback_data"] for row in keyboard for button in row]


class WhatsAppDriver:
    channel = "whatsapp"

    def __init__(self, by_user_id: bool = False) -> None:
        self.graph = GraphApiFake(clock=time.time)
        self.user = (
            WaUser("Sari", user_id="ID.1234567890123456")
            if by_user_id
            else WaUser("Sari", wa_id="6281234567890")
        )
        self.recipient = self.user.user_id or self.user.wa_id or ""
        self.hooks = WebhookBuilder(phone_number_id=self.graph.phone_number_id)
        self.http: aiohttp.ClientSession | None = None
        self.url = ""
        self.last: bytes | None = None

    def settings(self) -> dict[str, Any]:
        return {
            "whatsapp_access_token": self.graph.token,
            "whatsapp_phone_number_id": self.graph.phone_number_id,
            "whatsapp_graph_api_url": self.graph.url,
            "whatsapp_graph_api_version": self.graph.version,
            "whatsapp_app_secret": WA_SECRET,
            "whatsapp_verify_token": WA_VERIFY,
        }

    async def start(self, service: Service) -> None:
        self.url = service.url + "webhook/whatsapp"
        if self.http is None:
            self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        await self.graph.close()

    async def _deliver(self, raw: bytes) -> None:
        assert self.http is not None
        headers = {"X-Hub-Signature-256": sign_body(raw, WA_SECRET)}
        headers["Content-Type"] = "application/json"
        async with self.http.post(self.url, data=raw, headers=headers) as response:
            assert response.status == 200, await response.text()

    async def _send(self, body: dict[str, Any]) -> str:
        raw = encode(body)
        self.last = raw
        await self._deliver(raw)
        return str(body["entry"][0]["changes"][0]["value"]["messages"][0]["id"])

    async def text(self, text: str) -> str:
        return await self._send(self.hooks.text(self.user, text))

    async def choose(self, option: str) -> str:
        for sent in reversed(self.graph.sent_to(self.recipient)):
            kind, titles = _wa_options(sent.payload)
            if option in titles:
                if kind == "button":
                    body = self.hooks.button_reply(self.user, option, titles[option], sent.wamid)
                else:
                    body = self.hooks.list_reply(
                        self.user, option, titles[option], None, sent.wamid
                    )
                return await self._send(body)
        raise AssertionError(f"no message offers {option!r}")

    async def locate(self, latitude: float, longitude: float) -> str:
        return await self._send(self.hooks.location(self.user, latitude, longitude))

    async def sticker(self) -> str:
        body = self.hooks.text(self.user, "x")
        message = body["entry"][0]["changes"][0]["value"]["messages"][0]
        del message["text"]
        message["type"] = "sticker"
        message["sticker"] = {"id": "1234", "mime_type": "image/webp", "animated": False}
        return await self._send(body)

    async def redeliver(self) -> None:
        assert self.last is not None
        await self._deliver(self.last)

    def replies(self) -> list[Reply]:
        out = []
        for sent in self.graph.sent_to(self.recipient):
            payload = sent.payload
            if payload.get("type") == "text":
                out.append(Reply(payload["text"]["body"], []))
            elif payload.get("type") == "interactive":
                body = payload["interactive"].get("body", {}).get("text", "")
                out.append(Reply(body, list(_wa_options(payload)[1])))
            else:
                out.append(Reply(str(payload.get(payload.get("type", ""), "")), []))
        return out

    def block(self) -> None:
        self.graph.undeliverable.add(self.recipient)

    def refuse_next_with_429(self, seconds: int) -> None:
        self.graph.fail_next(status=429, code=130429, message="(#130429) Rate limit hit")


def _wa_options(payload: dict[str, Any]) -> tuple[str, dict[str, str]]:
    interactive = payload.get("interactive") or {}
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        return "button", {b["reply"]["id"]: b["reply"]["title"] for b in action["buttons"]}
    if interactive.get("type") == "list":
        rows = [row for section in action["sections"] for row in section["rows"]]
        return "list", {row["id"]: row["title"] for row in rows}
    return "", {}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


DRIVERS: dict[str, Callable[[], Driver]] = {
    "web": WebDriver,
    "telegram-aiogram-polling": lambda: TelegramDriver("aiogram", webhook=False),
    "telegram-aiogram-webhook": lambda: TelegramDriver("aiogram", webhook=True),
    "telegram-ptb-polling": lambda: TelegramDriver("ptb", webhook=False),
    "telegram-ptb-webhook": lambda: TelegramDriver("ptb", webhook=True),
    "whatsapp-phone": lambda: WhatsAppDriver(by_user_id=False),
    "whatsapp-bsuid": lambda: WhatsAppDriver(by_user_id=True),
}


# -- the harness -----------------------------------------------------------------------------


@dataclass
class Harness:
    driver: Driver
    folder: Path
    service: Service

    async def restart(self, *, process: bool = True) -> None:
        """Stop this service and start a new one on the same database and platforms."""
        await self.service.stop()
        self.service = await _start(self.driver, self.folder, process=process)

    async def settle(self, platform_id: str | None = None, within: float = 15.0) -> None:
        """Wait until the update is processed and the outbox has nothing left to send now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        channel = self.driver.channel
        while True:
            async with self.service.sessions() as db:
                row = None
                if platform_id is not None:
                    row = await db.scalar(
                        select(InboxItem.status).where(
                            InboxItem.channel == channel, InboxItem.platform_id == platform_id
                        )
                    )
                unsent = await db.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status.in_(("pending", "sending")))
                )
            if (platform_id is None or row in ("done", "ignored", "failed")) and not unsent:
                break
            assert loop.time() < deadline, f"not settled: inbox {row}, {unsent} unsent"
            await asyncio.sleep(0.02)
        if isinstance(self.driver, WebDriver):
            await self.driver.refresh()

    async def wait_stored(self, platform_id: str, within: float = 15.0) -> None:
        """Wait until the update is in the inbox (accepted), processed or not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            async with self.service.sessions() as db:
                found = await db.scalar(
                    select(InboxItem.id).where(
                        InboxItem.channel == self.driver.channel,
                        InboxItem.platform_id == platform_id,
                    )
                )
            if found is not None:
                return
            assert loop.time() < deadline, f"update {platform_id} never stored"
            await asyncio.sleep(0.02)

    async def do(self, action: dict[str, Any]) -> list[Reply]:
        """One step of a transcript; returns the replies it caused."""
        before = len(self.driver.replies())
        if "choice" in action:
            platform_id = await self.driver.choose(action["choice"])
        elif "location" in action:
            platform_id = await self.driver.locate(*action["location"])
        elif "sticker" in action:
            platform_id = await self.driver.sticker()
        else:
            platform_id = await self.driver.text(action["text"])
        await self.settle(platform_id)
        return self.driver.replies()[before:]

    async def outbox(self) -> list[OutboxMessage]:
        async with self.service.sessions() as db:
            return list((await db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())

    async def cases(self) -> list[Case]:
        async with self.service.sessions() as db:
            return list((await db.scalars(select(Case))).all())


async def _start(driver: Driver, folder: Path, *, process: bool = True) -> Service:
    values = {
        "data_dir": folder,
        "http_host": "127.0.0.1",
        "http_port": 0,
        # The transcripts run faster than a person types; flood control has tests of its own.
        "webchat_client_per_minute": 0,
        **driver.settings(),
    }
    clock = SystemClock()
    service = Service(
        Settings(**values),
        clock,
        pacers={"telegram": unlimited_pacer(clock), "whatsapp": unlimited_pacer(clock)},
    )
    await service.start()
    if not process:
        service.inbox.stop()
    await driver.start(service)
    return service


@pytest.fixture(params=list(DRIVERS))
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    driver = DRIVERS[request.param]()
    if isinstance(driver, TelegramDriver):
        await driver.api.start()
    if isinstance(driver, WhatsAppDriver):
        await driver.graph.start()
    service = await _start(driver, tmp_path)
    running = Harness(driver, tmp_path, service)
    try:
        yield running
    finally:
        await running.service.stop()
        await driver.stop()


# -- the transcripts -------------------------------------------------------------------------

# The English golden transcript "report_en_anonymous_pin", with buttons pressed.
REPORT: list[dict[str, Any]] = [
    {"text": "english"},
    {"choice": "report"},
    {"choice": "anak_jalanan"},
    {"choice": "no"},
    {"choice": "yes"},
    {"location": (-8.1335, 113.2246)},
    {"text": "Lumajang, Jawa Timur"},
    {"text": "Sukodono"},
    {"text": "12"},
    {"choice": "male"},
    {"text": "begging at the traffic light every night"},
    {"choice": "_skip"},
    {"choice": "yes"},
    {"choice": "confirm"},
]


async def test_a_report_opens_one_case_even_when_delivered_twice(harness: Harness) -> None:
    for action in REPORT:
        replies = await harness.do(action)
        assert replies, f"{harness.driver.channel}: no reply to {action}"
    number = next(c.number for c in await harness.cases())
    assert any(number in reply.text for reply in replies)
    sent_before = len(harness.driver.replies())

    try:
        await harness.driver.redeliver()  # the platform sends the confirming update again
    except pytest.skip.Exception:
        pass
    else:
        await asyncio.sleep(0.2)
        await harness.settle()
    assert [c.number for c in await harness.cases()] == [number]
    assert len(harness.driver.replies()) == sent_before
    driver = harness.driver
    if isinstance(driver, TelegramDriver):
        # every pressed button's spinner was stopped (answerCallbackQuery)
        pressed = sum("choice" in action for action in REPORT)
        for _ in range(100):
            if len(driver.api.answered_callbacks) >= pressed:
                break
            await asyncio.sleep(0.02)
        assert len(driver.api.answered_callbacks) == pressed
        answers = driver.api.calls_of("answerCallbackQuery")
        if driver.webhook:
            # answered in the webhook responses, the redelivered button's a second time (which
            # Telegram refuses, unseen): no request of the bot's
            assert all(call.in_webhook_answer for call in answers)
            assert len(answers) == pressed + 1
            assert [call.status for call in answers].count(200) == pressed
        else:
            assert not any(call.in_webhook_answer for call in answers)
            assert len(answers) == pressed
    if isinstance(driver, TelegramDriver) and driver.webhook:
        # every update came through our webhook route, the redelivered one twice
        assert driver.last is not None
        last_id = driver.last["update_id"]
        answered = [d.update_id for d in driver.api.deliveries if d.status == 200]
        assert answered.count(last_id) == 2
        assert len(set(answered)) == len(REPORT)
        assert not driver.api.calls_of("getUpdates")


# The Indonesian golden transcripts "complaint_id_about_case" and "status_id_owner_only", with
# buttons pressed: a report, a complaint about it, its status, then help.
REPORT_ID: list[dict[str, Any]] = [
    {"text": "halo"},
    {"choice": "report"},
    {"choice": "anak_terlantar"},
    {"choice": "no"},
    {"choice": "yes"},
    {"text": "Kab. Bintan, Kepulauan Riau"},
    {"text": "Bintan Timur"},
    {"text": "Jl. Raya Kijang km 5"},
    {"text": "14"},
    {"choice": "male"},
    {"text": "putus sekolah, tinggal di pelabuhan"},
    {"choice": "_skip"},
    {"choice": "yes"},
    {"choice": "confirm"},
]


async def _last_text(harness: Harness, action: dict[str, Any]) -> str:
    replies = await harness.do(action)
    assert replies, f"{harness.driver.channel}: no reply to {action}"
    return "\n".join(reply.text for reply in replies)


async def test_complaint_status_and_help_in_indonesian(harness: Harness) -> None:
    for action in REPORT_ID:
        said = await _last_text(harness, action)
    [case] = await harness.cases()
    assert case.number in said
    assert "paling lambat" in said
    assert (case.agency_code, case.kecamatan) == ("dinsos-bintan", "Bintan Timur")

    complaint = [
        {"text": "halo"},
        {"choice": "complaint"},
        {"choice": "yes"},
        {"choice": "case"},
        {"text": case.number},
        {"text": "sudah dua hari belum ada petugas yang datang"},
        {"choice": "yes"},
    ]
    said = ""
    for action in complaint:
        said = await _last_text(harness, action)
    assert "Kirim pengaduan ini?" in said
    said = await _last_text(harness, {"choice": "confirm"})
    assert re.search(r"Nomor pengaduan: ADU-\d{4}-\d{6}", said)
    assert "(2x24 jam)" in said

    await _last_text(harness, {"text": "halo"})
    assert "Ketik nomor laporan" in await _last_text(harness, {"choice": "status"})
    said = await _last_text(harness, {"text": case.number.lower()})
    assert f"Laporan {case.number}" in said
    assert "Langkah saat ini: 1/11" in said

    await _last_text(harness, {"text": "halo"})
    said = await _last_text(harness, {"choice": "help"})
    assert "112" in said
    assert "SAPA" in said
    assert "Dinas Sosial (Pemerintah Kab. Bintan)" in said


async def test_a_sticker_is_answered_with_a_re_ask_and_the_question_again(
    harness: Harness,
) -> None:
    await harness.do({"text": "english"})
    await harness.do({"choice": "report"})
    first, *rest = await harness.do({"sticker": True})
    assert first.text.startswith("Sorry, we cannot read this kind of message")
    assert rest
    assert rest[-1].text.startswith("What would you like to report?")
    assert "anak_jalanan" in rest[-1].options
    # The conversation goes on from the same question.
    replies = await harness.do({"choice": "anak_jalanan"})
    assert replies[-1].text.startswith("Is anyone in danger")


async def test_a_429_with_retry_after_delays_then_delivers(harness: Harness) -> None:
    harness.driver.refuse_next_with_429(1)
    started = time.monotonic()
    replies = await harness.do({"text": "halo"})
    assert replies
    assert time.monotonic() - started >= 0.9
    (row,) = await harness.outbox()
    assert (row.status, row.attempts) == ("sent", 2)


async def test_a_blocked_user_is_recorded_and_not_retried(harness: Harness) -> None:
    harness.driver.block()
    platform_id = await harness.driver.text("halo")
    await harness.settle(platform_id)
    rows = await harness.outbox()
    assert rows
    assert all(r.status == "failed" and r.attempts == 1 and r.error for r in rows)
    await asyncio.sleep(0.3)
    assert [r.attempts for r in await harness.outbox()] == [r.attempts for r in rows]


async def test_a_crash_between_inbox_and_outbox_delivers_every_reply_once(
    harness: Harness,
) -> None:
    await harness.do({"text": "english"})
    # The next update is accepted (webhook answered 200 / poll offset moved) by a process that
    # dies before processing it.
    await harness.restart(process=False)
    platform_id = await harness.driver.choose("report")
    await harness.wait_stored(platform_id)
    await harness.restart()
    await harness.settle(platform_id)
    replies = harness.driver.replies()
    texts = [r.text for r in replies]
    assert len(texts) == len(set(texts)), texts
    # The update the dead process had accepted was answered, once: the category question.
    assert sum(text.startswith("What would you like to report?") for text in texts) == 1
    outbox = await harness.outbox()
    assert all(r.status == "sent" for r in outbox)
    # Every reply the person got is one the outbox recorded as sent, and nothing more.
    assert len(replies) == sum(len(r.platform_message_ids or ()) or 1 for r in outbox)


async def test_whatsapp_outside_the_24_hour_window_sends_the_template(harness: Harness) -> None:
    driver = harness.driver
    if not isinstance(driver, WhatsAppDriver):
        pytest.skip("the 24-hour window is WhatsApp's")
    await harness.do({"text": "halo"})
    now = harness.service.clock.now()
    async with harness.service.sessions() as db, db.begin():
        contact = await db.scalar(select(Contact).where(Contact.channel == "whatsapp"))
        assert contact is not None
        assert contact.chat_id == driver.recipient
        contact.last_inbound_at = now - timedelta(hours=25)
        later = OutboundMessage(channel="whatsapp", chat_id=contact.chat_id, text="news")
        await outbox_repo.enqueue(db, later, now)
    harness.service.dispatcher.wake()
    await harness.settle()
    last = driver.graph.sent_to(driver.recipient)[-1].payload
    assert last["type"] == "template"
    assert last["template"]["name"] == harness.service.settings.whatsapp_followup_template
