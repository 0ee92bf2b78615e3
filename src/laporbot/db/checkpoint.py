"""SQLite WAL checkpoints off the commit path, for the serving process.

By default SQLite checkpoints inside a COMMIT: the commit that takes the write-ahead log past
1,000 pages also copies the log into the database file and syncs it. Measured on the inbound
benchmark that made one commit in a hundred take 12 ms or more (46 ms at worst) instead of
0.3 ms, and every webhook of that group commit waited for it.

`laporbot serve` therefore opens its engine with automatic checkpoints off (`create_engine(...,
background_checkpoints=True)`) and runs `WalCheckpointer`: every second, on a connection of its
own and in a thread, a PASSIVE checkpoint, which waits for no one and blocks no writer or reader.

A PASSIVE checkpoint alone never lets the log start over while writes keep coming. SQLite
writes from the start of the log again only when a write transaction begins with every frame
of the log copied, and under a steady load the next transaction has always begun before the
checkpoint (which syncs the database file) is done. Measured on the inbound benchmark at 500
updates/s: the log grew to 517 MB in 28 seconds beside an 11 MB database, every commit
appending to a longer file (a commit's median 0.52 ms of CPU). So once the log is longer than
`restart_after` frames (1,000 pages, 4 MB), the PASSIVE checkpoint is followed by a RESTART
one: it waits for the transaction under way to commit, copies the few frames written since,
syncs the log and the database file and lets the next transaction write from the start of the
log. New write transactions wait meanwhile (a few milliseconds on a local disk, in the driver's
thread, not on the event loop). The first commit after the log starts over syncs the log once
(and truncates it to `journal_size_limit`, 64 MiB, if it was longer), on the loop, about once a
second under load. The log stays about a second of writes long, and a commit overwrites pages
the system holds already: the median commit 0.14 ms of CPU in the same benchmark.

A RESTART holds the write lock while it waits for the readers of the log to finish (another
process's long read: a backup, an export). It waits `RESTART_WAIT` (0.1 s) at most, for the
write lock and for the readers together, and gives up. It is tried only when the PASSIVE
checkpoint copied the whole log (when a reader's older snapshot kept part of it, it would wait
for that reader), and after one gave up the next `RESTART_BACKOFF` checkpoints are PASSIVE
only: during a long read the service's writes are held up by 0.1 s once in ten seconds, not
every second.

Durability is unchanged: a commit is durable in the log (synchronous=NORMAL in WAL mode),
whether or not it has been copied yet. When the last connection closes, SQLite checkpoints
what is left, as always.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0
DEFAULT_RESTART_AFTER = 1000  # frames in the log (pages of 4 KiB)
RESTART_WAIT = 0.1  # seconds a RESTART checkpoint waits for the writer and the readers
RESTART_BACKOFF = 10  # checkpoints without a RESTART after one gave up


class WalCheckpointer:
    """Checkpoints one SQLite database's log every `interval` seconds until stopped."""

    def __init__(
        self,
        database: str,
        interval: float = DEFAULT_INTERVAL,
        restart_after: int = DEFAULT_RESTART_AFTER,
    ) -> None:
        self.database = database
        self.interval = interval
        self.restart_after = restart_after
        self._passive_only = 0  # checkpoints left without a RESTART (one gave up)
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one checkpoint at a time; close waits for it
        self._stopping = asyncio.Event()

    def checkpoint(self) -> tuple[int, int, int]:
        """One checkpoint, blocking (call in a thread): PASSIVE, then RESTART when the log is
        `restart_after` frames long or more and was copied whole (see the module docstring).
        Answers (busy, frames in the log, frames copied) of the last, as `PRAGMA
        wal_checkpoint` does."""
        with self._lock:
            answer = self._passive()
            _, frames, copied = answer
            if self._passive_only:
                self._passive_only -= 1
            elif frames >= self.restart_after and copied == frames:
                answer = self._restart()
                if answer[0]:
                    log.debug("sqlite: the log (%d frames) could not start over yet", frames)
                    self._passive_only = RESTART_BACKOFF
            return answer

    def _passive(self) -> tuple[int, int, int]:
        return self._pragma("PRAGMA wal_checkpoint(PASSIVE)")

    def _restart(self) -> tuple[int, int, int]:
        return self._pragma("PRAGMA wal_checkpoint(RESTART)")

    def _pragma(self, statement: str) -> tuple[int, int, int]:
        if self._connection is None:
            self._connection = sqlite3.connect(
                self.database, timeout=RESTART_WAIT, check_same_thread=False, isolation_level=None
            )
        busy, frames, copied = self._connection.execute(statement).fetchone()
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
