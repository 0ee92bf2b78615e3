"""The storage engineer's `store` fixture (SQLite, and PostgreSQL when configured) for the
intake tests."""

from tests.db.conftest import postgres_url, store

__all__ = ["postgres_url", "store"]
