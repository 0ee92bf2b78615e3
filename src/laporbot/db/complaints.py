"""Complaints (pengaduan): numbered `ADU-<year>-<nnnnnn>`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db.cases import local_year
from laporbot.db.models import Complaint
from laporbot.db.numbers import COMPLAINT_PREFIX, allocate_number
from laporbot.errors import NotFound


async def create_complaint(
    session: AsyncSession,
    *,
    agency_code: str,
    text: str,
    locale: str,
    received_at: datetime,
    time_zone: str | None = None,
    **fields: Any,
) -> Complaint:
    """File a complaint with a fresh number; `fields` are further `Complaint` columns
    (about, case_id, contact_id, anonymous, due_at, ...). `time_zone`: the agency's, when
    known (see `cases.local_year`)."""
    year = await local_year(session, agency_code, received_at, time_zone)
    complaint = Complaint(
        number=await allocate_number(session, COMPLAINT_PREFIX, year),
        agency_code=agency_code,
        text=text,
        locale=locale,
        received_at=received_at,
        **fields,
    )
    session.add(complaint)
    await session.flush()
    return complaint


async def get_complaint(session: AsyncSession, number: str) -> Complaint:
    """The complaint with `number`; raises `NotFound`."""
    complaint = await session.scalar(select(Complaint).where(Complaint.number == number))
    if complaint is None:
        raise NotFound("complaint", number)
    return complaint
