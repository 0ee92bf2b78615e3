"""A case or complaint the chat already confirmed gets no second acknowledgment from the plan,
not at opening and not from a later re-plan (closing in the same second included); one opened
any other way still gets it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.complaints import create_complaint
from laporbot.db.models import Case
from tests.reminders.support import make_world, wib

T0 = wib(2026, 3, 17, 10, 0)


async def test_a_case_confirmed_in_the_chat_is_not_acknowledged_again(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case(acknowledged=True)
    assert await world.tick() == []
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.closed_at = "closed", T0
        await world.service.on_closed(session, case, T0)  # a re-plan at the same moment
    closed, survey = await world.tick()  # the closing news and the survey, no acknowledgment
    assert closed.text.startswith("Laporan LPR-2026-000001 telah selesai ditangani")
    assert survey.text.startswith("Bagaimana penilaian Anda")


async def test_a_case_opened_otherwise_is_acknowledged(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    await world.open_case(acknowledged=False)
    [ack] = await world.tick()
    assert ack.text.startswith("Laporan Anda telah diterima oleh")


async def test_a_complaint_confirmed_in_the_chat_is_not_acknowledged_again(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    async with world.sessionmaker() as session, session.begin():
        complaint = await create_complaint(
            session,
            agency_code="dinsos-riau",
            text="Belum ada kabar",
            locale="id",
            received_at=T0,
            contact_id=world.contacts["tg-id"],
        )
        await world.service.on_complaint_filed(session, complaint, T0, acknowledged=True)
    assert await world.tick() == []
