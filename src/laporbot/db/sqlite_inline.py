"""An aiosqlite connection that runs a transaction on the event loop thread.

aiosqlite hands every call (make a cursor, execute, fetch, close the cursor) to its worker
thread and waits for the answer. Each of those round trips pays a GIL hand-over, up to
`sys.getswitchinterval()` (5 ms) while the loop has other work. Measured on the inbound
pipeline, those hand-overs cost more than all of SQLAlchemy and the conversation engine
together (bench/inbound.py). A statement inside laporbot's transactions takes microseconds:
every transaction starts with `BEGIN IMMEDIATE`, so once begun it holds SQLite's write lock and
nothing it runs waits for another connection.

So this connection runs calls inline, on the loop thread, except those that may wait:
- `BEGIN` waits when another process (the CLI) holds the write lock. It is tried inline without
  waiting (`busy_timeout` 0 for that one statement); only when the lock is taken does it go to
  the worker thread, which waits up to the connection's `busy_timeout`.
- `COMMIT` may checkpoint the log (SQLite writes and syncs the database file then). It runs
  inline only on connections opened with `inline_commit`: their log is checkpointed by a
  `db.checkpoint.WalCheckpointer` (`wal_autocheckpoint = 0`) and, with `synchronous = NORMAL`
  in WAL mode, a commit appends to the log without a sync (but for the first commit after the
  checkpointer let the log start over: one sync of the log, about once a second under load).
  Elsewhere, a commit goes to the worker thread.
- `ROLLBACK` outside a transaction (the pool's reset of a connection given back after its
  commit) does nothing: inline. A rollback of a transaction goes to the worker thread.
- connecting, closing, pragmas, `VACUUM`, scripts and backups: the worker thread.

So the loop never blocks on a lock or on the disk. Transactions, durability and error behaviour
are unchanged: the same sqlite3 calls run in the same order on the same connection; only the
thread differs.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite

# Statements that may wait for a lock or the disk: run on the worker thread (BEGIN is tried
# inline first, see `_begin`).
_WAITING_STATEMENTS = ("BEGIN", "COMMIT", "END", "ROLLBACK", "PRAGMA", "VACUUM")
# Connection calls that may wait: run on the worker thread (but see `_execute`).
_THREADED_CALLS = frozenset({"commit", "rollback", "close", "executescript", "backup"})


class InlineConnection(aiosqlite.Connection):
    """`aiosqlite.Connection` running a transaction's statements on the calling thread."""

    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        *,
        busy_timeout_ms: int,
        inline_commit: bool = False,
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.busy_timeout_ms = busy_timeout_ms
        self.inline_commit = inline_commit

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection, for statements run inline by `db.direct` (inside a
        transaction, whose write lock is held: nothing waits)."""
        if self._connection is None:
            raise ValueError("the connection is closed")
        return self._connection

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        connection = self._connection
        if connection is not None:
            if _is_begin(fn, args):
                with contextlib.suppress(_LockTaken):
                    return self._without_waiting(connection, fn, args, kwargs)
            elif self._runs_inline(connection, fn, args):
                return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    def _runs_inline(
        self, connection: sqlite3.Connection, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> bool:
        name = getattr(fn, "__name__", "")
        if name in _THREADED_CALLS:
            if isinstance(getattr(fn, "__self__", None), sqlite3.Cursor):
                return True  # a cursor's close only finalizes its statement
            if name in ("commit", "rollback") and not connection.in_transaction:
                return True  # no transaction: the call does nothing
            return name == "commit" and self.inline_commit
        if name in ("execute", "executemany") and args and isinstance(args[0], str):
            return not args[0].lstrip()[:8].upper().startswith(_WAITING_STATEMENTS)
        return True

    def _without_waiting(
        self,
        connection: sqlite3.Connection,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run `fn` (a BEGIN) with no busy wait; `_LockTaken` if another connection holds the
        lock it needs."""
        connection.execute("PRAGMA busy_timeout = 0")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
                raise _LockTaken from error
            raise
        finally:
            connection.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")


class _LockTaken(Exception):
    pass


def _is_begin(fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    return (
        getattr(fn, "__name__", "") == "execute"
        and bool(args)
        and isinstance(args[0], str)
        and args[0].lstrip()[:5].upper() == "BEGIN"
    )


async def connect(
    database: str, *, busy_timeout_ms: int, inline_commit: bool = False
) -> aiosqlite.Connection:
    """Open `database` (a file path) as an `InlineConnection` (for `async_creator`).

    `busy_timeout_ms`: the `busy_timeout` the connection is given (restored after an inline
    BEGIN); `inline_commit`: commits run inline (see the module's notes: only for a connection
    whose log is checkpointed elsewhere, `wal_autocheckpoint = 0`)."""
    # The sqlite3 connection is made on the worker thread and used on both threads, never at
    # the same time (each call is awaited before the next).
    connector = partial(
        sqlite3.connect, database, check_same_thread=False, timeout=busy_timeout_ms / 1000
    )
    connection = InlineConnection(
        connector, busy_timeout_ms=busy_timeout_ms, inline_commit=inline_commit
    )
    return await connection
