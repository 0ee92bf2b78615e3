"""Opening a case or filing a complaint is on every report's path: its deadlines and every
reminder it plans go in with two INSERTs (a case's in one statement on PostgreSQL), reading
nothing back, and store the same rows a re-plan would (nothing is added or cancelled by one
right after)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.cases import create_case
from laporbot.db.complaints import create_complaint
from laporbot.db.models import Case, Deadline, Reminder
from laporbot.reminders.service import _insert_reminders, _NewDeadlines, _reminder
from tests.reminders.support import make_world, wib

T0 = wib(2026, 3, 17, 10, 0)


@contextmanager
def statements(session: AsyncSession) -> Iterator[list[str]]:
    """The SQL statements run on `session`'s engine inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]).split(None, 3)[:3][-1])  # the table of "INSERT INTO x"

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _rows(session: AsyncSession, **owner: int) -> list[tuple[Any, ...]]:
    (column, value), *_ = owner.items()
    result = await session.execute(
        select(
            Reminder.deadline_id.is_(None),
            Reminder.kind,
            Reminder.audience,
            Reminder.due_at,
            Reminder.status,
            Reminder.sent_at,
            Reminder.payload,
        )
        .where(getattr(Reminder, column) == value)
        .order_by(Reminder.id)
    )
    return [tuple(row) for row in result.all()]


async def test_a_case_is_planned_with_two_inserts(
    either_db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(either_db, tmp_path, T0)
    async with world.sessionmaker() as session, session.begin():
        case = await create_case(
            session,
            agency_code="dinsos-riau",
            standard_code="riau-penyerahan-anak-lansia",
            category="anak_terlantar",
            locale="id",
            received_at=T0,
            reporter_contact_id=world.contacts["tg-id"],
            # As the intake does: the due time the service sets is already there.
            due_at=world.service.registry.due("riau-penyerahan-anak-lansia", T0),
        )
        with statements(session) as seen:
            await world.service.on_case_opened(session, case, T0, acknowledged=True)
        postgres = session.get_bind().dialect.name == "postgresql"
        assert seen == (["AS"] if postgres else ["deadlines", "reminders"])  # "WITH d AS ("
        assert case.due_at is not None
        deadlines = (
            await session.execute(
                select(Deadline.kind, Deadline.due_at, Deadline.status)
                .where(Deadline.subject_kind == "case", Deadline.subject_id == case.id)
                .order_by(Deadline.id)
            )
        ).all()
        assert [tuple(row) for row in deadlines] == [
            ("triage", wib(2026, 3, 17, 11, 0), "open"),
            ("completion", case.due_at, "open"),
        ]
        stored = await _rows(session, case_id=case.id)
        kinds = [
            (kind, audience, status) for _no_deadline, kind, audience, _due, status, *_ in stored
        ]
        assert kinds[:2] == [
            ("triage.unclaimed_group", "group", "pending"),
            ("triage.unclaimed_supervisor", "supervisor", "pending"),
        ]
        assert kinds[-1] == ("citizen.ack", "citizen", "sent")
        assert stored[-1][0] is True  # the acknowledgment belongs to no deadline
        assert stored[-1][5] == T0
        assert stored[-1][6] == {"sent_by": "chat"}
        assert {kind.split(".")[0] for kind, *_ in kinds[2:-1]} == {"completion"}
        # A re-plan right after finds every row it wants already there.
        await world.service.on_step(session, case, T0)
        again = await _rows(session, case_id=case.id)
        assert again[: len(stored)] == stored
        assert [row[1] for row in again[len(stored) :]] == ["citizen.status"]


async def test_a_complaint_about_a_case_is_planned_with_two_inserts(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case()
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)  # the intake looks the case up by number
        complaint = await create_complaint(
            session,
            agency_code="dinsos-riau",
            text="Belum ada kabar",
            locale="id",
            received_at=T0,
            case_id=case_id,
            contact_id=world.contacts["tg-id"],
            due_at=world.service.registry.complaint_due("riau-penyerahan-anak-lansia", T0),
        )
        with statements(session) as seen:
            await world.service.on_complaint_filed(session, complaint, T0, acknowledged=True)
        assert seen == ["deadlines", "reminders"]
        assert case is not None
        assert complaint.due_at is not None
        stored = await _rows(session, complaint_id=complaint.id)
        assert [(kind, status) for _n, kind, _a, _d, status, *_ in stored] == [
            ("complaint_answer.handler_24h", "pending"),
            ("complaint_answer.handler_4h", "pending"),
            ("complaint_answer.supervisor_due", "pending"),
            ("complaint_answer.supervisor_overdue", "pending"),
            ("citizen.ack", "sent"),
        ]
        assert stored[2][3] == complaint.due_at


async def test_a_reminder_of_a_deadline_not_inserted_with_it_is_refused(
    either_db: async_sessionmaker[AsyncSession],
) -> None:
    row = _reminder(
        deadline_id="completion",  # no such deadline among those given
        case_id=None,
        complaint_id=None,
        kind="completion.due",
        audience="group",
        due_at=T0,
        payload={},
    )
    async with either_db() as session, session.begin():
        with pytest.raises(KeyError, match="completion"):
            await _insert_reminders(session, [row], _NewDeadlines("case", 1, {"triage": T0}))
        assert (await session.scalars(select(Reminder))).all() == []
