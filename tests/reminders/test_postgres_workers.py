"""Two workers sweeping one PostgreSQL database: 10,000 due reminders, each sent exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from laporbot.db.cases import create_case
from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from laporbot.db.models import OutboxMessage, Reminder
from laporbot.reminders.sweep import ReminderSweep
from tests.reminders.support import make_world, registry, translator, wib

pytestmark = pytest.mark.postgres

T0 = wib(2026, 3, 17, 10, 0)
REMINDERS = 10_000
CASES = 50


async def test_two_workers_send_each_of_10000_reminders_exactly_once(
    reminders_postgres_url: str, tmp_path: Path
) -> None:
    engines = [create_engine_for_url(reminders_postgres_url) for _ in range(3)]
    try:
        world = await make_world(make_sessionmaker(engines[0]), tmp_path, T0)
        agencies = [(a.code, a.standards[0].code) for a in registry().agencies]
        async with world.sessionmaker() as session, session.begin():
            case_ids = []
            for index in range(CASES):
                agency, standard = agencies[index % len(agencies)]
                case = await create_case(
                    session,
                    agency_code=agency,
                    standard_code=standard,
                    category="anak_terlantar",
                    locale="id",
                    received_at=T0,
                    due_at=T0 + timedelta(days=7),
                )
                case_ids.append(case.id)
            # Due over the past day, to the office groups: rows straight in, as a backlog.
            await session.execute(
                insert(Reminder),
                [
                    {
                        "case_id": case_ids[i % CASES],
                        "kind": "triage.unclaimed_group",
                        "audience": "group",
                        "due_at": T0 - timedelta(seconds=i),
                        "status": "pending",
                        "late": False,
                        "payload": {"message": "reminders.triage.unclaimed_group"},
                    }
                    for i in range(REMINDERS)
                ],
            )
        sweeps = [
            ReminderSweep(
                make_sessionmaker(engine),
                registry(),
                translator(),
                world.settings,
                world.clock,
                worker=f"worker-{n}",
                batch_size=250,
            )
            for n, engine in enumerate(engines[1:], start=1)
        ]
        first, second = await asyncio.gather(*(sweep.run_once() for sweep in sweeps))
        assert first.sent + second.sent == REMINDERS
        assert first.sent > 0
        assert second.sent > 0  # both really worked
        assert not set(first.sent_ids) & set(second.sent_ids)
        async with world.sessionmaker() as session:
            outbox = await session.scalar(select(func.count()).select_from(OutboxMessage))
            keys = await session.scalar(select(func.count(func.distinct(OutboxMessage.dedup_key))))
            unsent = await session.scalar(
                select(func.count()).select_from(Reminder).where(Reminder.status != "sent")
            )
        assert outbox == REMINDERS
        assert keys == REMINDERS
        assert unsent == 0
    finally:
        for engine in engines:
            await engine.dispose()
