"""`UTCDateTime`: its one-step SQLite binding writes exactly what SQLAlchemy's composition
(`process_bind_param`, then SQLite's DATETIME formatting) writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects.sqlite import DATETIME
from sqlalchemy.dialects.sqlite import aiosqlite as sqlite_dialect

from laporbot.db.types import UTCDateTime

DIALECT = sqlite_dialect.dialect()
WIB = timezone(timedelta(hours=7))

VALUES = [
    datetime(2026, 3, 25, 9, 0, tzinfo=UTC),  # no microseconds: still written
    datetime(2026, 3, 25, 2, 0, 0, 1, tzinfo=WIB),  # the day before in UTC
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),  # a three-digit year, padded
]


@pytest.mark.parametrize("value", VALUES)
def test_sqlite_text_is_sqlalchemys(value: datetime) -> None:
    ours = UTCDateTime().bind_processor(DIALECT)
    theirs = DATETIME().bind_processor(DIALECT)
    assert ours is not None
    assert theirs is not None
    expected = theirs(UTCDateTime().process_bind_param(value, DIALECT))
    assert ours(value) == expected
    assert UTCDateTime().process_result_value(datetime.fromisoformat(ours(value)), DIALECT) == value


def test_sqlite_binding_refuses_naive_datetimes_and_passes_none() -> None:
    process = UTCDateTime().bind_processor(DIALECT)
    assert process is not None
    assert process(None) is None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 3, 25, 9, 0))
