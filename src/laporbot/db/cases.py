"""Cases and their append-only event log.

There is no function to change or remove an event, and the database refuses UPDATE and DELETE
on `case_events` with a trigger (both dialects).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db import direct
from laporbot.db.agencies import get_agency
from laporbot.db.models import Case, CaseEvent
from laporbot.db.numbers import CASE_PREFIX, allocate_number
from laporbot.errors import NotFound


async def local_year(
    session: AsyncSession, agency_code: str, at: datetime, time_zone: str | None = None
) -> int:
    """The calendar year of `at` in the agency's time zone (numbers restart on 1 January
    there, not in UTC). `time_zone`: the agency's, when the caller knows it (the standards
    files it is synced from say it), so the agency row is not read."""
    if time_zone is None:
        time_zone = (await get_agency(session, agency_code)).time_zone
    return at.astimezone(ZoneInfo(time_zone)).year


async def create_case(
    session: AsyncSession,
    *,
    agency_code: str,
    standard_code: str,
    category: str,
    locale: str,
    received_at: datetime,
    time_zone: str | None = None,
    **fields: Any,
) -> Case:
    """Open a case with a fresh number (`LPR-<year>-<nnnnnn>`); `fields` are further `Case`
    columns (priority, area, subject, reporter_contact_id, due_at, ...). `time_zone`: the
    agency's, when known (see `local_year`)."""
    year = await local_year(session, agency_code, received_at, time_zone)
    case = Case(
        number=await allocate_number(session, CASE_PREFIX, year),
        agency_code=agency_code,
        standard_code=standard_code,
        category=category,
        locale=locale,
        received_at=received_at,
        # Every column given (NULL for those not named, as the database would store them), so
        # the new case is whole in memory: what reads it in this transaction (the triage
        # post's privacy check) need not ask the database again.
        **(dict.fromkeys(_NULL_UNLESS_GIVEN) | fields),
    )
    session.add(case)
    await session.flush()
    return case


# The columns of `cases` that are NULL unless given (no default of their own).
_NULL_UNLESS_GIVEN = tuple(
    column.key
    for column in Case.__table__.columns
    if column.nullable
    and column.default is None
    and column.server_default is None
    and not column.primary_key
)


async def get_case(session: AsyncSession, number: str) -> Case:
    """The case with `number`; raises `NotFound`."""
    case = await session.scalar(select(Case).where(Case.number == number))
    if case is None:
        raise NotFound("case", number)
    return case


async def append_event(
    session: AsyncSession,
    case_id: int,
    *,
    at: datetime,
    actor_kind: str,
    kind: str,
    actor_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add one line to the case's audit log. Keep personal data out of `data` (refer to the
    case's own columns instead): events are never rewritten, not even to erase a person.

    A Core INSERT, not an ORM object: an event is written on every case change (two when a
    case opens) and nothing reads it back in the same transaction except by query."""
    if actor_kind not in ("citizen", "officer", "system"):
        raise ValueError(f"unknown actor kind {actor_kind!r}")
    row = {
        "case_id": case_id,
        "at": at,
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "kind": kind,
        "data": dict(data or {}),
    }
    await direct.execute(session, "cases.append_event", _event_insert, row)


def _event_insert(_dialect: str) -> Insert:
    return direct.insert_all(cast(Table, CaseEvent.__table__))


async def events_of(session: AsyncSession, case_id: int) -> list[CaseEvent]:
    """The case's events, oldest first."""
    result = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    )
    return list(result.all())
