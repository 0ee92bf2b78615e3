"""What the scheduler ticks: the reminder sweep, then the daily digest.

APScheduler (3.11, in process) only wakes this every `settings.sweep_interval_seconds`; there is
never one job per case or per reminder, so nothing is lost when the process stops: the database
holds what is due, and the first tick after a start (it runs at once) sends what was missed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.clock import Clock
from laporbot.i18n import Translator
from laporbot.reminders.digest import DailyDigest
from laporbot.reminders.sweep import ReminderSweep, SweepResult
from laporbot.settings import Settings
from laporbot.standards.registry import StandardsRegistry

log = logging.getLogger(__name__)

JOB_ID = "laporbot.reminders"


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one tick did."""

    sweep: SweepResult
    digests: int


class ReminderJobs:
    """The sweep and the digest behind one `tick`."""

    def __init__(self, sweep: ReminderSweep, digest: DailyDigest) -> None:
        self.sweep = sweep
        self.digest = digest

    @classmethod
    def build(
        cls,
        sessionmaker: async_sessionmaker[AsyncSession],
        registry: StandardsRegistry,
        translator: Translator,
        settings: Settings,
        clock: Clock,
        *,
        worker: str,
    ) -> ReminderJobs:
        """Both jobs on one database; `worker` names this process in reminder claims."""
        return cls(
            ReminderSweep(sessionmaker, registry, translator, settings, clock, worker=worker),
            DailyDigest(sessionmaker, registry, translator, settings, clock),
        )

    async def tick(self) -> TickResult:
        """Send the due reminders, then queue the digests whose time has come."""
        swept = await self.sweep.run_once()
        digests = await self.digest.run_due()
        if swept.sent or swept.cancelled or digests:
            log.info(
                "reminders: %d sent (%d late), %d cancelled, %d digests",
                swept.sent,
                swept.late,
                swept.cancelled,
                digests,
            )
        return TickResult(swept, digests)

    async def safe_tick(self) -> None:
        """`tick` for the scheduler: a failing tick is logged, the next one tries again (the
        failed batch rolled back, so nothing is lost or sent twice)."""
        try:
            await self.tick()
        except Exception:
            log.exception("reminder tick failed; retrying on the next tick")


def schedule(scheduler: Any, jobs: ReminderJobs, settings: Settings, clock: Clock) -> None:
    """Add the one reminder job to an APScheduler 3 `AsyncIOScheduler`: every
    `sweep_interval_seconds`, first at once, never two at a time, missed ticks coalesced."""
    scheduler.add_job(
        jobs.safe_tick,
        "interval",
        seconds=settings.sweep_interval_seconds,
        id=JOB_ID,
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=clock.now(),
    )
