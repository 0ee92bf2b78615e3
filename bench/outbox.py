"""The outbox dispatcher against Telegram's limits: as fast as they allow, and never a 429.

N queued messages to C private chats are delivered by laporbot's real outbox dispatcher
(`laporbot.outbox.Dispatcher` with `telegram_pacer`) through the real aiogram adapter to the
loopback Bot API emulator (`tests/support/botapi.py`), which enforces Telegram's limits strictly
(30 messages in any second per bot, 1 in any second per chat) on the real clock and answers 429
to anything over them. The per-bot limit binds, so the theoretical minimum is N / 30 seconds
(10 000 messages: 333.3 s). Target: at most 5% over it, with zero 429 answers.

    .venv/bin/python -m bench.outbox            # 10 000 messages to 1 000 chats (about 6 min)
    .venv/bin/python -m bench.outbox --tiny     # 300 messages to 100 chats (about 10 s)

`run(messages, chats) -> dict` is the entry point for bench/run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from tests.support.botapi import BotApiEmulator, FloodLimits, Limit

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


async def _run(messages: int, chats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        strict = FloodLimits(
            bot=Limit(TELEGRAM_BOT_PER_SECOND, 1.0),
            private_chat=Limit(1, 1.0),
            group=Limit(20, 60.0),
        )
        async with BotApiEmulator(limits=strict) as api:
            chat_ids = [api.add_user(first_name=f"Warga {i}") for i in range(chats)]
            settings = Settings(
                data_dir=Path(folder),
                telegram_token=api.token,
                telegram_backend="aiogram",
                telegram_api_url=api.url,
            )
            await migrate.upgrade(settings)
            await _queue(settings, chat_ids, messages)

            clock = SystemClock()
            engine = create_engine(settings)
            sessions = make_sessionmaker(engine)
            adapter = make_telegram_adapter(settings, clock=clock)
            await adapter.start()
            dispatcher = Dispatcher(
                sessions,
                clock,
                {"telegram": ChannelSender(adapter, telegram_pacer(clock))},
                max_attempts=settings.outbox_max_attempts,
                worker="bench-outbox",
            )
            try:
                started = time.perf_counter()
                runner = asyncio.create_task(dispatcher.run())
                sent = 0
                while sent < messages:
                    await asyncio.sleep(0.25)
                    if runner.done():
                        runner.result()  # a crashed dispatcher is a crashed benchmark
                        raise RuntimeError("the dispatcher stopped before sending everything")
                    async with sessions() as db:
                        sent = int(
                            await db.scalar(
                                select(func.count()).where(OutboxMessage.status == "sent")
                            )
                            or 0
                        )
                elapsed = time.perf_counter() - started
                dispatcher.stop()
                await runner
            finally:
                await adapter.close()
                await engine.dispose()
            sends = api.calls_of("sendmessage")
            refused = sum(1 for call in sends if call.status == 429)
            delivered = sum(1 for call in sends if call.status == 200)
            other = len(sends) - refused - delivered
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
        "passed": overhead <= TARGET_OVERHEAD and refused == 0 and delivered == messages,
    }


def run(messages: int = 10_000, chats: int = 1_000) -> dict[str, Any]:
    """Deliver `messages` queued messages to `chats` chats; time, overhead and 429 count."""
    return asyncio.run(_run(messages, chats))


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
