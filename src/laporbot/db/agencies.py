"""Agencies: synced from the standards files at start, by code."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db._sql import upsert_insert
from laporbot.db.models import Agency
from laporbot.errors import NotFound


async def sync_agencies(session: AsyncSession, agencies: Iterable[tuple[str, str, str]]) -> None:
    """Insert or update agencies given as (code, name, time_zone). Agencies no longer in the
    files are kept: cases still refer to them."""
    for code, name, time_zone in agencies:
        stmt = upsert_insert(session, Agency).values(code=code, name=name, time_zone=time_zone)
        stmt = stmt.on_conflict_do_update(
            index_elements=[Agency.code], set_={"name": name, "time_zone": time_zone}
        )
        await session.execute(stmt)


async def get_agency(session: AsyncSession, code: str) -> Agency:
    """The agency with `code`; raises `NotFound`."""
    agency = await session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        raise NotFound("agency", code)
    return agency
