"""SQLite log checkpoints off the commit path (`db.checkpoint`), for the serving process."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from laporbot.db.checkpoint import RESTART_BACKOFF, WalCheckpointer
from laporbot.db.engine import (
    JOURNAL_SIZE_LIMIT,
    create_engine_for_url,
    make_sessionmaker,
    sqlite_file,
)


async def _autocheckpoint(url: str, *, background: bool) -> int:
    engine = create_engine_for_url(url, background_checkpoints=background)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())
    finally:
        await engine.dispose()


async def test_only_an_engine_with_background_checkpoints_stops_checkpointing_in_commits(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    assert await _autocheckpoint(url, background=False) == 1000  # SQLite's default
    assert await _autocheckpoint(url, background=True) == 0


class _Once(WalCheckpointer):
    """Stops after its first checkpoint (no waiting in the test)."""

    answers: list[tuple[int, int, int]]

    def checkpoint(self) -> tuple[int, int, int]:
        self.answers = [*getattr(self, "answers", []), super().checkpoint()]
        self.stop()
        return self.answers[-1]


async def test_the_checkpointer_copies_the_log_into_the_database_and_closes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{path}", background_checkpoints=True)
    try:
        assert sqlite_file(engine) == str(path)
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            await session.execute(text("CREATE TABLE t (x TEXT)"))
        for _ in range(30):  # more than fits in a page or two of log
            async with sessions() as session, session.begin():
                await session.execute(text("INSERT INTO t VALUES (:x)"), {"x": "y" * 500})
        checkpointer = _Once(str(path))
        await checkpointer.run()  # one checkpoint, then stopped and closed
        ((busy, frames, copied),) = checkpointer.answers
        assert busy == 0
        assert frames > 10  # nothing was checkpointed inside the commits
        assert copied == frames
        assert checkpointer._connection is None
        # Nothing lost: the rows are in the database file itself now.
        async with sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 30
    finally:
        await engine.dispose()


@contextlib.contextmanager
def _writer_and_reader(path: Path) -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection]]:
    """Two connections to a new database in WAL mode with a table `t`, no automatic
    checkpoints."""
    writer = sqlite3.connect(path, isolation_level=None)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("CREATE TABLE t (x TEXT)")
        yield writer, reader
    finally:
        reader.close()
        writer.close()


class _WhileWriting(WalCheckpointer):
    """A checkpointer whose copy runs while a write transaction is under way: the writer
    commits right after the PASSIVE checkpoint, as under a steady load."""

    def __init__(self, database: str, writer: sqlite3.Connection, restart_after: int) -> None:
        super().__init__(database, restart_after=restart_after)
        self.writer = writer

    def _passive(self) -> tuple[int, int, int]:
        answer = super()._passive()
        self.writer.execute("COMMIT")
        return answer


def _log_lengths(path: Path, restart_after: int, rounds: int) -> list[int]:
    """The log's length in frames at each checkpoint, with a write transaction under way
    through every one of them."""
    with _writer_and_reader(path) as (writer, _):
        checkpointer = _WhileWriting(str(path), writer, restart_after)
        lengths = []
        for _ in range(rounds):
            writer.execute("BEGIN IMMEDIATE")
            writer.executemany("INSERT INTO t VALUES (?)", [("y" * 2000,)] * 4)
            busy, frames, _ = checkpointer.checkpoint()  # the writer commits inside
            assert busy == 0
            lengths.append(frames)
        checkpointer.close()
        assert writer.execute("SELECT count(*) FROM t").fetchone() == (4 * rounds,)
        return lengths


def test_a_log_written_through_every_checkpoint_starts_over_once_long(tmp_path: Path) -> None:
    # PASSIVE alone (the threshold never reached): every transaction began before the copy
    # was done, so SQLite never wrote from the start of the log again and it kept growing.
    passive = _log_lengths(tmp_path / "passive.sqlite", restart_after=10**9, rounds=40)
    assert passive == sorted(passive)
    assert passive[-1] > 100
    # With the RESTART past 20 frames the log starts over and stays short.
    restarted = _log_lengths(tmp_path / "restart.sqlite", restart_after=20, rounds=40)
    assert max(restarted) < 20 + 2 * max(b - a for a, b in itertools.pairwise(passive))
    assert restarted[-1] < passive[-1] // 4


async def test_an_engine_with_background_checkpoints_limits_the_logs_size(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_engine_for_url(url, background_checkpoints=True)
    try:
        async with engine.connect() as connection:
            limit = (await connection.execute(text("PRAGMA journal_size_limit"))).scalar_one()
        assert limit == JOURNAL_SIZE_LIMIT
    finally:
        await engine.dispose()


def test_a_restart_gives_up_on_a_long_reader_and_the_writes_go_on(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with _writer_and_reader(path) as (writer, reader):
        writer.execute("INSERT INTO t VALUES ('first')")
        writer.executemany("INSERT INTO t VALUES (?)", [("y" * 2000,)] * 40)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (41,)  # a snapshot held
        checkpointer = WalCheckpointer(str(path), restart_after=10)
        busy, frames, _ = checkpointer.checkpoint()
        assert busy == 1  # the reader still needs the log
        assert frames > 10
        assert checkpointer._connection is not None
        assert checkpointer._connection.execute("PRAGMA busy_timeout").fetchone() == (100,)
        writer.execute("INSERT INTO t VALUES ('after')")  # the write lock was given back
        reader.execute("COMMIT")
        checkpointer.close()
        assert writer.execute("SELECT count(*) FROM t").fetchone() == (42,)


class _Counting(WalCheckpointer):
    """Counts the RESTART checkpoints it tries."""

    restarts = 0

    def _restart(self) -> tuple[int, int, int]:
        self.restarts += 1
        return super()._restart()


def test_after_a_restart_gave_up_the_next_checkpoints_are_passive_only(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with _writer_and_reader(path) as (writer, reader):
        writer.executemany("INSERT INTO t VALUES (?)", [("y" * 2000,)] * 40)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchone()  # reads the whole log: copied whole
        checkpointer = _Counting(str(path), restart_after=10)
        assert checkpointer.checkpoint()[0] == 1  # the reader held the RESTART up
        assert checkpointer.restarts == 1
        for _ in range(RESTART_BACKOFF):
            assert checkpointer.checkpoint()[0] == 0  # PASSIVE only: not held up again
        assert checkpointer.restarts == 1
        reader.execute("COMMIT")
        assert checkpointer.checkpoint()[0] == 0  # tried again once backed off, and done
        assert checkpointer.restarts == 2
        writer.execute("INSERT INTO t VALUES ('after')")
        assert checkpointer.checkpoint()[1] == 1  # the log started over: one frame
        checkpointer.close()


def test_no_restart_is_tried_while_an_older_snapshot_keeps_part_of_the_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    with _writer_and_reader(path) as (writer, reader):
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchone()  # a snapshot before the rows
        writer.executemany("INSERT INTO t VALUES (?)", [("y" * 2000,)] * 40)
        checkpointer = _Counting(str(path), restart_after=10)
        busy, frames, copied = checkpointer.checkpoint()
        assert (busy, checkpointer.restarts) == (0, 0)
        assert copied < frames  # the reader's snapshot keeps the rest in the log
        reader.execute("COMMIT")
        checkpointer.checkpoint()
        assert checkpointer.restarts == 1
        checkpointer.close()
