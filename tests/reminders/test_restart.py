"""Stopping and restarting: reminders missed while down are sent once, oldest first, flagged late;
those that no longer apply are cancelled; a crash mid-batch sends nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.complaints import create_complaint
from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from laporbot.db.models import Case, OutboxMessage, Reminder
from laporbot.reminders import sweep as sweep_module
from laporbot.reminders.queue import Queued
from laporbot.reminders.sweep import ReminderSweep
from tests.db.support import copy_sqlite_template
from tests.reminders.support import make_world, registry, translator, wib

T0 = wib(2026, 3, 17, 10, 0)


async def test_missed_reminders_are_sent_once_on_restart_oldest_first_and_flagged_late(
    migrated_sqlite_template: Path, tmp_path: Path
) -> None:
    url = copy_sqlite_template(migrated_sqlite_template, tmp_path / "db")
    engine = create_engine_for_url(url)
    world = await make_world(make_sessionmaker(engine), tmp_path, T0)
    riau = await world.open_case()
    bintan = await world.open_case(agency_code="dinsos-bintan", standard_code="bintan-rehab-anak")
    first = await world.tick()
    assert len(first) == 2  # both acknowledgments, on time
    # A case closed by a path that did not call the reminder service: the sweep itself must
    # notice its officer reminders no longer apply.
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, bintan)
        assert case is not None
        case.status = "closed"
    # The service stops.
    await engine.dispose()

    # Five days later it starts again, on the same database, with a new sweep.
    engine = create_engine_for_url(url)
    world.sessionmaker = make_sessionmaker(engine)
    world.sweep = ReminderSweep(
        world.sessionmaker, registry(), translator(), world.settings, world.clock, worker="w2"
    )
    world.clock.set(T0 + timedelta(days=5))
    result = await world.sweep.run_once()
    sent = await world.new_messages()
    # Riau (7 hari): triage at +1 h (group, supervisor), officer half at 21 March 04:59:59 WIB
    # (to the group: nobody claimed it). Bintan's triage is due too, but its case is closed.
    # Queued chat by chat, each chat's oldest first.
    assert [m.chat for m in sent] == [
        "telegram:grp-dinsos-riau",
        "telegram:grp-dinsos-riau",
        "telegram:sup-dinsos-riau",
    ]
    assert all("(Pengingat ini terlambat terkirim; seharusnya" in m.text for m in sent)
    assert "seharusnya Selasa, 17 Maret 2026 pukul 11.00 WIB" in sent[0].text
    assert "seharusnya Sabtu, 21 Maret 2026 pukul 04.59 WIB" in sent[1].text
    assert "seharusnya Selasa, 17 Maret 2026 pukul 11.00 WIB" in sent[2].text
    assert result.sent == 3
    assert result.late == 3
    assert result.cancelled == 2  # Bintan's triage reminders: its case is closed

    async with world.sessionmaker() as session:
        rows = (await session.scalars(select(Reminder).order_by(Reminder.id))).all()
    by_case = {(r.case_id, r.kind): r for r in rows}
    assert by_case[(riau, "triage.unclaimed_group")].late is True
    assert by_case[(riau, "triage.unclaimed_group")].status == "sent"
    assert by_case[(bintan, "triage.unclaimed_group")].status == "cancelled"
    assert by_case[(riau, "citizen.ack")].late is False

    # Sweeping again, or by a second worker, sends nothing more.
    assert (await world.sweep.run_once()).sent == 0
    assert await world.new_messages() == []
    await engine.dispose()


async def test_a_crash_mid_batch_rolls_back_and_the_next_sweep_sends_each_once(
    db_sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    for _ in range(3):
        await world.open_case()
    world.clock.set(T0 + timedelta(hours=2))
    real_enqueue_many = sweep_module.enqueue_many

    async def crash_after_queueing(
        session: AsyncSession,
        items: Sequence[Queued],
        now: datetime,
        *,
        refused: list[Queued] | None = None,
    ) -> int:
        await real_enqueue_many(session, items, now, refused=refused)
        raise RuntimeError("worker died after queueing, before committing")

    monkeypatch.setattr(sweep_module, "enqueue_many", crash_after_queueing)
    with pytest.raises(RuntimeError):
        await world.sweep.run_once()
    async with db_sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        touched = select(func.count()).select_from(Reminder).where(Reminder.status != "pending")
        assert await session.scalar(touched) == 0  # the claims rolled back too
    monkeypatch.setattr(sweep_module, "enqueue_many", real_enqueue_many)
    await world.sweep.run_once()
    sent = await world.new_messages()
    # 3 acknowledgments + 3 x (group + supervisor) triage, each exactly once.
    assert len(sent) == 9
    assert len({(m.chat, m.text) for m in sent}) == 9


async def test_a_daily_repeat_missed_for_days_is_sent_once_then_resumes(
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
        await world.service.on_complaint_filed(session, complaint, T0)
    await world.tick()
    # Down from just after filing until six days later: the handler's two reminders, the
    # supervisor's at the deadline and four daily overdue ones were missed.
    world.clock.set(T0 + timedelta(days=6, minutes=30))
    sent = await world.tick()
    assert [m.chat for m in sent] == [
        "telegram:grp-dinsos-riau",  # handler 24 h before (nobody handles it yet)
        "telegram:grp-dinsos-riau",  # handler 4 h before
        "telegram:sup-dinsos-riau",  # at the deadline
        "telegram:sup-dinsos-riau",  # overdue: once, not four times
    ]
    assert "terlambat 4 hari" in sent[-1].text
    # The chain goes on from the next future day at the usual hour.
    world.clock.set(T0 + timedelta(days=7) - timedelta(seconds=1))
    assert await world.tick() == []
    world.clock.set(T0 + timedelta(days=7))
    [overdue] = await world.tick()
    assert "terlambat 5 hari" in overdue.text
    assert "terlambat terkirim" not in overdue.text
