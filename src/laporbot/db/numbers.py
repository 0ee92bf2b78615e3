"""Human-readable numbers (`LPR-2026-000123`) and per-chat sequences, unique under concurrency.

Each series is one `number_counters` row, bumped by a single INSERT ... ON CONFLICT DO UPDATE
... RETURNING. The row stays locked (PostgreSQL row lock, SQLite write lock) until the caller's
transaction ends, so two transactions never get the same value, a rolled-back one gives its
value back, and values of one series are handed out in commit order.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db._sql import upsert_insert
from laporbot.db.models import NumberCounter

CASE_PREFIX = "LPR"
COMPLAINT_PREFIX = "ADU"


async def next_value(session: AsyncSession, series: str) -> int:
    """The next value of `series` (1 for a new series)."""
    insert = upsert_insert(session, NumberCounter).values(name=series, value=1)
    stmt = insert.on_conflict_do_update(
        index_elements=[NumberCounter.name], set_={"value": NumberCounter.value + 1}
    ).returning(NumberCounter.value)
    value = (await session.execute(stmt)).scalar_one()
    return int(value)


async def allocate_number(session: AsyncSession, prefix: str, year: int) -> str:
    """The next number of `prefix` in `year`, e.g. `LPR-2026-000123` (numbering restarts yearly)."""
    value = await next_value(session, f"{prefix}-{year}")
    return f"{prefix}-{year}-{value:06d}"
