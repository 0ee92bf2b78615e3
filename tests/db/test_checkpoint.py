"""SQLite log checkpoints off the commit path (`db.checkpoint`), for the serving process."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from laporbot.db.checkpoint import WalCheckpointer
from laporbot.db.engine import create_engine_for_url, make_sessionmaker, sqlite_file


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
