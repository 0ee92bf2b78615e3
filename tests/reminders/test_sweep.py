"""Sweep edge cases: rows that cannot be worded, erased citizens, offices without people."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.models import Contact, Officer, OfficerGroup, Reminder
from tests.reminders.support import make_world, wib

T0 = wib(2026, 3, 17, 10, 0)


async def test_a_row_that_cannot_be_worded_is_set_aside_not_retried_forever(
    db_sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case()
    async with world.sessionmaker() as session, session.begin():
        session.add(
            Reminder(
                case_id=case_id,
                kind="completion.custom",
                audience="group",
                due_at=T0 - timedelta(minutes=1),
                status="pending",
                late=False,
                payload={"message": "reminders.no_such_message"},
            )
        )
    result = await world.sweep.run_once()
    assert result.sent == 1  # the acknowledgment still goes
    assert result.cancelled == 1
    assert "cannot be sent" in caplog.text
    async with world.sessionmaker() as session:
        broken = await session.scalar(select(Reminder).where(Reminder.kind == "completion.custom"))
    assert broken is not None
    assert broken.status == "cancelled"
    assert "no_such_message" in broken.payload["error"]
    assert (await world.sweep.run_once()).sent == 0


async def test_an_erased_citizen_gets_nothing(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    await world.open_case()
    async with world.sessionmaker() as session, session.begin():
        contact = await session.get(Contact, world.contacts["tg-id"])
        assert contact is not None
        contact.erased_at = T0
    result = await world.sweep.run_once()
    assert result.sent == 0
    assert result.cancelled == 1
    assert await world.new_messages() == []
    async with world.sessionmaker() as session:
        ack = await session.scalar(select(Reminder).where(Reminder.kind == "citizen.ack"))
    assert ack is not None
    assert ack.payload["error"] == "no recipient"


async def test_without_a_supervisor_the_group_hears_and_without_anyone_nothing_is_lost(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    await world.open_case()
    async with world.sessionmaker() as session, session.begin():
        supervisor = await session.get(Officer, world.officers["sup-dinsos-riau"])
        assert supervisor is not None
        supervisor.active = False
    world.clock.set(T0 + timedelta(hours=1))
    chats = [m.chat for m in await world.tick()]
    assert chats == ["telegram:grp-dinsos-riau", "telegram:grp-dinsos-riau", "telegram:tg-id"]
    async with world.sessionmaker() as session, session.begin():
        for group in (await session.scalars(select(OfficerGroup))).all():
            await session.delete(group)
    world.clock.set(T0 + timedelta(days=4))
    result = await world.sweep.run_once()
    # The officer's half-time reminder has nobody to go to: recorded as cancelled, not stuck.
    assert result.sent == 0
    assert result.cancelled == 1
