"""Engine configuration and the `laporbot db` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncEngine

from laporbot.cli import main
from laporbot.db.engine import create_engine, create_engine_for_url
from laporbot.db.migrate import head
from laporbot.errors import ConfigError
from laporbot.settings import Settings


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(
    db_engine: AsyncEngine,
) -> None:
    async with db_engine.connect() as connection:
        pragmas = {
            name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,  # NORMAL
        "busy_timeout": 10_000,
    }


async def test_the_sqlite_folder_is_created(tmp_path: Path) -> None:
    engine = create_engine(Settings(data_dir=tmp_path / "var" / "deep"))
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
    finally:
        await engine.dispose()
    assert (tmp_path / "var" / "deep" / "laporbot.db").is_file()


def test_postgresql_urls_get_the_asyncpg_driver() -> None:
    engine = create_engine(Settings(database_url="postgresql://u:p@127.0.0.1:5432/laporbot"))
    assert engine.url.drivername == "postgresql+asyncpg"
    engine = create_engine_for_url("postgresql+psycopg://u:p@127.0.0.1/laporbot")
    assert engine.url.drivername == "postgresql+asyncpg"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sqlite+aiosqlite://", "in-memory"),
        ("sqlite+aiosqlite:///:memory:", "in-memory"),
        ("sqlite:///var/laporbot.db", "aiosqlite"),
        ("mysql+aiomysql://u:p@127.0.0.1/laporbot", "unsupported"),
    ],
)
def test_unusable_database_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        create_engine_for_url(url)


def test_db_commands_migrate_and_report_the_revision(tmp_path: Path) -> None:
    runner = CliRunner()
    obj = {"settings": Settings(data_dir=tmp_path)}
    before = runner.invoke(main, ["db", "current"], obj=obj)
    assert before.exit_code == 1
    assert "database: not migrated" in before.output
    upgraded = runner.invoke(main, ["db", "upgrade"], obj=obj)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database at {head()}" in upgraded.output
    again = runner.invoke(main, ["db", "upgrade"], obj=obj)  # a second run changes nothing
    assert again.exit_code == 0, again.output
    after = runner.invoke(main, ["db", "current"], obj=obj)
    assert after.exit_code == 0
    assert f"database: {head()}" in after.output


def _count_pings(engine: AsyncEngine) -> list[object]:
    pings: list[object] = []
    dialect = engine.sync_engine.dialect
    ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.postgres
async def test_postgresql_does_not_ping_a_connection_just_back_in_the_pool(
    postgres_url: str,
) -> None:
    engine = create_engine_for_url(postgres_url, ping_after_idle=3600)
    pings = _count_pings(engine)
    try:
        first = await _backend_pid(engine)
        assert [await _backend_pid(engine) for _ in range(5)] == [first] * 5
    finally:
        await engine.dispose()
    assert pings == []


@pytest.mark.postgres
async def test_postgresql_replaces_an_idle_connection_the_server_closed(
    postgres_url: str,
) -> None:
    engine = create_engine_for_url(postgres_url, ping_after_idle=0)
    killer = create_engine_for_url(postgres_url)
    pings = _count_pings(engine)
    try:
        first = await _backend_pid(engine)
        async with killer.connect() as connection:
            await connection.exec_driver_sql(f"SELECT pg_terminate_backend({first})")
        # Checked out again: the ping finds it closed, the pool connects anew, and the
        # statement runs as if nothing happened.
        second = await _backend_pid(engine)
    finally:
        await engine.dispose()
        await killer.dispose()
    assert second != first
    assert len(pings) == 1
