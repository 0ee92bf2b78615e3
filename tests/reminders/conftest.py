"""PostgreSQL for the reminder tests that need several workers on one server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.db.support import create_postgres_database, drop_postgres_database

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
