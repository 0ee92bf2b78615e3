"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC and always read back aware in UTC.

    SQLite has no time zone type: SQLAlchemy would hand back naive datetimes there, and a naive
    datetime compared with an aware one raises at the worst moment. Naive input is refused, so
    a forgotten time zone fails loudly on write instead of being guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            # Every statement binds a few of these: one step, not `process_bind_param` and then
            # SQLite's DATETIME formatting (a dict and a %-format per value), for the same text.
            return _sqlite_text
        return super().bind_processor(dialect)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        if dialect.name == "sqlite":
            # Stored as text without offset; ISO text in UTC sorts and compares correctly.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: laporbot stores aware datetimes only")
    return value.astimezone(UTC)


def _sqlite_text(value: datetime | None) -> str | None:
    """An aware datetime as SQLite stores it: UTC text without offset, always with
    microseconds (`2026-03-25 02:00:00.000000`), exactly what SQLAlchemy's SQLite DATETIME
    writes, so stored values keep comparing and sorting as text."""
    if value is None:
        return None
    return _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")
