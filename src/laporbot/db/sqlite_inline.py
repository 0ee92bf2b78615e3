"""An aiosqlite connection that runs the statements of a transaction on the event loop thread.

aiosqlite hands every call (make a cursor, execute, fetch, close the cursor) to its worker
thread and waits for the answer: four thread round trips per statement, each paying a GIL
hand-over (up to `sys.getswitchinterval()`, 5 ms, while the loop has other work). Measured on
the inbound pipeline, those hand-overs cost more than all of SQLAlchemy and the conversation
engine together (bench/inbound.py). A statement inside laporbot's transactions takes
microseconds: every transaction starts with `BEGIN IMMEDIATE`, so once begun it holds SQLite's
write lock and nothing it runs waits for another connection.

So this connection runs calls inline, on the loop thread, except those that may wait: `BEGIN`
(another process, e.g. the CLI, may hold the write lock: `busy_timeout` waits up to 10 s),
`COMMIT` and `ROLLBACK` (a WAL checkpoint writes and syncs the database file), connecting and
closing. Those still go to aiosqlite's worker thread, so the loop never blocks on a lock or on
the disk. Transactions, durability and error behaviour are unchanged: the same sqlite3 calls
run in the same order on the same connection; only the thread differs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite

# Calls that may wait for a lock or the disk: kept on the worker thread (the connection's, not
# a cursor's `close`).
_THREADED_CALLS = frozenset({"commit", "rollback", "close", "executescript", "backup"})
_WAITING_STATEMENTS = ("BEGIN", "COMMIT", "END", "ROLLBACK", "PRAGMA", "VACUUM")


class InlineConnection(aiosqlite.Connection):
    """`aiosqlite.Connection` running a transaction's statements on the calling thread."""

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection, for statements run inline by `db.direct` (inside a
        transaction, whose write lock is held: nothing waits)."""
        if self._connection is None:
            raise ValueError("the connection is closed")
        return self._connection

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None or _may_wait(fn, args):
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        return fn(*args, **kwargs)


def _may_wait(fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    name = getattr(fn, "__name__", "")
    if name in _THREADED_CALLS:
        # A cursor's close only finalizes its statement: inline (it runs after every one).
        return not isinstance(getattr(fn, "__self__", None), sqlite3.Cursor)
    if name in ("execute", "executemany") and args and isinstance(args[0], str):
        return args[0].lstrip()[:8].upper().startswith(_WAITING_STATEMENTS)
    return False


async def connect(database: str) -> aiosqlite.Connection:
    """Open `database` (a file path) as an `InlineConnection` (for `async_creator`)."""
    # The sqlite3 connection is made on the worker thread and used on both threads, never at
    # the same time (each call is awaited before the next).
    connector = partial(sqlite3.connect, database, check_same_thread=False)
    connection = InlineConnection(connector, iter_chunk_size=64)
    return await connection
