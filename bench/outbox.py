"""The outbox dispatcher against Telegram's limits: as fast as they allow, and never a 429.

N queued messages to C private chats are delivered by laporbot's real outbox dispatcher
(`laporbot.outbox.Dispatcher` with `telegram_pacer`) through the real aiogram adapter to the
loopback Bot API emulator (`tests/support/botapi.py`), which enforces Telegram's limits strictly
(30 messages in any second per bot, 1 in any second per chat) on the real clock and answers 429
to anything over them. The per-bot limit binds, so the theoretical minimum is N / 30 seconds
(10 000 messages: 333.3 s). Target: at most 5% over it, with zero 429 answers.

The emulator runs in a helper process, as Telegram is not in the bot's process: sharing one
event loop would add its work to every request's latency, and the dispatcher counts a send
against the limits until its answer comes back (see `laporbot.ratelimit`).

    .venv/bin/python -m bench.outbox            # 10 000 messages to 1 000 chats (about 6 min)
    .venv/bin/python -m bench.outbox --tiny     # 300 messages to 100 chats (about 10 s)

`run(messages, chats) -> dict` is the entry point for bench/run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func, insert, select

from laporbot.channels.base import ChannelAdapter, SendResult
from laporbot.channels.telegram import make_telegram_adapter
from laporbot.clock import SystemClock
from laporbot.db import migrate
from laporbot.db.engine import create_engine, make_sessionmaker
from laporbot.db.models import OutboxMessage
from laporbot.db.outbox import to_payload
from laporbot.messages import OutboundMessage
from laporbot.outbox import ChannelSender, Dispatcher
from laporbot.ratelimit import TELEGRAM_BOT_PER_SECOND, telegram_pacer
from laporbot.settings import Settings

TARGET_OVERHEAD = 0.05
CHUNK = 2_000
STARTUP_TIMEOUT = 60.0


async def _queue(settings: Settings, chat_ids: list[int], messages: int) -> None:
    """Queue `messages` rows round-robin over the chats, as `outbox.enqueue` writes them."""
    now = datetime.now(UTC)
    rows = []
    for i in range(messages):
        chat = str(chat_ids[i % len(chat_ids)])
        text = f"Laporan Anda LPR-2026-{i:06d} sedang ditangani petugas. Terima kasih."
        message = OutboundMessage(channel="telegram", chat_id=chat, text=text)
        rows.append(
            {
                "channel": "telegram",
                "chat_id": chat,
                "seq": i // len(chat_ids) + 1,
                "payload": to_payload(message),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                await conn.run_sync(lambda sync, c=chunk: sync.execute(insert(OutboxMessage), c))
    finally:
        await engine.dispose()


def _emulator_main(conn: Connection, chats: int) -> None:
    """The helper process: the strict emulator with `chats` users, until told to stop; then the
    status of every sendMessage it answered."""

    async def serve() -> None:
        from tests.support.botapi import BotApiEmulator, FloodLimits, Limit

        strict = FloodLimits(
            bot=Limit(TELEGRAM_BOT_PER_SECOND, 1.0),
            private_chat=Limit(1, 1.0),
            group=Limit(20, 60.0),
        )
        async with BotApiEmulator(limits=strict) as api:
            chat_ids = [api.add_user(first_name=f"Warga {i}") for i in range(chats)]
            conn.send((api.url, api.token, chat_ids))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            calls = api.calls_of("sendmessage")
            conn.send([(call.status, str(call.params.get("text", ""))) for call in calls])

    asyncio.run(serve())


@contextlib.contextmanager
def _emulator(chats: int) -> Iterator[tuple[Connection, tuple[str, str, list[int]]]]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_emulator_main, args=(child, chats), daemon=True)
    process.start()
    try:
        if not parent.poll(STARTUP_TIMEOUT):
            raise RuntimeError("the Bot API emulator process did not start")
        yield parent, parent.recv()
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


class _Timed:
    """The adapter, with the time from each send to its answer kept (the latency the pacer
    waits out once per window, since it counts a send until its answer)."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter
        self.latencies: list[float] = []
        self.errors: collections.Counter[str] = collections.Counter()  # what sends raised

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)

    async def send(self, message: OutboundMessage) -> SendResult:
        started = time.perf_counter()
        try:
            result: SendResult = await self._adapter.send(message)
        except Exception as exc:
            self.errors[f"{type(exc).__name__}: {exc}"[:200]] += 1
            raise
        finally:
            self.latencies.append(time.perf_counter() - started)
        return result


