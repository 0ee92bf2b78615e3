"""The `store` fixture: every storage contract test runs on SQLite and, when
LAPORBOT_TEST_POSTGRES_URL is set, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from tests.db.support import (
    copy_sqlite_template,
    create_postgres_database,
    drop_postgres_database,
    truncate_all,
)

POSTGRES_URL_VARIABLE = "LAPORBOT_TEST_POSTGRES_URL"


@dataclass
class Store:
    """One migrated, empty database for one test."""

    dialect: str  # "sqlite" or "postgresql"
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated database of its own on the test server, dropped after the run."""
    server = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    url = create_postgres_database(server)
    yield url
    drop_postgres_database(server, url)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
async def store(
    request: pytest.FixtureRequest, migrated_sqlite_template: Path, tmp_path: Path
) -> AsyncIterator[Store]:
    """A migrated, empty database on each backend in turn."""
    if request.param == "sqlite":
        url = copy_sqlite_template(migrated_sqlite_template, tmp_path / "store")
        engine = create_engine_for_url(url)
    else:
        url = request.getfixturevalue("postgres_url")
        engine = create_engine_for_url(url)
        await truncate_all(engine)
    try:
        yield Store(request.param, url, engine, make_sessionmaker(engine))
    finally:
        await engine.dispose()
