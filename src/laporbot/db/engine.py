"""Open the database: one async engine per process and a session factory.

SQLite (the default) runs in WAL mode with foreign keys on; every transaction starts with
`BEGIN IMMEDIATE`, so a transaction that has read and then writes never fails with "database
is locked" half way. Since transactions then run one at a time anyway, the process keeps a
single pooled connection: waiting transactions queue on the pool (handed over at once) rather
than polling SQLite's busy handler (sleeps of up to 100 ms); `busy_timeout` still covers other
processes (the CLI). The price: a coroutine must never open a second session while holding a
transaction in the first (it would wait for itself until the pool timeout). PostgreSQL runs
through asyncpg with a normal pool; a connection that sat unused in it for more than
`PING_AFTER_IDLE` seconds is pinged before it is handed out (see `_ping_idle_connections`).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from laporbot.db import sqlite_inline
from laporbot.errors import ConfigError
from laporbot.settings import Settings

BUSY_TIMEOUT_MS = 10_000
# With background checkpoints: a log left longer than this is cut back to it when SQLite
# starts it over (db.checkpoint).
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
#: PostgreSQL: a pooled connection unused for longer is pinged when it is checked out.
PING_AFTER_IDLE = 1.0


def create_engine(settings: Settings, *, background_checkpoints: bool = False) -> AsyncEngine:
    """Create the async engine for `settings.sqlalchemy_url` (SQLite file or PostgreSQL)."""
    return create_engine_for_url(
        settings.sqlalchemy_url,
        echo=settings.database_echo,
        background_checkpoints=background_checkpoints,
    )


def create_engine_for_url(
    url: str,
    *,
    echo: bool = False,
    background_checkpoints: bool = False,
    ping_after_idle: float = PING_AFTER_IDLE,
) -> AsyncEngine:
    """Create the async engine for a URL; the SQLite file's folder is created if missing.

    `background_checkpoints`: SQLite does not checkpoint its log inside commits; the caller
    runs a `db.checkpoint.WalCheckpointer` (`laporbot serve` does). Ignored for PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.get_driver_name() != "aiosqlite":
            raise ConfigError(f"SQLite needs the aiosqlite driver (sqlite+aiosqlite://), not {url}")
        database = parsed.database
        if not database or database == ":memory:":
            raise ConfigError("laporbot needs an SQLite file, not an in-memory database")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = _create_async_engine(
            parsed,
            echo=echo,
            pool_size=1,
            max_overflow=0,
            pool_timeout=BUSY_TIMEOUT_MS / 1000,
            # Statements inside a transaction run on the loop thread (see sqlite_inline).
            async_creator=partial(
                sqlite_inline.connect,
                database,
                busy_timeout_ms=BUSY_TIMEOUT_MS,
                inline_commit=background_checkpoints,
            ),
        )
        _configure_sqlite(engine, autocheckpoint=not background_checkpoints)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "asyncpg":
            parsed = parsed.set(drivername="postgresql+asyncpg")
        engine = _create_async_engine(parsed, echo=echo)
        _ping_idle_connections(engine, ping_after_idle)
        return engine
    raise ConfigError(f"unsupported database {url!r}: use sqlite+aiosqlite:// or postgresql://")


def sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of an SQLite engine (None for PostgreSQL)."""
    url = engine.url
    return url.database if url.get_backend_name() == "sqlite" else None


def _ping_idle_connections(engine: AsyncEngine, after: float) -> None:
    """Ping a pooled connection that sat unused for more than `after` seconds before handing
    it out; one that does not answer is replaced (up to three tries, then the error).

    SQLAlchemy's `pool_pre_ping` pings at every checkout, and asyncpg's ping is a transaction
    of its own: BEGIN, an empty query, ROLLBACK, three round trips before each inbound group's
    ten or so (bench/inbound.py). Under load a connection is back in use within milliseconds
    of its return, and a server that went away in between fails that group's statements as a
    disconnect: the pool is then invalidated and the inbox takes the updates again."""
    returned = "laporbot.returned_at"

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[returned] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(returned)
        if last is None or time.monotonic() - last <= after:
            return  # just connected, or back in the pool a moment ago
        try:
            engine.sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"a pooled connection did not answer: {error}") from error


def _configure_sqlite(engine: AsyncEngine, *, autocheckpoint: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: SQLAlchemy's "begin" hook below emits BEGIN itself,
        # and the pragmas must run outside any transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not autocheckpoint:  # see db.checkpoint
                cursor.execute("PRAGMA wal_autocheckpoint = 0")
                cursor.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # On the driver's cursor: every transaction begins here, and a statement through
        # SQLAlchemy's execution (context, result) costs several times more than BEGIN.
        cursor = connection.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory; objects stay readable after commit (`expire_on_commit=False`)."""
    return async_sessionmaker(engine, expire_on_commit=False)
