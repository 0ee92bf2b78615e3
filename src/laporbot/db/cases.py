"""Cases and their append-only event log.

There is no function to change or remove an event, and the database refuses UPDATE and DELETE
on `case_events` with a trigger (both dialects).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db.agencies import get_agency
from laporbot.db.models import Case, CaseEvent
from laporbot.db.numbers import CASE_PREFIX, allocate_number
from laporbot.errors import NotFound


async def local_year(session: AsyncSession, agency_code: str, at: datetime) -> int:
    """The calendar year of `at` in the agency's time zone (numbers restart on 1 January
    there, not in UTC)."""
    agency = await get_agency(session, agency_code)
    return at.astimezone(ZoneInfo(agency.time_zone)).year


async def create_case(
    session: AsyncSession,
    *,
    agency_code: str,
    standard_code: str,
    category: str,
    locale: str,
    received_at: datetime,
    **fields: Any,
) -> Case:
    """Open a case with a fresh number (`LPR-<year>-<nnnnnn>`); `fields` are further `Case`
    columns (priority, area, subject, reporter_contact_id, due_at, ...)."""
    year = await local_year(session, agency_code, received_at)
    case = Case(
        number=await allocate_number(session, CASE_PREFIX, year),
        agency_code=agency_code,
        standard_code=standard_code,
        category=category,
        locale=locale,
        received_at=received_at,
        **fields,
    )
    session.add(case)
    await session.flush()
    return case


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
) -> CaseEvent:
    """Add one line to the case's audit log. Keep personal data out of `data` (refer to the
    case's own columns instead): events are never rewritten, not even to erase a person."""
    if actor_kind not in ("citizen", "officer", "system"):
        raise ValueError(f"unknown actor kind {actor_kind!r}")
    event = CaseEvent(
        case_id=case_id,
        at=at,
        actor_kind=actor_kind,
        actor_id=actor_id,
        kind=kind,
        data=dict(data or {}),
    )
    session.add(event)
    await session.flush()
    return event


async def events_of(session: AsyncSession, case_id: int) -> list[CaseEvent]:
    """The case's events, oldest first."""
    result = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    )
    return list(result.all())
