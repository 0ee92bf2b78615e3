"""How long one claim of the reminder sweep and of the outbox sender takes, as history grows.

The claims must cost the same with 1 000 or 100 000 rows that are not due (future reminders,
sent history): they read only an index range of due rows. "history N" is N future and N sent
reminders, and N sent outbox messages over 100 chats, beside 20 due rows in each table. Usage:

    .venv/bin/python bench/db_claims.py                 # SQLite, 1 000 and 100 000 rows
    .venv/bin/python bench/db_claims.py --url postgresql+asyncpg://u:p@127.0.0.1/empty_db
    .venv/bin/python bench/db_claims.py --tiny          # 200 rows, a smoke run

The PostgreSQL database is wiped (downgrade to base) before the run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db import outbox, reminders
from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from laporbot.db.migrate import downgrade_engine, upgrade_engine
from laporbot.db.models import OutboxMessage, Reminder

NOW = datetime(2026, 3, 25, 9, tzinfo=UTC)
DUE = 20  # rows due now, in each table
CHATS = 100  # the outbox history is spread over this many chats


def _reminder_rows(history: int) -> list[dict[str, Any]]:
    def row(due_at: datetime, status: str) -> dict[str, Any]:
        common = {"kind": "t", "audience": "group", "late": False, "payload": {}}
        return common | {"due_at": due_at, "status": status}

    future = [row(NOW + timedelta(minutes=1 + i), "pending") for i in range(history)]
    sent = [row(NOW - timedelta(minutes=1 + i), "sent") for i in range(history)]
    due = [row(NOW - timedelta(seconds=i), "pending") for i in range(DUE)]
    return future + sent + due


def _outbox_rows(history: int) -> list[dict[str, Any]]:
    common = {"channel": "telegram", "payload": {}, "next_attempt_at": NOW, "created_at": NOW}
    sent = [
        common | {"chat_id": str(i % CHATS), "seq": i // CHATS + 1, "status": "sent", "attempts": 1}
        for i in range(history)
    ]
    # The due messages sit in chats with history: the per-chat order check must skip it.
    due = [
        common | {"chat_id": str(i), "seq": 10**6, "status": "pending", "attempts": 0}
        for i in range(DUE)
    ]
    return sent + due


async def _measure(url: str, history: int, rounds: int) -> dict[str, tuple[float, float]]:
    engine = create_engine_for_url(url)
    try:
        if engine.dialect.name == "postgresql":
            await downgrade_engine(engine, "base")
        await upgrade_engine(engine)
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            for model, rows in (
                (Reminder, _reminder_rows(history)),
                (OutboxMessage, _outbox_rows(history)),
            ):
                for start in range(0, len(rows), 5000):
                    await session.execute(insert(model), rows[start : start + 5000])
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
        claims: dict[str, Callable[[AsyncSession], Awaitable[list[Any]]]] = {
            "reminders.claim_due": lambda s: reminders.claim_due(s, 50, "bench", NOW),
            "outbox.claim_due": lambda s: outbox.claim_due(s, 50, "bench", NOW),
        }
        figures = {}
        for name, claim in claims.items():
            times = []
            for _ in range(rounds):
                async with sessionmaker() as session:
                    started = time.perf_counter()
                    async with session.begin():
                        claimed = await claim(session)
                        assert len(claimed) == DUE, (name, len(claimed))
                        await session.rollback()  # the next round claims the same rows again
                    times.append((time.perf_counter() - started) * 1000)
            figures[name] = (statistics.median(times), max(times))
        if engine.dialect.name == "postgresql":
            await downgrade_engine(engine, "base")
        return figures
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--tiny", action="store_true", help="one small run, to keep this working")
    args = parser.parse_args()
    sizes = [200] if args.tiny else [1_000, 100_000]
    rounds = 3 if args.tiny else 21
    for history in sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = args.url or f"sqlite+aiosqlite:///{Path(folder, 'bench.db').as_posix()}"
            figures = asyncio.run(_measure(url, history, rounds))
        for name, (median, worst) in figures.items():
            backend = url.split(":", 1)[0]
            print(
                f"{backend:18} history {history:>7}: {name:20} "
                f"median {median:6.2f} ms, worst {worst:6.2f} ms"
            )


if __name__ == "__main__":
    main()
