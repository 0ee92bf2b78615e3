"""Helpers for database tests: migrated template databases, built once per test run.

Migrations run once per run (a template SQLite file, or one uniquely named PostgreSQL database);
each test then gets a copy of the file, or the PostgreSQL tables truncated, which keeps the
storage suites fast.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from laporbot.db.engine import create_engine_for_url
from laporbot.db.migrate import upgrade_engine
from laporbot.db.models import Base

T = TypeVar("T")

DB_FILE = "laporbot.db"


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on its own loop in its own thread, so session-scoped
    setup never touches the event loops pytest-asyncio gives the tests."""

    async def _run() -> T:
        return await make()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _run()).result()


def sqlite_url(folder: Path) -> str:
    """The URL of the laporbot database file in `folder`."""
    return f"sqlite+aiosqlite:///{(folder / DB_FILE).as_posix()}"


def build_sqlite_template(folder: Path) -> Path:
    """Migrate a new SQLite database in `folder` to head; returns the file to copy."""

    async def build() -> None:
        engine = create_engine_for_url(sqlite_url(folder))
        try:
            await upgrade_engine(engine)
        finally:
            await engine.dispose()  # the last close checkpoints the WAL into the main file

    run_async(build)
    return folder / DB_FILE


def copy_sqlite_template(template: Path, folder: Path) -> str:
    """Copy the migrated template into `folder`; returns the copy's URL."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, folder / DB_FILE)
    return sqlite_url(folder)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_postgres_database(server_url: str) -> str:
    """Create a uniquely named, migrated database on the server of `server_url`; returns its
    URL. The role needs CREATEDB (CI's `laporbot` role is a superuser)."""
    name = f"laporbot_t_{uuid.uuid4().hex[:12]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

    async def build() -> None:
        admin = await asyncpg.connect(_asyncpg_dsn(server_url))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        engine = create_engine_for_url(url)
        try:
            await upgrade_engine(engine)
        finally:
            await engine.dispose()

    run_async(build)
    return url


def drop_postgres_database(server_url: str, url: str) -> None:
    """Drop a database made by `create_postgres_database`."""
    name = make_url(url).database

    async def drop() -> None:
        admin = await asyncpg.connect(_asyncpg_dsn(server_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    run_async(drop)


async def truncate_all(engine: AsyncEngine) -> None:
    """Empty every laporbot table on PostgreSQL (TRUNCATE fires no row triggers, so the
    append-only audit log can be emptied between tests)."""
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
