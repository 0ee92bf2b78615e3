"""Agencies: synced from the standards files at start, by code."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db._sql import dialect_insert, prebuilt
from laporbot.db.models import Agency
from laporbot.errors import NotFound


async def sync_agencies(session: AsyncSession, agencies: Iterable[tuple[str, str, str]]) -> None:
    """Insert or update agencies given as (code, name, time_zone). Agencies no longer in the
    files are kept: cases still refer to them.

    One statement for all of them; a row that already says the same is left as it is (on
    PostgreSQL an update writes a new row version even when nothing changes)."""
    # A code given twice: the last one counts (one statement may not update a row twice).
    latest = {code: (name, time_zone) for code, name, time_zone in agencies}
    rows = [
        {"code": code, "name": name, "time_zone": time_zone}
        for code, (name, time_zone) in sorted(latest.items())
    ]
    if rows:
        await session.execute(prebuilt(session, "agencies.sync", _sync_statement), rows)


def _sync_statement(dialect: str) -> Any:
    table = Agency.__table__
    insert = dialect_insert(dialect, table).values(
        code=bindparam("code"), name=bindparam("name"), time_zone=bindparam("time_zone")
    )
    return insert.on_conflict_do_update(
        index_elements=[table.c.code],
        set_={"name": insert.excluded.name, "time_zone": insert.excluded.time_zone},
        where=or_(
            table.c.name != insert.excluded.name,
            table.c.time_zone != insert.excluded.time_zone,
        ),
    )


async def get_agency(session: AsyncSession, code: str) -> Agency:
    """The agency with `code`; raises `NotFound`."""
    stmt = prebuilt(session, "agencies.get", _get_statement)
    agency = await session.scalar(stmt, {"code": code})
    if agency is None:
        raise NotFound("agency", code)
    return agency


def _get_statement(_dialect: str) -> Select[Agency]:
    return select(Agency).where(Agency.code == bindparam("code"))
