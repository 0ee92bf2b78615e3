"""The HTTP routes over real HTTP on loopback: webhooks' authentication, the web chat API and
page, and the health check."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, make_mocked_request
from multidict import CIMultiDict
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import RawUpdate, SendResult
from laporbot.channels.telegram import make_telegram_adapter
from laporbot.channels.web import WebChatAdapter
from laporbot.channels.whatsapp import check_signature
from laporbot.clock import FixedClock
from laporbot.db import outbox as outbox_repo
from laporbot.db.models import InboxItem
from laporbot.errors import BadRequest
from laporbot.i18n import Translator
from laporbot.inbox import InboxProcessor
from laporbot.messages import Button, Channel, InboundMessage, OutboundMessage
from laporbot.outbox import ChannelSender, Dispatcher
from laporbot.photos import upload_path
from laporbot.ratelimit import unlimited_pacer
from laporbot.settings import Settings
from laporbot.web.app import DEPS, Flood, WebDeps, _address, build_app

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]
TG_SECRET = "s3cret-token_for-tests"
WA_SECRET = "app-secret"
WA_VERIFY = "verify-me"


class MiniWhatsApp:
    """Splits a Cloud API notification by message id (enough to test the route)."""

    channel: Channel = "whatsapp"

    def split(self, body: dict[str, Any]) -> list[RawUpdate]:
        try:
            values = [c["value"] for e in body["entry"] for c in e["changes"]]
        except (KeyError, TypeError) as exc:
            raise BadRequest(f"not a WhatsApp notification: {exc}") from exc
        return [
            RawUpdate(channel="whatsapp", platform_id=m["id"], payload=m)
            for v in values
            for m in v.get("messages", [])
        ]

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        return []

    async def send(self, message: OutboundMessage) -> SendResult:
        raise NotImplementedError


async def echo(db: AsyncSession, inbound: InboundMessage, now: datetime) -> None:
    """The intake stand-in: one reply with two buttons per inbound message."""
    said = inbound.text or inbound.choice or f"{inbound.location}"
    reply = OutboundMessage(
        channel=inbound.channel,
        chat_id=inbound.chat_id,
        text=f"you said {said}",
        buttons=(Button("yes", "Ya"), Button("no", "Tidak")),
    )
    await outbox_repo.enqueue(
        db, reply, now, dedup_key=f"in:{inbound.channel}:{inbound.platform_id}:0"
    )


@dataclass
class Harness:
    http: aiohttp.ClientSession
    base: str
    sessions: Sessions
    inbox: InboxProcessor
    dispatcher: Dispatcher
    web: WebChatAdapter
    settings: Settings
    clock: FixedClock

    async def stored(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(InboxItem)) or 0)

    async def pump(self) -> None:
        await self.inbox.process_pending()
        await self.dispatcher.tick()
        await self.dispatcher.drain()


@pytest.fixture
async def harness(db_sessionmaker: Sessions, tmp_path: Path) -> AsyncIterator[Harness]:
    clock = FixedClock(T0)
    settings = Settings(
        data_dir=tmp_path,
        telegram_token="123456:TEST-token",
        telegram_webhook_url="https://bot.example.org/hooks/tg",
        whatsapp_app_secret=WA_SECRET,
        whatsapp_verify_token=WA_VERIFY,
    )
    web = WebChatAdapter()
    telegram = make_telegram_adapter(settings, clock=clock)
    inbox = InboxProcessor(db_sessionmaker, clock, {"web": web, "telegram": telegram}, echo)
    dispatcher = Dispatcher(
        db_sessionmaker,
        clock,
        {"web": ChannelSender(web, unlimited_pacer(clock), on_sent=web.notify)},
        max_attempts=3,
    )
    deps = WebDeps(
        settings=settings,
        clock=clock,
        sessions=db_sessionmaker,
        translator=Translator(settings.locales_dir),
        inbox=inbox,
        web=web,
        telegram=telegram,
        telegram_secret=TG_SECRET,
        whatsapp=MiniWhatsApp(),
    )
    server = TestServer(build_app(deps), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            base = str(server.make_url(""))
            yield Harness(http, base, db_sessionmaker, inbox, dispatcher, web, settings, clock)
    finally:
        await server.close()
        await telegram.close()


TG_UPDATE = {
    "update_id": 5001,
    "message": {
        "message_id": 1,
        "date": 1_790_000_000,
        "chat": {"id": 42, "type": "private"},
        "from": {"id": 42, "is_bot": False, "first_name": "Sari"},
        "text": "halo",
    },
}


@pytest.mark.parametrize(
    ("headers", "status", "stored"),
    [
        ({"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}, 200, 1),
        ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, 401, 0),
        ({}, 401, 0),
    ],
)
async def test_telegram_webhook_secret(
    harness: Harness, headers: dict[str, str], status: int, stored: int
) -> None:
    url = f"{harness.base}/hooks/tg"
    async with harness.http.post(url, json=TG_UPDATE, headers=headers) as response:
        assert response.status == status
    assert await harness.stored() == stored


async def test_telegram_redelivery_stores_once_and_malformed_is_400(harness: Harness) -> None:
    url = f"{harness.base}/hooks/tg"
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    for _ in range(3):
        async with harness.http.post(url, json=TG_UPDATE, headers=headers) as response:
            assert response.status == 200
    async with harness.http.post(url, data=b"{not json", headers=headers) as response:
        assert response.status == 400
    async with harness.http.post(url, json={"no": "update_id"}, headers=headers) as response:
        assert response.status == 400
    assert await harness.stored() == 1


def wa_body(message_id: str) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": "PN"},
                            "messages": [
                                {
                                    "from": "6281234",
                                    "id": message_id,
                                    "timestamp": "1790000000",
                                    "type": "text",
                                    "text": {"body": "halo"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def sign(raw: bytes, secret: str = WA_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


async def test_whatsapp_signature(harness: Harness) -> None:
    url = f"{harness.base}/webhook/whatsapp"
    raw = json.dumps(wa_body("wamid.A")).encode()
    for headers, status in [
        ({}, 401),
        ({"X-Hub-Signature-256": sign(raw, "other-secret")}, 401),
        ({"X-Hub-Signature-256": "sha1=" + "0" * 40}, 401),
        ({"X-Hub-Signature-256": sign(raw + b" ")}, 401),
    ]:
        async with harness.http.post(url, data=raw, headers=headers) as response:
            assert response.status == status
    assert await harness.stored() == 0
    for _ in range(2):
        headers = {"X-Hub-Signature-256": sign(raw), "Content-Type": "application/json"}
        async with harness.http.post(url, data=raw, headers=headers) as response:
            assert response.status == 200
    assert await harness.stored() == 1
    bad = b'{"entry": 3}'
    async with harness.http.post(url, data=bad, headers={"X-Hub-Signature-256": sign(bad)}) as r:
        assert r.status == 400
    assert await harness.stored() == 1


def test_signature_helper_is_exact() -> None:
    # The route uses the channel's own check (one implementation).
    assert check_signature(b"body", sign(b"body", "k"), "k")
    assert check_signature(b"body", sign(b"body", "k").upper().replace("SHA", "sha"), "k")
    assert not check_signature(b"body", sign(b"body", "k")[:-1], "k")
    assert not check_signature(b"body", "", "k")


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": WA_VERIFY, "hub.challenge": "1158201444"},
         200, "1158201444"),
        ({"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}, 403, None),
        ({"hub.mode": "unsubscribe", "hub.verify_token": WA_VERIFY, "hub.challenge": "1"}, 403,
         None),
        ({}, 403, None),
    ],
)  # fmt: skip
async def test_whatsapp_verification(
    harness: Harness, query: dict[str, str], status: int, body: str | None
) -> None:
    async with harness.http.get(f"{harness.base}/webhook/whatsapp", params=query) as response:
        assert response.status == status
        if body is not None:
            assert await response.text() == body


async def test_web_chat_send_dedup_and_reply_over_http(harness: Harness) -> None:
    client = "c" * 16
    send = f"{harness.base}/api/chat/send"
    body = {"client_id": client, "message_id": "m1", "text": "halo"}
    async with harness.http.post(send, json=body) as response:
        assert await response.json() == {"accepted": True}
    async with harness.http.post(send, json=body) as response:
        assert await response.json() == {"accepted": False}
    await harness.pump()

    query = {"client_id": client, "after": "0"}
    async with harness.http.get(f"{harness.base}/api/chat/messages", params=query) as response:
        data = await response.json()
    assert [m["text"] for m in data["messages"]] == ["you said halo"]
    assert data["messages"][0]["buttons"] == [
        {"id": "yes", "label": "Ya"},
        {"id": "no", "label": "Tidak"},
    ]
    cursor = data["cursor"]

    choice = {"client_id": client, "message_id": "m2", "choice": "yes", "display": "Ya"}
    async with harness.http.post(send, json=choice) as response:
        assert response.status == 200
    where = {
        "client_id": client,
        "message_id": "m3",
        "location": {"latitude": -8.13, "longitude": 113.2},
    }
    async with harness.http.post(send, json=where) as response:
        assert response.status == 200
    await harness.pump()
    await harness.pump()
    query = {"client_id": client, "after": str(cursor)}
    async with harness.http.get(f"{harness.base}/api/chat/messages", params=query) as response:
        data = await response.json()
    assert [m["text"] for m in data["messages"]] == [
        "you said yes",
        "you said Location(latitude=-8.13, longitude=113.2)",
    ]

    async with harness.http.get(
        f"{harness.base}/api/chat/history", params={"client_id": client}
    ) as response:
        history = await response.json()
    assert [(m["from"], m["text"]) for m in history["messages"]] == [
        ("me", "halo"),
        ("bot", "you said halo"),
        ("me", "Ya"),
        ("bot", "you said yes"),
        ("me", "-8.13, 113.2"),
        ("bot", "you said Location(latitude=-8.13, longitude=113.2)"),
    ]
    assert history["cursor"] == data["cursor"]


@pytest.mark.parametrize(
    "body",
    [
        {"client_id": "short", "message_id": "m", "text": "x"},
        {"client_id": "c" * 16, "message_id": "bad id!", "text": "x"},
        {"client_id": "c" * 16, "message_id": "m", "text": "   "},
        {"client_id": "c" * 16, "message_id": "m"},
        {"client_id": "c" * 16, "message_id": "m", "text": "x", "choice": "y"},
        {"client_id": "c" * 16, "message_id": "m", "location": {"latitude": 91, "longitude": 0}},
        {"client_id": "c" * 16, "message_id": "m", "location": {"latitude": "1", "longitude": 0}},
        {"client_id": "c" * 16, "message_id": "m", "choice": "x" * 65},
        {"client_id": "c" * 16, "message_id": "m", "text": "x" * 20_001},
        ["not", "an", "object"],
    ],
)
async def test_web_chat_refuses_malformed_posts_and_stores_nothing(
    harness: Harness, body: Any
) -> None:
    async with harness.http.post(f"{harness.base}/api/chat/send", json=body) as response:
        assert response.status == 400
        assert "error" in await response.json()
    assert await harness.stored() == 0


async def test_a_huge_but_sane_message_is_stored(harness: Harness) -> None:
    body = {"client_id": "c" * 16, "message_id": "m", "text": "panjang " * 1000}
    async with harness.http.post(f"{harness.base}/api/chat/send", json=body) as response:
        assert response.status == 200
    assert await harness.stored() == 1


async def test_a_client_sending_too_fast_is_told_to_wait_and_loses_nothing(
    harness: Harness,
) -> None:
    async def send(client: str, index: int) -> aiohttp.ClientResponse:
        body = {"client_id": client, "message_id": f"m{index}", "text": f"pesan {index}"}
        async with harness.http.post(f"{harness.base}/api/chat/send", json=body) as response:
            await response.read()
            return response

    burst = 20  # a third of the default 60 a minute
    for index in range(burst):
        assert (await send("a" * 16, index)).status == 200
    refused = await send("a" * 16, burst)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "1"  # one message a second on average
    assert await harness.stored() == burst  # the refused one is not stored ...
    assert (await send("b" * 16, 0)).status == 200  # ... and other people are not slowed
    harness.clock.advance(timedelta(seconds=1))
    assert (await send("a" * 16, burst)).status == 200  # the page sends it again: stored
    assert await harness.stored() == burst + 2


def test_the_address_limit_holds_every_client_of_one_address() -> None:
    flood = Flood(Settings(webchat_client_per_minute=0, webchat_address_per_minute=60))
    assert flood.clients is None
    admitted = [flood.admit(f"client-{i}", "10.0.0.1", 100.0) for i in range(25)]
    assert admitted[:20] == [0.0] * 20  # a burst of a third of a minute's worth
    assert admitted[20] == pytest.approx(1.0)
    assert flood.admit("client-x", "10.0.0.2", 100.0) == 0.0
    assert flood.admit("client-y", "10.0.0.1", 101.0) == 0.0  # one a second comes back


def test_a_refused_client_does_not_use_up_its_address() -> None:
    # Behind one carrier NAT: a flooding client and a person typing normally.
    flood = Flood(Settings(webchat_client_per_minute=60, webchat_address_per_minute=600))
    refused = [flood.admit("flooder", "10.0.0.1", 100.0) for _ in range(300)]
    assert refused.count(0.0) == 20  # its own burst, then refused
    assert flood.addresses is not None
    assert flood.addresses.wait("10.0.0.1", 100.0) == 0.0  # 280 refusals counted nothing
    assert flood.admit("person", "10.0.0.1", 100.0) == 0.0
    # Looking (a photo's address, before its body is read) counts nothing either.
    assert flood.wait(None, "10.0.0.9", 100.0) == 0.0
    assert flood.addresses.wait("10.0.0.9", 100.0) == 0.0


async def test_long_poll_waits_and_wakes_on_delivery(harness: Harness) -> None:
    client = "d" * 16
    url = f"{harness.base}/api/chat/messages"
    query = {"client_id": client, "after": "0", "wait": "10"}
    loop = asyncio.get_running_loop()

    async def poll() -> tuple[float, list[Any]]:
        started = loop.time()
        async with harness.http.get(url, params=query) as response:
            data = await response.json()
        return loop.time() - started, data["messages"]

    waiting = asyncio.create_task(poll())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    body = {"client_id": client, "message_id": "m1", "text": "halo"}
    async with harness.http.post(f"{harness.base}/api/chat/send", json=body) as response:
        assert response.status == 200
    await harness.pump()
    took, messages = await asyncio.wait_for(waiting, 5)
    assert [m["text"] for m in messages] == ["you said halo"]
    assert took < 5
    assert harness.web.waiting() == 0


async def test_long_poll_wait_is_bounded_and_checked(harness: Harness) -> None:
    url = f"{harness.base}/api/chat/messages"
    async with harness.http.get(url, params={"client_id": "e" * 16, "wait": "0.1"}) as response:
        assert (await response.json()) == {"messages": [], "cursor": 0}
    for params in ({"client_id": "x"}, {"client_id": "e" * 16, "wait": "-1"}, {}):
        async with harness.http.get(url, params=params) as response:
            assert response.status == 400


async def test_healthz(harness: Harness) -> None:
    async with harness.http.get(f"{harness.base}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {
            "status": "ok",
            "database": "ok",
            "inbox_pending": 0,
            "outbox_unsent": 0,
        }
    body = {"client_id": "h" * 16, "message_id": "m1", "text": "halo"}
    async with harness.http.post(f"{harness.base}/api/chat/send", json=body) as response:
        assert response.status == 200
    async with harness.http.get(f"{harness.base}/healthz") as response:
        assert (await response.json())["inbox_pending"] == 1
    await harness.inbox.process_pending()
    async with harness.http.get(f"{harness.base}/healthz") as response:
        data = await response.json()
    assert (data["inbox_pending"], data["outbox_unsent"]) == (0, 1)


@pytest.mark.parametrize(
    ("lang", "expected", "words"),
    [
        ("id", "id", ["Pesan Anda", "Kirim", "Bagikan lokasi saya"]),
        ("en", "en", ["Your message", "Send", "Share my location"]),
    ],
)
async def test_page_is_accessible_self_contained_and_translated(
    harness: Harness, lang: str, expected: str, words: list[str]
) -> None:
    headers = {"Accept-Language": f"{lang};q=0.9, fr;q=0.1"}
    async with harness.http.get(f"{harness.base}/", headers=headers) as response:
        assert response.status == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        page = await response.text()
    assert f'<html lang="{expected}">' in page
    for word in words:
        assert word in page
    assert 'name="viewport"' in page
    assert 'aria-live="polite"' in page
    assert '<label for="message">' in page
    # no external assets: every src/href is relative
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not re.match(r"^(https?:)?//", ref), ref
    for asset in ("static/chat.js", "static/chat.css"):
        async with harness.http.get(f"{harness.base}/{asset}") as response:
            assert response.status == 200
            text = await response.text()
        assert "http://" not in text
        assert "https://" not in text


async def test_page_language_by_query_and_fallback(harness: Harness) -> None:
    async with harness.http.get(f"{harness.base}/", params={"lang": "en"}) as response:
        assert '<html lang="en">' in await response.text()
    headers = {"Accept-Language": "fr-FR, de;q=0.5"}
    async with harness.http.get(f"{harness.base}/", headers=headers) as response:
        assert '<html lang="id">' in await response.text()


async def test_an_unknown_telegram_update_type_is_stored_and_ignored(harness: Harness) -> None:
    body = {
        "update_id": 5002,
        "my_chat_member": {
            "chat": {"id": 42, "type": "private"},
            "from": {"id": 42, "is_bot": False, "first_name": "Sari"},
            "date": 1_790_000_000,
            "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True}},
            "new_chat_member": {"status": "kicked", "user": {"id": 1, "is_bot": True}},
        },
    }
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    async with harness.http.post(f"{harness.base}/hooks/tg", json=body, headers=headers) as r:
        assert r.status == 200
    assert await harness.inbox.process_pending() == 1
    async with harness.sessions() as session:
        row = await session.scalar(select(InboxItem))
    assert row is not None
    assert (row.platform_id, row.status) == ("5002", "ignored")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 100


def photo_form(data: bytes, client: str = "p" * 16, message_id: str = "ph1") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("client_id", client)
    form.add_field("message_id", message_id)
    form.add_field("display", "📷")
    form.add_field("photo", io.BytesIO(data), filename="x.jpg", content_type="image/jpeg")
    return form


async def test_photo_upload_is_stored_by_hash_and_becomes_a_photo_message(
    harness: Harness,
) -> None:
    url = f"{harness.base}/api/chat/photo"
    async with harness.http.post(url, data=photo_form(JPEG)) as response:
        assert response.status == 200, await response.text()
        assert await response.json() == {"accepted": True}
    async with harness.http.post(url, data=photo_form(JPEG)) as response:
        assert await response.json() == {"accepted": False}
    async with harness.sessions() as session:
        row = await session.scalar(select(InboxItem))
    assert row is not None
    ref = row.payload["photo"]["ref"]
    name = hashlib.sha256(JPEG).hexdigest() + ".jpg"
    assert ref == "web-upload:" + name
    settings = harness.settings
    stored = upload_path(settings, ref)
    assert stored is not None
    assert stored.read_bytes() == JPEG
    (message,) = WebChatAdapter().translate(
        RawUpdate(channel="web", platform_id=row.platform_id, payload=row.payload)
    )
    assert message.kind == "photo"
    assert message.photo is not None
    assert message.photo.ref == ref
    assert upload_path(settings, "web-upload:../../etc/passwd") is None
    # The same photo sent again months later is in use again: the sweep of unused photos
    # (which goes by the file's time) must not take it.
    long_ago = time.time() - 200 * 24 * 3600
    os.utime(stored, (long_ago, long_ago))
    form = photo_form(JPEG)
    async with harness.http.post(url, data=form) as response:
        assert response.status == 200
    assert stored.stat().st_mtime > long_ago + 100 * 24 * 3600


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GIF89a not allowed", 400),
        (b"<svg onload=alert(1)>", 400),
        (b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024), 413),
    ],
)
async def test_photo_upload_refuses_other_files_and_big_ones(
    harness: Harness, data: bytes, status: int
) -> None:
    async with harness.http.post(f"{harness.base}/api/chat/photo", data=photo_form(data)) as r:
        assert r.status == status
    assert await harness.stored() == 0


async def test_a_posted_body_cannot_name_a_photo_file(harness: Harness) -> None:
    body = {"client_id": "p" * 16, "message_id": "m", "photo": {"ref": "/etc/passwd"}}
    async with harness.http.post(f"{harness.base}/api/chat/send", json=body) as response:
        assert response.status == 400
    assert await harness.stored() == 0


async def test_json_posts_past_the_body_limit_are_413(harness: Harness) -> None:
    body = {"client_id": "p" * 16, "message_id": "m", "text": "x" * (300 * 1024)}
    async with harness.http.post(f"{harness.base}/api/chat/send", json=body) as response:
        assert response.status == 413
    assert await harness.stored() == 0


@pytest.mark.parametrize(
    ("behind_proxy", "forwarded", "expected"),
    [
        (False, ["203.0.113.9"], "192.0.2.1"),  # a header anyone can send is not believed
        (True, ["203.0.113.9"], "203.0.113.9"),
        (True, ["10.9.9.9, 203.0.113.9"], "203.0.113.9"),  # the proxy's entry is the last
        # The client's own header line, then the proxy's line (HAProxy adds one).
        (True, ["6.6.6.6", "203.0.113.9"], "203.0.113.9"),
        (True, [], "192.0.2.1"),
    ],
)
def test_the_address_counted_behind_a_proxy(
    behind_proxy: bool, forwarded: list[str], expected: str
) -> None:
    app = web.Application()
    deps = SimpleNamespace(settings=Settings(http_behind_proxy=behind_proxy))
    app[DEPS] = cast(WebDeps, deps)
    headers = CIMultiDict(("X-Forwarded-For", line) for line in forwarded)
    request = make_mocked_request(
        "POST", "/api/chat/send", headers=headers, app=app, transport=_Peer("192.0.2.1")
    )
    assert _address(request) == expected


class _Peer:
    """The transport of a request from `host`."""

    def __init__(self, host: str) -> None:
        self.host = host

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.host, 40000) if name == "peername" else default


TG_BUTTON = {
    "update_id": 5002,
    "callback_query": {
        "id": "4711000000001",
        "from": {"id": 42, "is_bot": False, "first_name": "Sari"},
        "chat_instance": "332598",
        "data": "yes",
        "message": {
            "message_id": 2,
            "date": 1_790_000_000,
            "chat": {"id": 42, "type": "private"},
            "from": {"id": 123456, "is_bot": True, "first_name": "Lapor"},
            "text": "Benar?",
        },
    },
}


async def test_a_pressed_button_is_answered_in_the_webhook_response(harness: Harness) -> None:
    url = f"{harness.base}/hooks/tg"
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    answer = {"method": "answerCallbackQuery", "callback_query_id": "4711000000001"}
    # fresh, then redelivered (Telegram sends it again when it lost our answer, and with it
    # the call that answer carried): answered both times
    for _ in range(2):
        async with harness.http.post(url, json=TG_BUTTON, headers=headers) as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            assert await response.json() == answer
    async with harness.http.post(url, json=TG_UPDATE, headers=headers) as response:
        assert response.status == 200
        assert "method" not in await response.json()
    async with harness.http.post(url, json=TG_BUTTON) as response:
        assert response.status == 401
        assert "method" not in await response.json()
    assert await harness.stored() == 2
