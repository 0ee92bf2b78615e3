"""Engine configuration and the `laporbot db` commands."""

from __future__ import annotations

from pathlib import Path

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
