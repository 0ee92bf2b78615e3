"""The service API re-plans when a deadline moves: claim, referral, close, rating."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.models import Case, Deadline, Reminder
from tests.reminders.support import World, make_world, wib

T0 = wib(2026, 3, 17, 10, 0)


async def _rows(world: World, case_id: int) -> list[tuple[str, str]]:
    async with world.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(Reminder).where(Reminder.case_id == case_id).order_by(Reminder.id)
            )
        ).all()
    return [(r.kind, r.status) for r in rows]


async def test_an_emergency_escalates_after_15_minutes_in_english(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    await world.open_case(contact="tg-en", priority=0)
    [ack] = await world.tick()
    assert ack.text == (
        "Your report was received by Dinas Sosial as number LPR-2026-000001. Under the service "
        "standard it will be handled by Tuesday, 24 March 2026 at 23:59 WIB. We will tell you "
        "whenever something happens."
    )
    world.clock.set(T0 + timedelta(minutes=15))
    group, supervisor = await world.tick()
    assert group.chat == "telegram:grp-dinsos-riau"
    assert "Prioritas: DARURAT" in group.text
    assert supervisor.chat == "telegram:sup-dinsos-riau"


async def test_claiming_in_time_cancels_the_escalation(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case(contact="tg-en")
    await world.tick()
    world.clock.set(T0 + timedelta(minutes=20))
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.assigned_officer_id = "claimed", world.officers["off-dinsos-riau"]
        await world.service.on_case_claimed(session, case, world.clock.now())
        triage = await session.scalar(
            select(Deadline).where(Deadline.subject_id == case_id, Deadline.kind == "triage")
        )
        assert triage is not None
        assert triage.status == "met"
    [claimed] = await world.tick()
    assert (
        claimed.text == "Report LPR-2026-000001 is now being handled by an officer of Dinas Sosial."
    )
    world.clock.set(T0 + timedelta(hours=2))
    assert await world.tick() == []
    assert ("triage.unclaimed_group", "cancelled") in await _rows(world, case_id)


async def test_a_referral_restarts_the_deadlines_at_the_receiving_office(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case(contact="tg-en")
    await world.tick()
    referred_at = T0 + timedelta(minutes=30)
    world.clock.set(referred_at)
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        case.agency_code, case.standard_code = "dinsosp3a-lumajang", "lumajang-rekomendasi-anak"
        case.status = "referred"
        await world.service.on_referred(session, case, referred_at)
        # Received there on Tuesday 17 March 10:30: 1 hari kerja, after Idul Fitri.
        assert case.due_at == wib(2026, 3, 25, 16, 0)
        deadlines = (
            await session.scalars(select(Deadline).where(Deadline.subject_id == case_id))
        ).all()
    assert sorted((d.kind, d.status) for d in deadlines) == [
        ("completion", "cancelled"),
        ("completion", "open"),
        ("triage", "cancelled"),
        ("triage", "open"),
    ]
    [told] = await world.tick()
    assert (
        told.text
        == (
            "Report LPR-2026-000001 was referred to Dinas Sosial, Pemberdayaan Perempuan dan "
            "Perlindungan Anak. It will be handled by Wednesday, March 25, 2026 at 16.00 WIB."
        )
        or "was referred to Dinas Sosial, Pemberdayaan" in told.text
    )
    # Riau's escalation at 11:00 is gone; Lumajang's group hears at 11:30.
    world.clock.set(T0 + timedelta(hours=1))
    assert await world.tick() == []
    world.clock.set(referred_at + timedelta(hours=1))
    chats = [m.chat for m in await world.tick()]
    assert chats == ["telegram:grp-dinsosp3a-lumajang", "telegram:sup-dinsosp3a-lumajang"]


async def test_steps_replan_without_duplicates(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case(contact="tg-en")
    before = await _rows(world, case_id)
    for step in (1, 2, 3):
        async with world.sessionmaker() as session, session.begin():
            case = await session.get(Case, case_id)
            assert case is not None
            case.current_step = step
            await world.service.on_step(session, case, T0 + timedelta(hours=step))
    after = await _rows(world, case_id)
    assert after[: len(before)] == before  # nothing re-planned twice or cancelled
    assert after[len(before) :] == [("citizen.status", "pending")] * 3
