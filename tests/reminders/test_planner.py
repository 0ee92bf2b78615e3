"""The pure planner: moments, conditions, repeats and the re-plan diff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from laporbot.deadlines import due_time
from laporbot.reminders.planner import (
    MAX_OCCURRENCES,
    DeadlineWindow,
    ExistingReminder,
    PlannedReminder,
    next_occurrence,
    plan_reminders,
    replan,
    working_midpoint,
)
from laporbot.reminders.plans import (
    DEFAULT_PLAN,
    Audience,
    Offset,
    OffsetUnit,
    PlanKind,
    plan_for,
)
from laporbot.workcalendar import WorkCalendar
from tests.reminders.support import wib

JAKARTA = WorkCalendar("Asia/Jakarta")


def _times(planned: list[PlannedReminder]) -> list[tuple[str, datetime]]:
    return [(p.key, p.due_at) for p in planned]


def test_triage_is_an_hour_or_fifteen_minutes_for_an_emergency() -> None:
    start = wib(2026, 3, 17, 22, 10)
    rules = DEFAULT_PLAN.for_kind(PlanKind.TRIAGE)
    routine = plan_reminders(rules, DeadlineWindow(PlanKind.TRIAGE, start, None), JAKARTA, start)
    emergency = plan_reminders(
        rules, DeadlineWindow(PlanKind.TRIAGE, start, None, emergency=True), JAKARTA, start
    )
    assert _times(routine) == [
        ("unclaimed_group", start + timedelta(hours=1)),
        ("unclaimed_supervisor", start + timedelta(hours=1)),
    ]
    assert _times(emergency) == [
        ("unclaimed_group", start + timedelta(minutes=15)),
        ("unclaimed_supervisor", start + timedelta(minutes=15)),
    ]
    assert {p.audience for p in emergency} == {Audience.GROUP, Audience.SUPERVISOR}


def test_half_of_a_working_day_allowance_is_counted_in_office_hours() -> None:
    # Received Tuesday 17 March 2026 at 10:00 WIB; 1 hari kerja is due Wednesday 25 March
    # 16:00 (18-24 March: Nyepi, Idul Fitri and cuti bersama). Office time: 6 h + 8 h.
    start = wib(2026, 3, 17, 10, 0)
    due = due_time(start, "1 hari kerja", JAKARTA)
    assert due == wib(2026, 3, 25, 16, 0)
    assert working_midpoint(start, due, JAKARTA) == wib(2026, 3, 25, 9, 0)
    # Received after hours: half of Monday's office day.
    friday_night = wib(2026, 3, 6, 20, 0)
    monday = due_time(friday_night, "1 hari kerja", JAKARTA)
    assert working_midpoint(friday_night, monday, JAKARTA) == wib(2026, 3, 9, 12, 0)
    # No office time in between at all: the wall-clock midpoint.
    night = wib(2026, 3, 21, 1, 0)
    assert working_midpoint(night, night + timedelta(hours=4), JAKARTA) == night + timedelta(
        hours=2
    )


def test_monthly_check_ins_do_not_drift_at_month_ends() -> None:
    start = wib(2026, 1, 31, 9, 0)
    due = due_time(start, "1 tahun", JAKARTA)
    window = DeadlineWindow(PlanKind.COMPLETION, start, due)
    [checkin] = DEFAULT_PLAN.rule(PlanKind.COMPLETION, "checkin")
    times = [p.due_at for p in plan_reminders([checkin], window, JAKARTA, start)]
    assert [JAKARTA.local(t).date().isoformat() for t in times[:4]] == [
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
    ]
    assert len(times) == 11  # the twelfth falls on the due day itself, covered by the others


def test_a_seven_day_standard_gets_no_check_in() -> None:
    start = wib(2026, 3, 17, 10, 0)
    window = DeadlineWindow(PlanKind.COMPLETION, start, due_time(start, "7 hari", JAKARTA))
    keys = [
        p.key
        for p in plan_reminders(DEFAULT_PLAN.for_kind(PlanKind.COMPLETION), window, JAKARTA, start)
    ]
    assert keys == ["officer_half", "officer_before", "supervisor_due"]


def test_an_open_ended_repeat_is_planned_only_up_to_its_next_moment() -> None:
    start = wib(2026, 3, 17, 10, 0)
    due = start + timedelta(hours=48)
    window = DeadlineWindow(PlanKind.COMPLAINT_ANSWER, start, due)
    [overdue] = DEFAULT_PLAN.rule(PlanKind.COMPLAINT_ANSWER, "supervisor_overdue")
    at_start = plan_reminders([overdue], window, JAKARTA, start)
    assert _times(at_start) == [("supervisor_overdue", due + timedelta(days=1))]
    assert at_start[0].repeat == Offset(1, OffsetUnit.DAYS)
    later = plan_reminders([overdue], window, JAKARTA, due + timedelta(days=2, hours=1))
    assert [p.due_at for p in later] == [due + timedelta(days=n) for n in (1, 2, 3)]
    assert next_occurrence(
        due + timedelta(days=1),
        due + timedelta(days=5, hours=3),
        Offset(1, OffsetUnit.DAYS),
        JAKARTA,
    ) == due + timedelta(days=6)


def test_a_runaway_repeat_is_bounded() -> None:
    plan = plan_for(
        {
            "completion": [
                {"key": "daily", "audience": "officer", "at": "start", "every": "1 hour",
                 "until": "due"}
            ]
        }
    )  # fmt: skip
    start = datetime(2026, 3, 17, 3, 0, tzinfo=UTC)
    window = DeadlineWindow(PlanKind.COMPLETION, start, start + timedelta(days=365))
    assert len(plan_reminders(plan.for_kind(PlanKind.COMPLETION), window, JAKARTA, start)) == (
        MAX_OCCURRENCES
    )


def test_moments_before_the_start_are_dropped() -> None:
    start = datetime(2026, 3, 17, 3, 0, tzinfo=UTC)
    window = DeadlineWindow(PlanKind.COMPLAINT_ANSWER, start, start + timedelta(hours=12))
    keys = [
        p.key
        for p in plan_reminders(
            DEFAULT_PLAN.for_kind(PlanKind.COMPLAINT_ANSWER), window, JAKARTA, start
        )
    ]
    assert keys == ["handler_4h", "supervisor_due", "supervisor_overdue"]  # no "24 h before"


def test_citizen_plan_waits_for_resolution() -> None:
    start = datetime(2026, 3, 17, 3, 0, tzinfo=UTC)
    rules = DEFAULT_PLAN.for_kind(PlanKind.CITIZEN)
    open_ = plan_reminders(rules, DeadlineWindow(PlanKind.CITIZEN, start, None), JAKARTA, start)
    assert _times(open_) == [("ack", start)]
    closed = start + timedelta(days=3)
    done = plan_reminders(
        rules, DeadlineWindow(PlanKind.CITIZEN, start, None, resolved=closed), JAKARTA, closed
    )
    assert _times(done) == [
        ("ack", start),
        ("survey", closed),
        ("survey_reminder", closed + timedelta(days=1)),
    ]


def _planned(key: str, at: datetime) -> PlannedReminder:
    return PlannedReminder(PlanKind.COMPLETION, key, Audience.OFFICER, at, f"reminders.{key}")


def test_replan_keeps_cancels_and_adds() -> None:
    now = datetime(2026, 3, 20, 0, 0, tzinfo=UTC)
    old_due = now + timedelta(days=2)
    new_due = now + timedelta(days=5)
    existing = [
        ExistingReminder(1, "completion", "officer_half", now - timedelta(days=1), "sent"),
        ExistingReminder(2, "completion", "officer_before", old_due - timedelta(days=1), "pending"),
        ExistingReminder(3, "completion", "supervisor_due", old_due, "pending"),
        ExistingReminder(4, "completion", "checkin", now + timedelta(hours=1), "pending"),
        ExistingReminder(5, "completion", "gone", now + timedelta(hours=2), "cancelled"),
    ]
    planned = [
        _planned("officer_half", now - timedelta(days=1)),  # sent already: left alone
        _planned("officer_half_late", now - timedelta(hours=1)),  # past and new: not added
        _planned("checkin", now + timedelta(hours=1)),  # unchanged: kept
        _planned("officer_before", new_due - timedelta(days=1)),  # moved: added
        _planned("supervisor_due", new_due),  # moved: added
        _planned("gone", now + timedelta(hours=2)),  # cancelled before: not revived
    ]
    diff = replan(existing, planned, now)
    assert sorted(diff.cancel) == [2, 3]
    assert [(p.key, p.due_at) for p in diff.insert] == [
        ("officer_before", new_due - timedelta(days=1)),
        ("supervisor_due", new_due),
    ]
    assert replan(existing, [], now).cancel == (2, 3, 4)


STANDARDS = ("1 hari kerja", "7 hari", "3 bulan", "1 tahun")


@given(
    received=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    completion=st.sampled_from(STANDARDS),
    emergency=st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_every_plan_is_ordered_within_its_deadline_and_replans_to_nothing(
    received: datetime, completion: str, emergency: bool
) -> None:
    start = received.replace(microsecond=0)
    due = due_time(start, completion, JAKARTA)
    working = completion == "1 hari kerja"
    window = DeadlineWindow(PlanKind.COMPLETION, start, due, working, emergency)
    planned = plan_reminders(DEFAULT_PLAN.for_kind(PlanKind.COMPLETION), window, JAKARTA, start)
    times = [p.due_at for p in planned]
    assert times == sorted(times)
    assert all(start <= at <= due for at in times)
    assert planned[-1].key == "supervisor_due"
    assert planned[-1].due_at == due
    [half] = [p for p in planned if p.key == "officer_half"]
    if working:
        assert JAKARTA.is_open(half.due_at) or half.due_at == JAKARTA.close_of(
            JAKARTA.local(half.due_at).date()
        )
    # Re-planning what is stored (all pending) changes nothing.
    stored = [
        ExistingReminder(i, p.kind.value, p.key, p.due_at, "pending") for i, p in enumerate(planned)
    ]
    diff = replan(stored, planned, start)
    assert diff.cancel == ()
    assert diff.insert == ()
