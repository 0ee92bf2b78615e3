"""Human-readable numbers (`LPR-2026-000123`) and per-chat sequences, unique under concurrency.

Each series is one `number_counters` row, bumped by a single INSERT ... ON CONFLICT DO UPDATE
... RETURNING. The row stays locked (PostgreSQL row lock, SQLite write lock) until the caller's
transaction ends, so two transactions never get the same value, a rolled-back one gives its
value back, and values of one series are handed out in commit order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db import direct
from laporbot.db._sql import dialect_insert
from laporbot.db.models import NumberCounter

CASE_PREFIX = "LPR"
COMPLAINT_PREFIX = "ADU"


def _bump_statement(dialect: str) -> Any:
    insert = dialect_insert(dialect, NumberCounter.__table__).values(
        name=bindparam("name"), value=bindparam("step")
    )
    counters = NumberCounter.__table__.c
    return insert.on_conflict_do_update(
        index_elements=[counters.name], set_={"value": counters.value + insert.excluded.value}
    ).returning(counters.value)


async def next_value(session: AsyncSession, series: str, step: int = 1) -> int:
    """The next value of `series` (1 for a new series); with `step`, the last of the next
    `step` values (the series moves on by `step`)."""
    params = {"name": series, "step": step}
    (value,) = await direct.scalars(session, "numbers.bump", _bump_statement, params)
    return int(value)


async def next_values(session: AsyncSession, steps: Mapping[str, int]) -> dict[str, int]:
    """`next_value` for many series with ONE statement: for each series, the last of its next
    `steps[series]` values. Series are bumped in sorted order, so two transactions bumping
    overlapping sets take their row locks in the same order (no deadlock)."""
    if not steps:
        return {}
    rows = [{"name": name, "step": steps[name]} for name in sorted(steps)]
    found = await direct.rows(session, "numbers.bump_many", _bump_many_statement, rows)
    return {name: int(value) for name, value in found}


def _bump_many_statement(dialect: str) -> Any:
    # Executed with a list of parameter sets: SQLAlchemy's "insertmanyvalues" sends them as
    # one multi-row INSERT ... ON CONFLICT ... RETURNING (rows come back in any order: named).
    insert = dialect_insert(dialect, NumberCounter.__table__).values(
        name=bindparam("name"), value=bindparam("step")
    )
    counters = NumberCounter.__table__.c
    return insert.on_conflict_do_update(
        index_elements=[counters.name], set_={"value": counters.value + insert.excluded.value}
    ).returning(counters.name, counters.value)


async def allocate_number(session: AsyncSession, prefix: str, year: int) -> str:
    """The next number of `prefix` in `year`, e.g. `LPR-2026-000123` (numbering restarts yearly)."""
    value = await next_value(session, f"{prefix}-{year}")
    return f"{prefix}-{year}-{value:06d}"
