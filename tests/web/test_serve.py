"""End to end: the real `laporbot serve` wiring, in-process on a random loopback port with a
temporary SQLite file; a citizen reports through the web chat over HTTP and the case is in the
database and in `laporbot cases list`."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from laporbot.cli import main
from laporbot.db.models import Case, InboxItem, OutboxMessage
from laporbot.serve import Service
from laporbot.settings import Settings
from tests.web.support import WebChatClient, settled

pytestmark = pytest.mark.integration

# The English golden transcript "report_en_anonymous_pin", pressed as buttons on the page.
REPORT: list[dict[str, object]] = [
    {"text": "english"},
    {"choice": "report", "display": "Report a child/elder in need"},
    {"choice": "anak_jalanan", "display": "Street child"},
    {"choice": "no", "display": "No"},
    {"choice": "yes", "display": "Yes"},
    {"location": {"latitude": -8.1335, "longitude": 113.2246}},
    {"text": "Lumajang, Jawa Timur"},
    {"text": "Sukodono"},
    {"text": "12"},
    {"choice": "male", "display": "Male"},
    {"text": "begging at the traffic light every night"},
    {"choice": "_skip", "display": "Skip"},
    {"choice": "yes", "display": "Yes"},
    {"choice": "confirm", "display": "Send"},
]


def settings_for(folder: Path) -> Settings:
    return Settings(data_dir=folder, http_host="127.0.0.1", http_port=0)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    running = Service(settings_for(tmp_path))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_a_report_made_in_the_web_chat_opens_a_case(service: Service, tmp_path: Path) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", service.url)
    assert service.port != 0
    async with aiohttp.ClientSession() as http:
        async with http.get(service.url) as response:
            assert response.status == 200
            assert "<html lang=" in await response.text()
        async with http.get(service.url + "healthz") as response:
            assert response.status == 200
        chat = WebChatClient(http, service.url, service.sessions)
        for step in REPORT:
            replies = await chat.say(**step)
            assert replies, f"no reply to {step}"
            if "choice" in step:
                pressed = [m for m in chat.seen[: -len(replies)] if m["buttons"]]
                assert step["choice"] in [b["id"] for b in pressed[-1]["buttons"]]
        last = "\n".join(m["text"] for m in replies)
        number = re.search(r"LPR-\d{4}-\d{6}", last)
        assert number is not None, last

        # A reload shows the whole conversation again, in order.
        async with http.get(
            service.url + "api/chat/history", params={"client_id": chat.client_id}
        ) as response:
            history = (await response.json())["messages"]
        assert [m["text"] for m in history if m["from"] == "me"][:3] == [
            "english",
            "Report a child/elder in need",
            "Street child",
        ]
        assert history[-1]["text"] == chat.seen[-1]["text"]

    async with service.sessions() as db:
        cases = (await db.scalars(select(Case))).all()
        assert [(c.number, c.category, c.anonymous) for c in cases] == [
            (number.group(0), "anak_jalanan", True)
        ]
        assert cases[0].kecamatan == "Sukodono"
        statuses = set((await db.scalars(select(InboxItem.status))).all())
        assert statuses == {"done"}
        outbox = set((await db.scalars(select(OutboxMessage.status))).all())
        assert outbox <= {"sent"}

    listed = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["cases", "list", "--format", "json"],
        obj={"settings": settings_for(tmp_path)},
    )
    assert listed.exit_code == 0, listed.output
    assert [c["number"] for c in json.loads(listed.output)] == [number.group(0)]


async def test_a_huge_message_gets_a_reply_and_loses_nothing(service: Service) -> None:
    async with aiohttp.ClientSession() as http:
        chat = WebChatClient(http, service.url, service.sessions)
        await chat.say(text="halo")
        replies = await chat.say(text="tolong " * 2000)  # 14,000 characters
        assert replies
        assert "4000" in replies[-1]["text"]  # the engine asks for a shorter message
    async with service.sessions() as db:
        rows = (await db.scalars(select(InboxItem))).all()
    assert [r.status for r in rows] == ["done", "done"]
    assert len(rows[1].payload["text"]) == 14_000


async def test_an_update_accepted_before_a_crash_is_answered_once_after_restart(
    tmp_path: Path,
) -> None:
    """Accept an update, "crash" before processing it, start a new service on the same
    database: the reply is delivered exactly once."""
    first = Service(settings_for(tmp_path))
    await first.start()
    first.inbox.stop()  # the processor never picks the update up: the process "dies" after
    await asyncio.sleep(0)
    async with aiohttp.ClientSession() as http:
        chat = WebChatClient(http, first.url, first.sessions)
        assert await chat.post(message_id="m1", text="halo") == {"accepted": True}
    async with first.sessions() as db:
        assert (await db.scalars(select(InboxItem.status))).all() == ["pending"]
    await first.stop()

    second = Service(settings_for(tmp_path))
    await second.start()
    try:
        async with aiohttp.ClientSession() as http:
            chat = WebChatClient(http, second.url, second.sessions, client_id=chat.client_id)
            assert await chat.post(message_id="m1", text="halo") == {"accepted": False}
            await settled(second.sessions)
            replies = await chat.fetch()
        assert len(replies) == 1
        assert replies[0]["buttons"]
        async with second.sessions() as db:
            rows = (await db.scalars(select(OutboxMessage))).all()
        assert [(r.status, r.attempts) for r in rows] == [("sent", 1)]
    finally:
        await second.stop()


async def test_laporbot_serve_logs_where_the_chat_is_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The command itself, as a user starts it: one log line with the web chat's address,
    a working page, and a clean exit on SIGTERM."""
    env = {
        **os.environ,
        "LAPORBOT_DATA_DIR": str(tmp_path),
        "LAPORBOT_HTTP_PORT": "0",
        "LAPORBOT_CONFIG": str(tmp_path / "none.toml"),
    }
    (tmp_path / "none.toml").write_text("")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "laporbot", "serve",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    url = None
    output: list[str] = []
    try:
        async with asyncio.timeout(60):
            while url is None:
                line = (await process.stdout.readline()).decode()
                assert line, "serve exited early:\n" + "".join(output)
                output.append(line)
                found = re.search(r"web chat at (http://127\.0\.0\.1:\d+/)", line)
                url = found.group(1) if found else None
        async with aiohttp.ClientSession() as http, http.get(url + "healthz") as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest, _ = await process.communicate()
    assert process.returncode == 0, "".join(output) + rest.decode()
    assert "stopping" in rest.decode()