async def _deliver(settings: Settings, messages: int) -> tuple[float, _Timed]:
    """Run the dispatcher until every row is sent; the seconds it took, and each send's
    latency and error (the timed adapter)."""
    clock = SystemClock()
    engine = create_engine(settings)
    sessions = make_sessionmaker(engine)
    adapter = make_telegram_adapter(settings, clock=clock)
    await adapter.start()
    timed = _Timed(adapter)
    dispatcher = Dispatcher(
        sessions,
        clock,
        {"telegram": ChannelSender(cast(ChannelAdapter, timed), telegram_pacer(clock))},
        max_attempts=settings.outbox_max_attempts,
        worker="bench-outbox",
    )
    try:
        started = time.perf_counter()
        runner = asyncio.create_task(dispatcher.run())
        sent = 0
        while sent < messages:
            await asyncio.sleep(0.1)
            if runner.done():
                runner.result()  # a crashed dispatcher is a crashed benchmark
                raise RuntimeError("the dispatcher stopped before sending everything")
            async with sessions() as db:
                counted = await db.scalar(
                    select(func.count()).where(OutboxMessage.status == "sent")
                )
                sent = int(counted or 0)
        elapsed = time.perf_counter() - started
        dispatcher.stop()
        await runner
    finally:
        await adapter.close()
        await engine.dispose()
    return elapsed, timed


async def _prepare(settings: Settings, chat_ids: list[int], messages: int) -> None:
    await migrate.upgrade(settings)
    await _queue(settings, chat_ids, messages)


def _run(messages: int, chats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, _emulator(chats) as (conn, (url, token, ids)):
        settings = Settings(
            data_dir=Path(folder),
            telegram_token=token,
            telegram_backend="aiogram",
            telegram_api_url=url,
        )
        asyncio.run(_prepare(settings, ids, messages))
        load_before = os.getloadavg()[0]
        elapsed, timed = asyncio.run(_deliver(settings, messages))
        load_after = os.getloadavg()[0]
        conn.send("stop")
        if not conn.poll(STARTUP_TIMEOUT):
            raise RuntimeError("the Bot API emulator process did not answer")
        answered: list[tuple[int, str]] = conn.recv()
    statuses = [status for status, _ in answered]
    refused = statuses.count(429)
    delivered = statuses.count(200)
    other = len(statuses) - refused - delivered
    # A message answered 200 more than once went out twice (at least once delivery: a send
    # that failed on our side after the emulator had taken it is sent again).
    taken = collections.Counter(text for status, text in answered if status == 200)
    latencies = timed.latencies
    minimum = messages / TELEGRAM_BOT_PER_SECOND
    overhead = elapsed / minimum - 1
    return {
        "messages": messages,
        "chats": chats,
        "seconds": round(elapsed, 2),
        "minimum_seconds": round(minimum, 2),
        "overhead_pct": round(overhead * 100, 2),
        "answers_429": refused,
        "other_errors": other,
        "delivered": delivered,
        "delivered_twice": sum(1 for count in taken.values() if count > 1),
        "send_errors": dict(timed.errors),
        "send_latency_ms_mean": round(statistics.mean(latencies) * 1000, 1),
        "send_latency_ms_p90": round(sorted(latencies)[int(len(latencies) * 0.9)] * 1000, 1),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "cpus": os.cpu_count(),
        "passed": overhead <= TARGET_OVERHEAD and refused == 0 and delivered == messages,
    }


def run(messages: int = 10_000, chats: int = 1_000) -> dict[str, Any]:
    """Deliver `messages` queued messages to `chats` chats; time, overhead and 429 count."""
    return _run(messages, chats)


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tiny", action="store_true", help="300 messages to 100 chats")
    parser.add_argument("--messages", type=int)
    parser.add_argument("--chats", type=int)
    args = parser.parse_args()
    messages, chats = (300, 100) if args.tiny else (10_000, 1_000)
    print(json.dumps(run(args.messages or messages, args.chats or chats), indent=2))


if __name__ == "__main__":
    main()
