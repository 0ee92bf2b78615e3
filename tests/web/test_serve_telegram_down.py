"""`laporbot serve` with a Telegram token while the Bot API cannot be reached: the web chat and
the health check work at once, Telegram messages wait in the outbox without using up their
attempts, and Telegram comes up by itself once the API answers."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from laporbot.clock import SystemClock
from laporbot.db import outbox as outbox_repo
from laporbot.db.models import OutboxMessage
from laporbot.messages import OutboundMessage
from laporbot.ratelimit import unlimited_pacer
from laporbot.serve import Service
from laporbot.settings import Settings
from tests.support.botapi import BotApiEmulator
from tests.web.support import WebChatClient

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _health(http: aiohttp.ClientSession, service: Service) -> dict[str, Any]:
    async with http.get(service.url + "healthz") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def _until(check: Any, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


@pytest.fixture
async def api() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.mark.parametrize("backend", ["aiogram", "ptb"])
async def test_serve_starts_without_telegram_and_connects_when_it_answers(
    tmp_path: Path, api: BotApiEmulator, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = _closed_port()
    settings = Settings(
        data_dir=tmp_path,
        http_host="127.0.0.1",
        http_port=0,
        telegram_token=api.token,
        telegram_backend=backend,  # type: ignore[arg-type]
        telegram_api_url=f"http://127.0.0.1:{port}",
        telegram_poll_timeout=1,
    )
    clock = SystemClock()
    service = Service(settings, clock, pacers={"telegram": unlimited_pacer(clock)})
    service.telegram_backoff = lambda failures: 0.05
    caplog.set_level(logging.WARNING, logger="laporbot.serve")
    await service.start()  # Telegram unreachable: must not stop the rest
    try:
        citizen = api.add_user(first_name="Sari", language_code="id")
        async with aiohttp.ClientSession() as http:
            health = await _health(http, service)
            assert health["telegram"] == "connecting"
            chat = WebChatClient(http, service.url, service.sessions)
            assert await chat.say(text="halo"), "the web chat did not answer"

            # A message for Telegram queued while it is down waits, its attempts untouched.
            async with service.sessions() as db, db.begin():
                row = await outbox_repo.enqueue(
                    db,
                    OutboundMessage(channel="telegram", chat_id=str(citizen), text="menunggu"),
                    clock.now(),
                )
                row_id = row.id
            service.dispatcher.wake()
            await asyncio.sleep(0.3)  # several failed connects and dispatcher ticks
            async with service.sessions() as db:
                waiting = await db.get(OutboxMessage, row_id)
                assert waiting is not None
                assert (waiting.status, waiting.attempts) == ("pending", 0)
            failures = [r for r in caplog.records if "telegram" in r.getMessage().lower()]
            assert failures, "no failed connection was logged"
            assert all(r.exc_info is None for r in failures), "a traceback was logged"

            # The Bot API answers on that port now: Telegram comes up by itself.
            await api.start(port=port)

            async def telegram_up() -> bool:
                return (await _health(http, service))["telegram"] == "up"

            await _until(telegram_up)

            async def delivered() -> bool:
                async with service.sessions() as db:
                    status = await db.scalar(
                        select(OutboxMessage.status).where(OutboxMessage.id == row_id)
                    )
                return status == "sent"

            await _until(delivered)
            assert [m["text"] for m in api.sent(citizen)] == ["menunggu"]

            # And it receives: a citizen's message is answered over Telegram.
            api.send_text(citizen, "halo")

            async def answered() -> bool:
                return len(api.sent(citizen)) > 1

            await _until(answered)
            assert (await _health(http, service))["telegram"] == "up"
    finally:
        await service.stop()
