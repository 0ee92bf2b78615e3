"""The SQLite connection that runs a transaction's statements on the loop thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from laporbot.db.engine import BUSY_TIMEOUT_MS, create_engine_for_url, make_sessionmaker
from laporbot.db.sqlite_inline import InlineConnection


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


async def _traced(engine: AsyncEngine) -> list[tuple[str, int]]:
    """Every statement the engine's connection runs, with the thread that ran it."""
    seen: list[tuple[str, int]] = []
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, InlineConnection)
        driver.sqlite.set_trace_callback(lambda sql: seen.append((sql, threading.get_ident())))
    return seen


async def test_begin_and_commit_run_inline_when_the_log_is_checkpointed_elsewhere(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{path}", background_checkpoints=True)
    try:
        seen = await _traced(engine)
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        loop = threading.get_ident()
        ran = [(sql, thread == loop) for sql, thread in seen]
        assert ran == [
            ("PRAGMA busy_timeout = 0", True),
            ("BEGIN IMMEDIATE", True),
            (f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", True),
            ("CREATE TABLE t (x INTEGER)", True),
            ("COMMIT", True),
        ]
        async with engine.connect() as connection:
            timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        assert timeout == BUSY_TIMEOUT_MS
    finally:
        await engine.dispose()


async def test_commit_and_a_real_rollback_go_to_the_worker_thread_otherwise(
    tmp_path: Path,
) -> None:
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        seen = await _traced(engine)
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO t VALUES (1)"))
            await session.rollback()
        loop = threading.get_ident()
        on_worker = [sql for sql, thread in seen if thread != loop]
        # The log may be checkpointed in a commit here: COMMIT waits off the loop, and so does
        # undoing a transaction; beginning one did not wait (no other writer).
        assert on_worker == ["COMMIT", "ROLLBACK"]
        async with sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await engine.dispose()


async def test_a_begin_that_found_the_lock_taken_keeps_the_connection_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{path}", background_checkpoints=True)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        seen = await _traced(engine)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")

        async def write() -> None:
            async with sessions() as session, session.begin():
                await session.execute(text("INSERT INTO t VALUES (1)"))

        task = asyncio.create_task(write())
        for _ in range(20):
            await asyncio.sleep(0)
        other.execute("COMMIT")
        other.close()
        await asyncio.wait_for(task, timeout=10)
        loop = threading.get_ident()
        begins = [thread == loop for sql, thread in seen if sql == "BEGIN IMMEDIATE"]
        assert begins == [True, False]  # tried inline, then waited on the worker thread
        async with engine.connect() as connection:
            timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        assert timeout == BUSY_TIMEOUT_MS
    finally:
        await engine.dispose()
