"""Reminders: the sweep claims due rows and sends each once.

Exactly once: claim, enqueue the outbox message and `mark_sent` in ONE transaction; then a crash
rolls all three back together, and two workers never claim the same row (row locks skipped
with `FOR UPDATE SKIP LOCKED` on PostgreSQL, one write transaction at a time on SQLite).
The lease only matters to a caller that sends outside the claiming transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db.models import Reminder

DEFAULT_LEASE = timedelta(minutes=5)


async def claim_due(
    session: AsyncSession,
    limit: int,
    worker: str,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
) -> list[Reminder]:
    """Claim up to `limit` reminders due by `now`, earliest first, for `worker`."""
    candidates = (
        select(Reminder.id)
        .where(
            # One range of the (status, due_at) index per status, whatever the statistics say
            # (a claimed row was due when it was claimed); the sweep reads only due rows.
            Reminder.status.in_(("pending", "claimed")),
            Reminder.due_at <= now,
            or_(Reminder.status == "pending", Reminder.claimed_until < now),
        )
        .order_by(Reminder.due_at, Reminder.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(Reminder)
        .where(Reminder.id.in_(candidates.scalar_subquery()))
        .values(status="claimed", claimed_by=worker, claimed_until=now + lease)
        .returning(Reminder)
    )
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    return sorted(result.all(), key=lambda item: (item.due_at, item.id))


async def mark_sent(session: AsyncSession, reminder_id: int, now: datetime, *, late: bool) -> None:
    """The reminder went out (`late`: after its due time, e.g. the service was down)."""
    await session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id)
        .values(status="sent", sent_at=now, late=late, claimed_by=None, claimed_until=None)
    )


async def cancel(
    session: AsyncSession,
    *,
    deadline_id: int | None = None,
    case_id: int | None = None,
    complaint_id: int | None = None,
) -> int:
    """Cancel the unsent reminders of a deadline, case or complaint (it was met or closed);
    returns how many."""
    conditions = []
    if deadline_id is not None:
        conditions.append(Reminder.deadline_id == deadline_id)
    if case_id is not None:
        conditions.append(Reminder.case_id == case_id)
    if complaint_id is not None:
        conditions.append(Reminder.complaint_id == complaint_id)
    if not conditions:
        raise ValueError("cancel needs a deadline_id, case_id or complaint_id")
    result = await session.execute(
        update(Reminder)
        .where(Reminder.status.in_(("pending", "claimed")), or_(*conditions))
        .values(status="cancelled", claimed_by=None, claimed_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
