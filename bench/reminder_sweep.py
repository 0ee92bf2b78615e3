"""The reminder sweep's cost must not grow with the number of open cases.

Each open case carries its future reminders (half time and deadline, not yet due); 20
reminders are due now. The figure that matters is the time to find the due reminders (the
sweep's claim: one index range on (status, due_at)), measured among 1 000 and 1 000 000 open
cases; the whole sweep of the 20 due reminders (claim, texts, outbox, mark sent) is reported too.

    .venv/bin/python -m bench.reminder_sweep                    # 1 000 vs 1 000 000, SQLite
    .venv/bin/python -m bench.reminder_sweep --open-cases 50000 # one size
    .venv/bin/python -m bench.reminder_sweep --tiny             # 100 vs 1 000, a smoke run
    .venv/bin/python -m bench.reminder_sweep --url postgresql+asyncpg://u:p@127.0.0.1/db

`run(n) -> dict` is the entry point for bench/run. A PostgreSQL database given by --url is
wiped (downgraded to base) before each size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from laporbot.clock import FixedClock
from laporbot.db import reminders as reminder_rows
from laporbot.db.agencies import sync_agencies
from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from laporbot.db.migrate import downgrade_engine, upgrade_engine
from laporbot.db.models import Case, OfficerGroup, Reminder
from laporbot.i18n import Translator
from laporbot.paths import data_dir
from laporbot.reminders.sweep import ReminderSweep
from laporbot.settings import Settings
from laporbot.standards.registry import load_registry

NOW = datetime(2026, 3, 25, 3, 0, tzinfo=UTC)
DUE = 20
REMINDERS_PER_CASE = 2
CHUNK = 20_000
AGENCY, STANDARD = "dinsos-riau", "riau-penyerahan-anak-lansia"


async def _fill(engine: AsyncEngine, open_cases: int) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(
            lambda sync: sync.execute(
                insert(OfficerGroup),
                [
                    {
                        "agency_code": AGENCY,
                        "channel": "telegram",
                        "chat_id": "grp",
                        "purpose": "triage",
                        "created_at": NOW,
                    }
                ],
            )
        )
    received = NOW - timedelta(days=1)
    for start in range(0, open_cases, CHUNK):
        stop = min(start + CHUNK, open_cases)
        cases = [
            {
                "id": i + 1,
                "number": f"LPR-2026-{i + 1:07d}",
                "agency_code": AGENCY,
                "standard_code": STANDARD,
                "category": "anak_terlantar",
                "priority": 2,
                "status": "claimed",
                "current_step": 0,
                "subject": {},
                "anonymous": False,
                "locale": "id",
                "received_at": received,
                "due_at": NOW + timedelta(days=6),
                "details": {},
            }
            for i in range(start, stop)
        ]
        reminders = [
            {
                "case_id": i + 1,
                "kind": kind,
                "audience": audience,
                "due_at": NOW + timedelta(days=days, seconds=i % 3600),
                "status": "pending",
                "late": False,
                "payload": {"message": f"reminders.{kind}"},
            }
            for i in range(start, stop)
            for kind, audience, days in (
                ("completion.officer_half", "officer", 2),
                ("completion.supervisor_due", "supervisor", 6),
            )
        ]
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync, c=cases: sync.execute(insert(Case), c))
            await conn.run_sync(lambda sync, r=reminders: sync.execute(insert(Reminder), r))


async def _add_due(engine: AsyncEngine, open_cases: int, round_: int = 0) -> None:
    due = [
        {
            "case_id": 1 + (i * 7919 + round_) % open_cases,
            "kind": "triage.unclaimed_group",
            "audience": "group",
            "due_at": NOW - timedelta(seconds=i),
            "status": "pending",
            "late": False,
            "payload": {"message": "reminders.triage.unclaimed_group"},
        }
        for i in range(DUE)
    ]
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: sync.execute(insert(Reminder), due))


async def _run(open_cases: int, url: str | None, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        database = url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        engine = create_engine_for_url(database)
        try:
            if url is not None:
                await downgrade_engine(engine, "base")
            await upgrade_engine(engine)
            registry = load_registry(data_dir("standards"))
            sessionmaker = make_sessionmaker(engine)
            async with sessionmaker() as session, session.begin():
                await sync_agencies(
                    session, [(a.code, a.name, a.time_zone) for a in registry.agencies]
                )
            began = time.perf_counter()
            await _fill(engine, open_cases)
            await _add_due(engine, open_cases)
            if engine.dialect.name == "postgresql":
                async with engine.connect() as conn:
                    await conn.execute(text("COMMIT"))
                    await conn.execute(text("ANALYZE"))
            build = time.perf_counter() - began

            # Finding the due reminders: the sweep's claim, rolled back so every round finds
            # the same 20 among the same open cases.
            timings = []
            for _ in range(repeats):
                async with sessionmaker() as session:
                    started = time.perf_counter()
                    found = await reminder_rows.claim_due(session, 200, "bench", NOW)
                    timings.append(time.perf_counter() - started)
                    assert len(found) == DUE, len(found)
                    await session.rollback()

            settings = Settings(data_dir=Path(folder))
            sweep = ReminderSweep(
                sessionmaker,
                registry,
                Translator(data_dir("locales")),
                settings,
                FixedClock(NOW),
                worker="bench",
            )
            # The first sweep warms Babel's and the catalogs' caches; the second is timed.
            assert (await sweep.run_once()).sent == DUE
            await _add_due(engine, open_cases, round_=1)
            started = time.perf_counter()
            result = await sweep.run_once()
            sweep_seconds = time.perf_counter() - started
            assert result.sent == DUE, result
            async with sessionmaker() as session:
                pending = await session.scalar(
                    select(text("count(*)"))
                    .select_from(Reminder)
                    .where(Reminder.status == "pending")
                )
        finally:
            await engine.dispose()
    return {
        "database": engine.dialect.name,
        "open_cases": open_cases,
        "pending_reminders": int(pending or 0),
        "due_reminders": DUE,
        "build_seconds": round(build, 2),
        "find_due_ms_median": round(statistics.median(timings) * 1000, 3),
        "find_due_ms_min": round(min(timings) * 1000, 3),
        "sweep_20_due_ms": round(sweep_seconds * 1000, 2),
    }


def run(n: int, *, url: str | None = None, repeats: int = 200) -> dict[str, Any]:
    """Build a database with `n` open cases and 20 due reminders; time finding and sweeping them."""
    return asyncio.run(_run(n, url, repeats))


def compare(small: int, large: int, *, url: str | None = None) -> dict[str, Any]:
    """Both sizes and the ratio of their find times (about 1 when the cost does not grow)."""
    first = run(small, url=url)
    second = run(large, url=url)
    return {
        "small": first,
        "large": second,
        "find_due_ratio": round(second["find_due_ms_median"] / first["find_due_ms_median"], 2),
        "sweep_ratio": round(second["sweep_20_due_ms"] / first["sweep_20_due_ms"], 2),
    }


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--open-cases", type=int, help="one size only")
    parser.add_argument("--tiny", action="store_true", help="100 vs 1 000 open cases")
    parser.add_argument("--url", help="a PostgreSQL database to wipe and use (default SQLite)")
    args = parser.parse_args()
    if args.open_cases:
        print(json.dumps(run(args.open_cases, url=args.url), indent=2))
        return
    small, large = (100, 1_000) if args.tiny else (1_000, 1_000_000)
    print(json.dumps(compare(small, large, url=args.url), indent=2))


if __name__ == "__main__":
    main()
