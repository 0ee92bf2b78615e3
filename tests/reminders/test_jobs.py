"""The scheduler only ticks: one APScheduler job that runs the sweep and the digest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.reminders.jobs import JOB_ID, ReminderJobs, TickResult, schedule
from tests.reminders.support import make_world, registry, translator, wib

T0 = wib(2026, 3, 17, 10, 0)


class _Signalling(ReminderJobs):
    def __init__(self, jobs: ReminderJobs) -> None:
        super().__init__(jobs.sweep, jobs.digest)
        self.ticked = asyncio.Event()
        self.results: list[TickResult] = []

    async def tick(self) -> TickResult:
        result = await super().tick()
        self.results.append(result)
        self.ticked.set()
        return result


async def test_one_job_ticks_the_sweep_at_start(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0, sweep_interval_seconds=3600)
    await world.open_case()
    jobs = _Signalling(
        ReminderJobs.build(
            world.sessionmaker, registry(), translator(), world.settings, world.clock, worker="w"
        )
    )
    scheduler = AsyncIOScheduler(timezone="UTC")
    schedule(scheduler, jobs, world.settings, world.clock)
    assert [job.id for job in scheduler.get_jobs()] == [JOB_ID]
    scheduler.start()
    try:
        await asyncio.wait_for(jobs.ticked.wait(), timeout=10)
    finally:
        scheduler.shutdown(wait=False)
    # At the first tick: the acknowledgment, and (10:00 is past 07:30) each office's digest.
    assert jobs.results[0].sweep.sent == 1
    assert jobs.results[0].digests == 5
    chats = [m.chat for m in await world.new_messages()]
    assert chats[0] == "telegram:tg-id"
    assert len(chats) == 6


async def test_a_failing_tick_is_logged_not_raised(
    db_sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    jobs = ReminderJobs.build(
        world.sessionmaker, registry(), translator(), world.settings, world.clock, worker="w"
    )

    async def broken() -> object:
        raise RuntimeError("database gone")

    jobs.sweep.run_once = broken  # type: ignore[method-assign,assignment]
    await jobs.safe_tick()
    assert "reminder tick failed" in caplog.text
