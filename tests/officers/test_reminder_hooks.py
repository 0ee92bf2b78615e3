"""The officer side tells the reminders what changed: an emergency marked after the case came
in escalates on the emergency plan; a complaint the citizen reopens gets a new answer deadline."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from laporbot.db.models import Complaint, Deadline
from laporbot.deadlines import due_time
from tests.officers.conftest import Office
from tests.officers.test_complaints_and_questions import CITIZEN, complain
from tests.officers.test_complaints_and_questions import staff as complaint_staff

OFFICER = "12"


async def _deadlines(office: Office, kind: str, subject_id: int) -> list[Deadline]:
    async with office.maker() as db:
        rows = await db.scalars(
            select(Deadline)
            .where(Deadline.subject_kind == kind, Deadline.subject_id == subject_id)
            .order_by(Deadline.id)
        )
        return list(rows.all())


async def test_darurat_moves_the_triage_escalation_to_15_minutes(office: Office) -> None:
    await complaint_staff(office)
    case = await office.citizen_reports(office.person(CITIZEN))
    [triage] = [d for d in await _deadlines(office, "case", case.id) if d.kind == "triage"]
    assert case.priority != 0
    assert triage.due_at == case.received_at + timedelta(hours=1)
    await office.person(OFFICER).says(f"/darurat {case.number}")
    [triage] = [d for d in await _deadlines(office, "case", case.id) if d.kind == "triage"]
    assert triage.due_at == case.received_at + timedelta(minutes=15)


async def test_reopened_complaint_gets_a_new_deadline_the_handlers_are_told(
    office: Office,
) -> None:
    await complaint_staff(office)
    case = await office.citizen_reports(office.person(CITIZEN))
    complaint = await complain(office, case.number)
    await office.person("11").says(f"/jawab {complaint.number} Petugas kami datang besok pagi.")
    await office.sweep()
    office.clock.tick(60 * 5)
    assert await office.person(CITIZEN).presses(f"survey:complaint:{complaint.number}:reopen")
    reopened_at = office.clock.now
    registry = office.desk.ctx.registry
    limit = registry.standard(case.standard_code).complaint_response
    expected = due_time(reopened_at, limit, registry.calendar(complaint.agency_code))
    async with office.maker() as db:
        found = await db.get(Complaint, complaint.id)
        assert found is not None
        assert found.due_at == expected
    deadlines = await _deadlines(office, "complaint", complaint.id)
    assert [d.status for d in deadlines] == ["met", "open"]
    assert deadlines[-1].due_at == expected
    again = (await office.outbox("11"))[-1]
    zone = registry.agency(complaint.agency_code).time_zone
    assert office.desk.ctx.translator.due("id", expected, zone) in str(again.payload["text"])