async def test_stop_answers_waiting_long_polls_at_once(tmp_path: Path) -> None:
    service = Service(settings_for(tmp_path))
    await service.start()
    async with aiohttp.ClientSession() as http:
        params = {"client_id": "f" * 16, "after": "0", "wait": "25"}
        poll = asyncio.create_task(_get_json(http, service.url + "api/chat/messages", params))
        for _ in range(100):
            if service.web.waiting():
                break
            await asyncio.sleep(0.01)
        assert service.web.waiting() == 1
        started = asyncio.get_running_loop().time()
        await service.stop()
        assert asyncio.get_running_loop().time() - started < 5
        assert await asyncio.wait_for(poll, 1) == {"messages": [], "cursor": 0}


async def _get_json(http: aiohttp.ClientSession, url: str, params: dict[str, str]) -> object:
    async with http.get(url, params=params) as response:
        return await response.json()


async def test_a_taken_port_fails_start_cleanly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = Service(settings_for(tmp_path).model_copy(update={"http_port": port}))
        with pytest.raises(OSError, match="in use"):
            await service.start()
    # the database engine opened before the port was tried is closed again
    assert service._engine is None
    assert service._runner is None


async def test_serve_checkpoints_the_sqlite_log_itself_and_leaves_none_behind(
    tmp_path: Path,
) -> None:
    """Commits do not checkpoint (db.checkpoint): the service runs the checkpoints, and what
    it wrote is in the database file once it stopped."""
    settings = settings_for(tmp_path)
    service = Service(settings)
    await service.start()
    try:
        async with service.sessions() as db:
            setting = await db.execute(text("PRAGMA wal_autocheckpoint"))
            assert setting.scalar_one() == 0
        assert "checkpoints" in {task.get_name() for task in asyncio.all_tasks()}
    finally:
        await service.stop()
    assert "checkpoints" not in {task.get_name() for task in asyncio.all_tasks()}
    database = Path(make_url(settings.sqlalchemy_url).database or "")
    wal = database.with_name(database.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


async def test_the_heap_is_frozen_again_once_the_warm_up_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []
    frozen_once = threading.Event()

    def calendar(years: object) -> None:
        # what the holiday tables leave behind: long-lived objects made after start-up,
        # once the first freeze is behind
        frozen_once.wait(timeout=10)
        made.append([years])

    monkeypatch.setattr("laporbot.serve.indonesian_holidays_of", calendar)
    running = Service(settings_for(tmp_path))
    await running.start()
    try:
        running.freeze_heap()
        frozen_once.set()
        (freezing,) = [task for task in running._tasks if task.get_name() == "freeze"]
        await freezing
        assert made
        # gc.get_objects() lists the collected generations, not the frozen one
        assert not any(obj is made[0] for obj in gc.get_objects())
    finally:
        gc.unfreeze()
        await running.stop()
