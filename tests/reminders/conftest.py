"""PostgreSQL for the reminder tests that need several workers on one server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from tests.db.support import create_postgres_database, drop_postgres_database, truncate_all

POSTGRES_URL_VARIABLE = "LAPORBOT_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def reminders_postgres_url() -> Iterator[str]:
    """A migrated database of this module's own on the test server, dropped afterwards."""
    server = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    url = create_postgres_database(server)
    yield url
    drop_postgres_database(server, url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def either_db(
    request: pytest.FixtureRequest, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """SQLite, then PostgreSQL (emptied first), for what each does its own way."""
    if request.param == "sqlite":
        yield db_sessionmaker
        return
    engine = create_engine_for_url(request.getfixturevalue("reminders_postgres_url"))
    try:
        await truncate_all(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
