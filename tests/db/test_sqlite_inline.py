"""The SQLite connection that runs a transaction's statements on the loop thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from laporbot.db.engine import create_engine_for_url, make_sessionmaker


async def test_statements_run_on_the_loop_thread_and_begin_commit_do_not(tmp_path: Path) -> None:
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    threads: dict[str, int] = {}

    def where(name: str) -> int:
        threads[name] = threading.get_ident()
        return 1

    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            raw = await session.connection()
            driver = (await raw.get_raw_connection()).driver_connection
            await driver.create_function("where_am_i", 1, where)
            await session.execute(text("SELECT where_am_i('statement')"))
        assert threads["statement"] == threading.get_ident()
    finally:
        await engine.dispose()


async def test_a_transaction_waiting_for_the_write_lock_does_not_block_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    engine: AsyncEngine = create_engine_for_url(f"sqlite+aiosqlite:///{path}")
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        other = sqlite3.connect(path, isolation_level=None)  # e.g. the CLI, writing
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (1)")

        async def write() -> None:
            async with sessions() as session, session.begin():
                await session.execute(text("INSERT INTO t VALUES (2)"))

        task = asyncio.create_task(write())
        for _ in range(20):  # the loop keeps turning while BEGIN waits on the worker thread
            await asyncio.sleep(0)
        assert not task.done()
        other.execute("COMMIT")
        other.close()
        await asyncio.wait_for(task, timeout=10)
        async with sessions() as session:
            assert (await session.execute(text("SELECT x FROM t ORDER BY x"))).all() == [(1,), (2,)]
    finally:
        await engine.dispose()
