"""The reminder service: what the case and complaint side calls when something happens.

Each `on_*` method writes deadlines and reminder rows in the caller's transaction (it never
commits), so the state change, its deadlines and its reminders are stored together or not at
all. Call it AFTER the change is applied to the row (status, assigned officer, step, agency,
closed_at, answer, ...), with the same `now` the change used:

    reminders = ReminderService(registry)
    case = await cases.create_case(session, ...)
    await reminders.on_case_opened(session, case, now)      # triage + completion + citizen ack
    await reminders.on_case_opened(session, case, now, acknowledged=True)  # the chat confirmed
    await reminders.on_case_claimed(session, case, now)     # triage met; citizen told
    await reminders.on_step(session, case, now)             # citizen told of the new step
    await reminders.on_priority_changed(session, case, now) # escalation follows the priority
    await reminders.on_referred(session, case, now)         # new office: deadlines start again
    await reminders.on_closed(session, case, now)           # deadlines settled; survey asked
    await reminders.on_complaint_filed(session, complaint, now)
    await reminders.on_complaint_answered(session, complaint, now)  # sends the answer + survey
    await reminders.on_complaint_reopened(session, complaint, now)  # a new answer deadline
    await reminders.on_rated(session, now, case=case)       # survey reminder no longer needed

Nothing is sent from here: rows are written and the sweep sends what is due.

Opening a case or filing a complaint is on every report's path, so it reads nothing back: its
deadlines are new, so no reminder row can exist for them yet, and every row it plans (triage,
completion or answer, the citizen's) goes in with one multi-row INSERT, after one for its
deadlines. Re-plans (a step, a claim, a referral) read the rows they diff against first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BindParameter,
    Insert,
    Integer,
    String,
    Table,
    bindparam,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db import direct
from laporbot.db._sql import dialect_of
from laporbot.db.models import Case, Complaint, Deadline, Reminder
from laporbot.deadlines import due_time
from laporbot.durations import DurationUnit, parse_duration
from laporbot.reminders.planner import (
    DeadlineWindow,
    ExistingReminder,
    PlannedReminder,
    plan_reminders,
    replan,
)
from laporbot.reminders.plans import Audience, PlanKind, ReminderPlan, plan_for
from laporbot.standards.models import DEFAULT_COMPLAINT_RESPONSE
from laporbot.standards.registry import StandardsRegistry
from laporbot.workcalendar import WorkCalendar

#: The citizen plan's acknowledgment rule (`reminders.citizen.ack.*`).
ACK_KEY = "ack"

CLOSED_CASE_STATUSES = frozenset({"resolved", "rejected", "closed"})
STATUS_KEY = "status"
# A case with no triage rule for its priority still gets a triage deadline, an hour out.
DEFAULT_TRIAGE = timedelta(hours=1)


def reminder_kind(kind: PlanKind | str, key: str) -> str:
    """The `reminders.kind` column: plan kind and rule key, "completion.officer_half"."""
    return f"{PlanKind(kind).value}.{key}"


def split_kind(kind: str) -> tuple[str, str]:
    """("completion", "officer_half") from "completion.officer_half"."""
    plan, _, key = kind.partition(".")
    return plan, key


class ReminderService:
    """Writes deadlines and reminder rows for cases and complaints; see the module docstring."""

    def __init__(self, registry: StandardsRegistry) -> None:
        self.registry = registry

    # -- plans and calendars ------------------------------------------------------------

    def plan_of(self, standard_code: str | None) -> ReminderPlan:
        """The reminder plan of a standard (the defaults when unknown or not overridden)."""
        if standard_code is None:
            return plan_for(None)
        standard = self.registry.standard(standard_code)
        return plan_for(standard.reminder_plan)

    def calendar_of(self, agency_code: str) -> WorkCalendar:
        """The working calendar of an office."""
        return self.registry.calendar(agency_code)

    def _complaint_standard(self, complaint: Complaint, case: Case | None) -> str | None:
        return case.standard_code if case is not None else None

    # -- cases -------------------------------------------------------------------------

    async def on_case_opened(
        self, session: AsyncSession, case: Case, now: datetime, *, acknowledged: bool = False
    ) -> None:
        """A new case: its triage and completion deadlines, their reminders, the citizen's
        acknowledgment. Sets `case.due_at` to the completion deadline.

        `acknowledged`: the citizen was already told the case number, requirements and due
        time where they reported (the chat's confirmation); see `_acknowledged`.

        Call it once, for a case just created (`case.id` known): nothing is planned for it
        yet, so nothing is read back; two INSERTs write its deadlines and every reminder (one
        statement on PostgreSQL)."""
        deadlines, rows = self._open_case_deadlines(case, case.received_at, now)
        window = DeadlineWindow(PlanKind.CITIZEN, start=case.received_at, due=case.due_at)
        rows += _fresh_rows(
            self.plan_of(case.standard_code),
            window,
            self.calendar_of(case.agency_code),
            now,
            case_id=case.id,
        )
        if acknowledged:
            rows = [_acknowledged(row, now) for row in rows]
        await _insert_reminders(session, rows, deadlines)

    async def on_case_claimed(self, session: AsyncSession, case: Case, now: datetime) -> None:
        """An officer took the case: triage is met; the citizen hears who handles it."""
        await self._settle(session, "case", case.id, ("triage",), now)
        await self._replan_completion(session, case, now)
        await self._status(session, now, case=case, event="claimed")

    async def on_step(self, session: AsyncSession, case: Case, now: datetime) -> None:
        """The case moved to another procedure step (`case.current_step`): the citizen is told."""
        await self._replan_completion(session, case, now)
        await self._status(session, now, case=case, event="step", step=case.current_step)

    async def on_priority_changed(self, session: AsyncSession, case: Case, now: datetime) -> None:
        """`case.priority` changed (an officer marked the case an emergency, or back): an
        unclaimed case's escalation follows the triage plan of its new priority (15 minutes for
        an emergency by default), and the completion reminders are re-planned.

        The escalation counts from the case's receipt when that is still ahead; when the new
        plan's first escalation would already be past (marked an emergency 40 minutes after
        it came in), it counts from `now`, so the group still hears within the new allowance
        instead of never."""
        standard = self.registry.standard(case.standard_code)
        calendar = self.calendar_of(case.agency_code)
        plan = plan_for(standard.reminder_plan)
        rules = plan.for_kind(PlanKind.TRIAGE)
        working = standard.completion.unit is DurationUnit.WORKING_DAYS
        emergency = case.priority == 0
        for deadline in await self._open_deadlines(session, "case", case.id):
            if deadline.kind != "triage":
                continue
            start = await self._start_of(session, deadline, case)
            window = DeadlineWindow(
                PlanKind.TRIAGE, start=start, due=None, working_days=working, emergency=emergency
            )
            times = [planned.due_at for planned in plan_reminders(rules, window, calendar, now)]
            if times and min(times) < now.replace(microsecond=0):
                start = now
                window = DeadlineWindow(
                    PlanKind.TRIAGE, start=now, due=None, working_days=working, emergency=emergency
                )
                times = [p.due_at for p in plan_reminders(rules, window, calendar, now)]
            deadline.due_at = min(times) if times else start + DEFAULT_TRIAGE
            window = DeadlineWindow(
                PlanKind.TRIAGE,
                start=start,
                due=deadline.due_at,
                working_days=working,
                emergency=emergency,
            )
            await self._apply_plan(
                session, plan, window, calendar, now, deadline_id=deadline.id, case_id=case.id
            )
        await self._replan_completion(session, case, now)

    async def on_referred(self, session: AsyncSession, case: Case, now: datetime) -> None:
        """The case now belongs to another office (`case.agency_code`, `case.standard_code`
        already changed): the old deadlines are cancelled and the receiving office's start
        from `now`, as a fresh receipt there, unclaimed."""
        old = await self._open_deadlines(session, "case", case.id)
        for deadline in old:
            deadline.status = "cancelled"
            await self._cancel_pending(session, deadline_id=deadline.id)
        deadlines, rows = self._open_case_deadlines(case, now, now)
        status = _status_row(now, "referred", case=case, agency=case.agency_code)
        await _insert_reminders(session, [*rows, status], deadlines)

    async def on_closed(self, session: AsyncSession, case: Case, now: datetime) -> None:
        """The case is closed: its deadlines are met (or breached, if late) and their reminders
        cancelled; the citizen gets the outcome and, later, the satisfaction question.

        A rejected case (`case.status == "rejected"`) is worded as such, not as handled. The
        officer's reason stays out of it: the officer side keeps it in the audit log only."""
        await self._settle(session, "case", case.id, ("triage", "completion"), now)
        event = "rejected" if case.status == "rejected" else "closed"
        await self._status(session, now, case=case, event=event)
        await self._plan_citizen(session, case=case, complaint=None, now=now, resolved=now)

    # -- complaints ----------------------------------------------------------------------

    async def on_complaint_filed(
        self,
        session: AsyncSession,
        complaint: Complaint,
        now: datetime,
        *,
        acknowledged: bool = False,
    ) -> None:
        """A new complaint: its answer deadline (the standard's complaint response time,
        2x24 jam unless it says otherwise), the handler's and supervisor's reminders and the
        citizen's acknowledgment (`acknowledged`: the chat already confirmed the complaint
        number and answer time; see `_acknowledged`). Sets `complaint.due_at`.

        Call it once, for a complaint just filed: as `on_case_opened`, nothing is read back."""
        case = await self._case_of(session, complaint)
        rows = await self._open_complaint_deadline(
            session, complaint, case, complaint.received_at, now
        )
        window = DeadlineWindow(PlanKind.CITIZEN, start=complaint.received_at, due=complaint.due_at)
        rows += _fresh_rows(
            self.plan_of(self._complaint_standard(complaint, case)),
            window,
            self.calendar_of(complaint.agency_code),
            now,
            complaint_id=complaint.id,
        )
        if acknowledged:
            rows = [_acknowledged(row, now) for row in rows]
        await _insert_reminders(session, rows)

    async def on_complaint_reopened(
        self, session: AsyncSession, complaint: Complaint, now: datetime
    ) -> None:
        """The citizen said the answer did not resolve it (`complaint.status` "reopened"): a
        new answer deadline, the complaint response time again counted from `now`, with the
        handler's and supervisor's reminders. Sets `complaint.due_at`. The reminder of the
        satisfaction question is not needed any more (the citizen just answered it); the next
        answer asks it again."""
        for deadline in await self._open_deadlines(session, "complaint", complaint.id):
            # Reopened twice without an answer in between: the newest deadline counts.
            deadline.status = "cancelled"
            await self._cancel_pending(session, deadline_id=deadline.id)
        case = await self._case_of(session, complaint)
        rows = await self._open_complaint_deadline(session, complaint, case, now, now)
        await _insert_reminders(session, rows)
        await self.on_rated(session, now, complaint=complaint)

    async def on_complaint_answered(
        self, session: AsyncSession, complaint: Complaint, now: datetime
    ) -> None:
        """The complaint is answered (`complaint.answer` set): the deadline is met or breached,
        its reminders cancelled, the answer goes to the citizen with, later, the satisfaction
        question. The officer side need not send the answer itself."""
        await self._settle(session, "complaint", complaint.id, ("complaint_answer",), now)
        await self._status(session, now, complaint=complaint, event="answered")
        await self._plan_citizen(session, case=None, complaint=complaint, now=now, resolved=now)

    async def on_rated(
        self,
        session: AsyncSession,
        now: datetime,
        *,
        case: Case | None = None,
        complaint: Complaint | None = None,
    ) -> None:
        """The citizen answered the satisfaction question: its reminder is not needed."""
        conditions = [Reminder.status == "pending", Reminder.audience == "citizen"]
        if case is not None:
            conditions.append(Reminder.case_id == case.id)
        elif complaint is not None:
            conditions.append(Reminder.complaint_id == complaint.id)
        else:
            raise ValueError("on_rated needs a case or a complaint")
        conditions.append(
            Reminder.kind.in_(
                (
                    reminder_kind(PlanKind.CITIZEN, "survey"),
                    reminder_kind("citizen", "survey_reminder"),
                )
            )
        )
        await session.execute(update(Reminder).where(*conditions).values(status="cancelled"))

    # -- internals -----------------------------------------------------------------------

    async def _case_of(self, session: AsyncSession, complaint: Complaint) -> Case | None:
        if complaint.case_id is None:
            return None
        return await session.get(Case, complaint.case_id)

    async def _open_complaint_deadline(
        self,
        session: AsyncSession,
        complaint: Complaint,
        case: Case | None,
        start: datetime,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """Insert the complaint's answer deadline; the reminder rows it plans (to insert)."""
        standard_code = self._complaint_standard(complaint, case)
        calendar = self.calendar_of(complaint.agency_code)
        if standard_code is not None:
            limit = self.registry.standard(standard_code).complaint_response
        else:
            limit = parse_duration(DEFAULT_COMPLAINT_RESPONSE)
        due = due_time(start, limit, calendar)
        complaint.due_at = due
        ids = await _insert_deadlines(session, "complaint", complaint.id, {"complaint_answer": due})
        window = DeadlineWindow(
            PlanKind.COMPLAINT_ANSWER,
            start=start,
            due=due,
            working_days=limit.unit is DurationUnit.WORKING_DAYS,
        )
        return _fresh_rows(
            self.plan_of(standard_code),
            window,
            calendar,
            now,
            deadline_id=ids["complaint_answer"],
            complaint_id=complaint.id,
        )

    def _open_case_deadlines(
        self, case: Case, start: datetime, now: datetime
    ) -> tuple[_NewDeadlines, list[dict[str, Any]]]:
        """The case's triage and completion deadlines (sets `case.due_at`) and the reminder
        rows they plan, to insert together (`_insert_reminders`): the deadlines are new, no
        row exists for them. The rows name their deadline by kind until it has an id."""
        standard = self.registry.standard(case.standard_code)
        calendar = self.calendar_of(case.agency_code)
        plan = plan_for(standard.reminder_plan)
        emergency = case.priority == 0
        completion = standard.completion
        due = due_time(start, completion, calendar)
        case.due_at = due
        working = completion.unit is DurationUnit.WORKING_DAYS

        # The triage deadline is the first moment an unclaimed case escalates.
        triage_window = DeadlineWindow(
            PlanKind.TRIAGE, start=start, due=None, working_days=working, emergency=emergency
        )
        triage_times = [
            planned.due_at
            for planned in plan_reminders(
                plan.for_kind(PlanKind.TRIAGE), triage_window, calendar, now
            )
        ]
        triage_due = min(triage_times) if triage_times else start + DEFAULT_TRIAGE
        deadlines = _NewDeadlines("case", case.id, {"triage": triage_due, "completion": due})
        triage_window = DeadlineWindow(
            PlanKind.TRIAGE, start=start, due=triage_due, working_days=working, emergency=emergency
        )
        completion_window = DeadlineWindow(
            PlanKind.COMPLETION, start=start, due=due, working_days=working, emergency=emergency
        )
        return deadlines, [
            *_fresh_rows(plan, triage_window, calendar, now, deadline_id="triage", case_id=case.id),
            *_fresh_rows(
                plan, completion_window, calendar, now, deadline_id="completion", case_id=case.id
            ),
        ]

    async def _replan_completion(self, session: AsyncSession, case: Case, now: datetime) -> None:
        deadlines = await self._open_deadlines(session, "case", case.id)
        standard = self.registry.standard(case.standard_code)
        calendar = self.calendar_of(case.agency_code)
        plan = plan_for(standard.reminder_plan)
        for deadline in deadlines:
            if deadline.kind != "completion":
                continue
            window = DeadlineWindow(
                PlanKind.COMPLETION,
                start=await self._start_of(session, deadline, case),
                due=deadline.due_at,
                working_days=standard.completion.unit is DurationUnit.WORKING_DAYS,
                emergency=case.priority == 0,
            )
            await self._apply_plan(
                session, plan, window, calendar, now, deadline_id=deadline.id, case_id=case.id
            )

    async def _start_of(self, session: AsyncSession, deadline: Deadline, case: Case) -> datetime:
        # A referred case's deadlines start at the referral, stored on its triage deadline's
        # first reminder plan; the completion window starts where its first row says.
        first = await session.scalar(
            select(Reminder.payload)
            .where(Reminder.deadline_id == deadline.id)
            .order_by(Reminder.id)
            .limit(1)
        )
        if isinstance(first, dict) and isinstance(first.get("start"), str):
            return datetime.fromisoformat(first["start"])
        return case.received_at

    async def _open_deadlines(
        self, session: AsyncSession, subject_kind: str, subject_id: int
    ) -> list[Deadline]:
        result = await session.scalars(
            select(Deadline)
            .where(
                Deadline.subject_kind == subject_kind,
                Deadline.subject_id == subject_id,
                Deadline.status.in_(("open", "breached")),
            )
            .order_by(Deadline.id)
        )
        return list(result.all())

    async def _settle(
        self,
        session: AsyncSession,
        subject_kind: str,
        subject_id: int,
        kinds: Sequence[str],
        now: datetime,
    ) -> None:
        for deadline in await self._open_deadlines(session, subject_kind, subject_id):
            if deadline.kind not in kinds:
                continue
            deadline.met_at = now
            deadline.status = "met" if now <= deadline.due_at else "breached"
            await self._cancel_pending(session, deadline_id=deadline.id)
        await session.flush()

    async def _cancel_pending(self, session: AsyncSession, *, deadline_id: int) -> None:
        await session.execute(
            update(Reminder)
            .where(Reminder.deadline_id == deadline_id, Reminder.status == "pending")
            .values(status="cancelled")
        )

    async def _plan_citizen(
        self,
        session: AsyncSession,
        *,
        case: Case | None,
        complaint: Complaint | None,
        now: datetime,
        resolved: datetime | None = None,
    ) -> None:
        if case is not None:
            start, due, agency = case.received_at, case.due_at, case.agency_code
            plan = self.plan_of(case.standard_code)
        elif complaint is not None:
            start, due, agency = complaint.received_at, complaint.due_at, complaint.agency_code
            linked = await self._case_of(session, complaint)
            plan = self.plan_of(self._complaint_standard(complaint, linked))
        else:  # pragma: no cover - callers always pass one
            raise ValueError("a citizen plan needs a case or a complaint")
        window = DeadlineWindow(PlanKind.CITIZEN, start=start, due=due, resolved=resolved)
        await self._apply_plan(
            session,
            plan,
            window,
            self.calendar_of(agency),
            now,
            case_id=case.id if case is not None else None,
            complaint_id=complaint.id if complaint is not None else None,
        )

    async def _apply_plan(
        self,
        session: AsyncSession,
        plan: ReminderPlan,
        window: DeadlineWindow,
        calendar: WorkCalendar,
        now: datetime,
        *,
        deadline_id: int | None = None,
        case_id: int | None = None,
        complaint_id: int | None = None,
    ) -> None:
        planned = plan_reminders(plan.for_kind(window.kind), window, calendar, now)
        query = select(Reminder.id, Reminder.kind, Reminder.due_at, Reminder.status).where(
            Reminder.kind.like(f"{window.kind.value}.%")
        )
        if deadline_id is not None:
            query = query.where(Reminder.deadline_id == deadline_id)
        elif case_id is not None:
            query = query.where(Reminder.case_id == case_id, Reminder.deadline_id.is_(None))
        else:
            query = query.where(
                Reminder.complaint_id == complaint_id, Reminder.deadline_id.is_(None)
            )
        existing = [
            ExistingReminder(row.id, *split_kind(row.kind), row.due_at, row.status)
            for row in (await session.execute(query)).all()
            if split_kind(row.kind)[1] != STATUS_KEY
        ]
        diff = replan(existing, planned, now)
        if diff.cancel:
            await session.execute(
                update(Reminder)
                .where(Reminder.id.in_(diff.cancel), Reminder.status == "pending")
                .values(status="cancelled")
            )
        await _insert_reminders(
            session,
            [
                _row(
                    reminder,
                    window,
                    deadline_id=deadline_id,
                    case_id=case_id,
                    complaint_id=complaint_id,
                )
                for reminder in diff.insert
            ],
        )

    async def _status(
        self,
        session: AsyncSession,
        now: datetime,
        *,
        event: str,
        case: Case | None = None,
        complaint: Complaint | None = None,
        **data: Any,
    ) -> None:
        """One citizen follow-up for a status change, due at once."""
        row = _status_row(now, event, case=case, complaint=complaint, **data)
        await _insert_reminders(session, [row])


def _reminder(
    *,
    deadline_id: int | str | None,
    case_id: int | None,
    complaint_id: int | None,
    kind: str,
    audience: str,
    due_at: datetime,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """A new pending `reminders` row, every column given (one multi-row INSERT takes rows
    with the same keys)."""
    return {
        "deadline_id": deadline_id,
        "case_id": case_id,
        "complaint_id": complaint_id,
        "kind": kind,
        "audience": audience,
        "recipient": None,
        "due_at": due_at,
        "status": "pending",
        "claimed_by": None,
        "claimed_until": None,
        "sent_at": None,
        "late": False,
        "payload": payload,
    }


def _row(
    reminder: PlannedReminder,
    window: DeadlineWindow,
    *,
    deadline_id: int | str | None,
    case_id: int | None,
    complaint_id: int | None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"message": reminder.message, "start": window.start.isoformat()}
    if reminder.repeat is not None:
        payload["repeat"] = f"{reminder.repeat.amount} {reminder.repeat.unit.value}"
    return _reminder(
        deadline_id=deadline_id,
        case_id=case_id,
        complaint_id=complaint_id,
        kind=reminder_kind(reminder.kind, reminder.key),
        audience=reminder.audience.value,
        due_at=reminder.due_at,
        payload=payload,
    )


def _fresh_rows(
    plan: ReminderPlan,
    window: DeadlineWindow,
    calendar: WorkCalendar,
    now: datetime,
    *,
    deadline_id: int | str | None = None,
    case_id: int | None = None,
    complaint_id: int | None = None,
) -> list[dict[str, Any]]:
    """The rows a plan wants for a deadline (or a case's or complaint's citizen follow-ups)
    that has none stored yet: `replan` against nothing, so past moments are left out.
    `deadline_id` a kind: the deadline of that kind inserted with them (`_NewDeadlines`)."""
    planned = plan_reminders(plan.for_kind(window.kind), window, calendar, now)
    return [
        _row(
            reminder,
            window,
            deadline_id=deadline_id,
            case_id=case_id,
            complaint_id=complaint_id,
        )
        for reminder in replan((), planned, now).insert
    ]


def _status_row(
    now: datetime,
    event: str,
    *,
    case: Case | None = None,
    complaint: Complaint | None = None,
    **data: Any,
) -> dict[str, Any]:
    return _reminder(
        deadline_id=None,
        case_id=case.id if case is not None else None,
        complaint_id=complaint.id if complaint is not None else None,
        kind=reminder_kind(PlanKind.CITIZEN, STATUS_KEY),
        audience=Audience.CITIZEN.value,
        due_at=now.replace(microsecond=0),
        payload={"message": f"reminders.citizen.{event}", "event": event, **data},
    )


_ACK_KIND = f"{PlanKind.CITIZEN.value}.{ACK_KEY}"


def _acknowledged(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """`row` as it is stored when the citizen's acknowledgment was given where they reported
    (the chat's confirmation with the number and due time): the planned acknowledgment is
    recorded as sent now, by the chat, so the sweep does not say it all a second time and no
    re-plan adds it again (the row is there, not pending). Other rows are left as they are."""
    if row["kind"] != _ACK_KIND or row["deadline_id"] is not None or row["status"] != "pending":
        return row
    return {**row, "status": "sent", "sent_at": now, "payload": {"sent_by": "chat"}}


@dataclass(frozen=True, slots=True)
class _NewDeadlines:
    """Open deadlines of a case or complaint to insert with their reminders: kind -> due."""

    subject_kind: str
    subject_id: int
    due: dict[str, datetime]


async def _insert_reminders(
    session: AsyncSession, rows: list[dict[str, Any]], deadlines: _NewDeadlines | None = None
) -> None:
    """Insert `rows` (of `_reminder`) with one statement, in their order; Core, not the ORM:
    nothing reads them back in this transaction through the session's identity map.

    With `deadlines`, those first, and a row's `deadline_id` given as a kind becomes the id
    of that one: on PostgreSQL in the same statement (a writable CTE), else one before."""
    if deadlines is None:
        if rows:
            await direct.execute(session, "reminders.insert", _reminders_insert, rows)
        return
    if dialect_of(session) == "postgresql":
        await _insert_with_deadlines(session, rows, deadlines)
        return
    ids = await _insert_deadlines(
        session, deadlines.subject_kind, deadlines.subject_id, deadlines.due
    )
    rows = [
        row | {"deadline_id": ids[row["deadline_id"]]}
        if isinstance(row["deadline_id"], str)
        else row
        for row in rows
    ]
    await _insert_reminders(session, rows)


async def _insert_with_deadlines(
    session: AsyncSession, rows: list[dict[str, Any]], deadlines: _NewDeadlines
) -> None:
    named = {row["deadline_id"] for row in rows if isinstance(row["deadline_id"], str)}
    if unknown := named - deadlines.due.keys():
        # As the two statements elsewhere would (a row's deadline must be among them).
        raise KeyError(f"reminders of deadlines not inserted with them: {sorted(unknown)}")
    params: dict[str, Any] = {
        "subject_kind": deadlines.subject_kind,
        "subject_id": deadlines.subject_id,
        "deadline_kinds": list(deadlines.due),
        "deadline_dues": list(deadlines.due.values()),
        "r_deadline_kind": [
            row["deadline_id"] if isinstance(row["deadline_id"], str) else None for row in rows
        ],
    }
    for name in _REMINDER_COLUMNS:
        values = [row[name] for row in rows]
        if name == "deadline_id":
            values = [None if isinstance(value, str) else value for value in values]
        params[f"r_{name}"] = values
    await direct.execute(
        session, "reminders.insert_with_deadlines", _with_deadlines_statement, params
    )


#: The columns of a reminder row (`_reminder`), as inserted.
_REMINDER_COLUMNS = tuple(
    column.name for column in Reminder.__table__.columns if not column.primary_key
)


def _with_deadlines_statement(_dialect: str) -> Any:
    table = cast(Table, Reminder.__table__)
    deadlines = cast(Table, Deadline.__table__)
    columns = ", ".join(_REMINDER_COLUMNS)
    arrays = ", ".join(f":r_{name}" for name in _REMINDER_COLUMNS)
    picked = ", ".join(
        "coalesce(r.deadline_id, d.id)" if name == "deadline_id" else f"r.{name}"
        for name in _REMINDER_COLUMNS
    )
    sql = (
        "WITH d AS (INSERT INTO deadlines (subject_kind, subject_id, kind, due_at, met_at, status)"
        " SELECT :subject_kind, :subject_id, k.kind, k.due_at, NULL, 'open'"
        " FROM unnest(:deadline_kinds, :deadline_dues) WITH ORDINALITY AS k(kind, due_at, n)"
        " ORDER BY k.n RETURNING deadlines.id, deadlines.kind)"
        f" INSERT INTO reminders ({columns}) SELECT {picked}"
        f" FROM unnest(:r_deadline_kind, {arrays}) WITH ORDINALITY"
        f" AS r(deadline_kind, {columns}, n)"
        " LEFT JOIN d ON d.kind = r.deadline_kind ORDER BY r.n"
    )
    binds: list[BindParameter[Any]] = [
        bindparam("subject_kind", type_=String()),
        bindparam("subject_id", type_=Integer()),
        bindparam("deadline_kinds", type_=ARRAY(String())),
        bindparam("deadline_dues", type_=ARRAY(deadlines.c.due_at.type, dimensions=1)),
        bindparam("r_deadline_kind", type_=ARRAY(String())),
        *direct.array_binds(table, _REMINDER_COLUMNS, "r_"),
    ]
    return text(sql).bindparams(*binds)


async def _insert_deadlines(
    session: AsyncSession, subject_kind: str, subject_id: int, due: dict[str, datetime]
) -> dict[str, int]:
    """Insert one open deadline per kind in `due` (kind -> due time) for a case or complaint,
    with one statement; their ids by kind."""
    rows = [
        {
            "subject_kind": subject_kind,
            "subject_id": subject_id,
            "kind": kind,
            "due_at": at,
            "met_at": None,
            "status": "open",
        }
        for kind, at in due.items()
    ]
    found = await direct.rows(session, "deadlines.insert", _deadlines_insert, rows)
    return {kind: deadline_id for deadline_id, kind in found}


def _reminders_insert(_dialect: str) -> Insert:
    return direct.insert_all(cast(Table, Reminder.__table__))


def _deadlines_insert(_dialect: str) -> Insert:
    # RETURNING the kind too: a multi-row INSERT's RETURNING order is not the rows' order on
    # SQLite, so each id is matched to its deadline by kind.
    table = cast(Table, Deadline.__table__)
    return direct.insert_all(table).returning(table.c.id, table.c.kind)
