"""SQLite WAL checkpoints off the commit path, for the serving process.

By default SQLite checkpoints inside a COMMIT: the commit that takes the write-ahead log past
1,000 pages also copies the log into the database file and syncs it. Measured on the inbound
benchmark that made one commit in a hundred take 12 ms or more (46 ms at worst) instead of
0.3 ms, and every webhook of that group commit waited for it.

`laporbot serve` therefore opens its engine with automatic checkpoints off (`create_engine(...,
background_checkpoints=True)`) and runs `WalCheckpointer`: every second, on a connection of its
own and in a thread, a PASSIVE checkpoint, which waits for no one and blocks no writer or reader.
The log stays about a second of writes long. Durability is unchanged: a commit is durable in
the log (synchronous=NORMAL in WAL mode), whether or not it has been copied yet. When the last
connection closes, SQLite checkpoints what is left, as always.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0


class WalCheckpointer:
    """Checkpoints one SQLite database's log every `interval` seconds until stopped."""

    def __init__(self, database: str, interval: float = DEFAULT_INTERVAL) -> None:
        self.database = database
        self.interval = interval
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one checkpoint at a time; close waits for it
        self._stopping = asyncio.Event()

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint, blocking (call in a thread): (busy, frames in the log,
        frames copied), as `PRAGMA wal_checkpoint` answers."""
        with self._lock:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    self.database, check_same_thread=False, isolation_level=None
                )
            busy, frames, copied = self._connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
            return int(busy), int(frames), int(copied)

    async def run(self) -> None:
        """Checkpoint every `interval` seconds until `stop()`; then close the connection."""
        try:
            while not self._stopping.is_set():
                try:
                    await asyncio.to_thread(self.checkpoint)
                except sqlite3.Error:
                    log.exception("sqlite: a WAL checkpoint failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.interval)
        finally:
            await asyncio.to_thread(self.close)

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
