"""The planner: a deadline, its plan rules and the office calendar in, reminder times out.

Pure functions with no storage and no clock of their own: the service layer loads the rows,
calls `plan_reminders` and `replan`, and writes what they return.

Re-planning is a diff, not "cancel everything and start again": a pending reminder the new plan
still wants at the same moment is kept (so a re-plan a second before the sweep runs loses
nothing), one it no longer wants is cancelled, and a planned moment with no row yet is added
unless it has already passed. Rows already sent or cancelled are history and never revived.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from laporbot.deadlines import add_months
from laporbot.reminders.plans import (
    Anchor,
    Audience,
    Condition,
    Offset,
    OffsetUnit,
    PlanKind,
    ReminderRule,
    TimeSpec,
)
from laporbot.workcalendar import WorkCalendar

# A bounded repeat longer than this is an authoring mistake (a daily rule over a year-long
# standard would flood an officer); the planner stops there instead of writing thousands of rows.
MAX_OCCURRENCES = 60


@dataclass(frozen=True, slots=True)
class DeadlineWindow:
    """What the planner needs to know about one deadline.

    `due` is None for the citizen plan, which has no deadline of its own; `resolved` is when
    the case closed or the complaint was answered, None while open. `working_days` tells
    whether the allowance is counted in hari kerja; `emergency` is priority 0.
    """

    kind: PlanKind
    start: datetime
    due: datetime | None
    working_days: bool = False
    emergency: bool = False
    resolved: datetime | None = None

    def conditions(self) -> frozenset[Condition]:
        """The conditions this deadline satisfies."""
        return frozenset(
            {
                Condition.EMERGENCY if self.emergency else Condition.ROUTINE,
                Condition.WORKING_DAYS if self.working_days else Condition.CALENDAR_DAYS,
            }
        )


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    """One reminder the plan wants: a future row of the reminders table."""

    kind: PlanKind
    key: str
    audience: Audience
    due_at: datetime
    message: str
    repeat: Offset | None = None

    @property
    def identity(self) -> tuple[str, str, datetime]:
        """What makes two reminders the same one: plan kind, rule key and moment."""
        return (self.kind.value, self.key, self.due_at)


@dataclass(frozen=True, slots=True)
class ExistingReminder:
    """A stored reminder row as the diff sees it."""

    id: int
    kind: str
    key: str
    due_at: datetime
    status: str

    @property
    def identity(self) -> tuple[str, str, datetime]:
        """Plan kind, rule key and moment, as `PlannedReminder.identity`."""
        return (self.kind, self.key, self.due_at)


@dataclass(frozen=True, slots=True)
class Replan:
    """What a re-plan changes: rows to cancel and reminders to add."""

    cancel: tuple[int, ...]
    insert: tuple[PlannedReminder, ...]


def shift(at: datetime, offset: Offset, calendar: WorkCalendar) -> datetime:
    """`at` moved by `offset`; working days and months follow the office's local calendar."""
    unit = offset.unit
    if unit is OffsetUnit.MINUTES:
        return at + timedelta(minutes=offset.amount)
    if unit is OffsetUnit.HOURS:
        return at + timedelta(hours=offset.amount)
    if unit is OffsetUnit.DAYS:
        return at + timedelta(days=offset.amount)
    local = calendar.local(at)
    if unit is OffsetUnit.WORKING_DAYS:
        day = calendar.add_working_days(local.date(), offset.amount)
    else:
        day = add_months(local.date(), offset.amount)
    return datetime.combine(day, local.time(), tzinfo=calendar.zone).astimezone(at.tzinfo)


def working_midpoint(start: datetime, due: datetime, calendar: WorkCalendar) -> datetime:
    """Half of the office time between `start` and `due`.

    An allowance in hari kerja is office time: half of "1 hari kerja" received on the eve of a
    long holiday falls in office hours after it, not on the holiday itself. With no office time
    in between (a due time before the office opens) the wall-clock midpoint is used.
    """
    spans: list[tuple[datetime, datetime]] = []
    day = calendar.local(start).date()
    last = calendar.local(due).date()
    while day <= last:
        if calendar.is_working_day(day):
            begin = max(calendar.open_of(day), start)
            end = min(calendar.close_of(day), due)
            if begin < end:
                spans.append((begin, end))
        day += timedelta(days=1)
    total = sum((end - begin for begin, end in spans), timedelta())
    if not total:
        return start + (due - start) / 2
    remaining = total / 2
    for begin, end in spans:
        if end - begin >= remaining:
            return begin + remaining
        remaining -= end - begin
    return spans[-1][1]  # pragma: no cover - the loop always returns for remaining <= total


def moment(spec: TimeSpec, window: DeadlineWindow, calendar: WorkCalendar) -> datetime | None:
    """The moment `spec` names for `window`, or None when its anchor is not known yet."""
    anchor: datetime | None
    if spec.anchor is Anchor.START:
        anchor = window.start
    elif spec.anchor is Anchor.DUE:
        anchor = window.due
    elif spec.anchor is Anchor.RESOLVED:
        anchor = window.resolved
    elif window.due is None:
        anchor = None
    elif window.working_days:
        anchor = working_midpoint(window.start, window.due, calendar)
    else:
        anchor = window.start + (window.due - window.start) / 2
    if anchor is None:
        return None
    at = anchor if spec.offset is None else shift(anchor, spec.offset, calendar)
    # Whole seconds: a reminder time is shown to people and compared across databases.
    return at.replace(microsecond=0)


def _occurrences(
    rule: ReminderRule, window: DeadlineWindow, calendar: WorkCalendar, now: datetime
) -> list[datetime]:
    first = moment(rule.at, window, calendar)
    if first is None:
        return []
    if rule.every is None:
        return [first]
    bound = moment(rule.until, window, calendar) if rule.until is not None else None
    if rule.until is not None and bound is None:
        return []
    times: list[datetime] = []
    at = first
    count = 1
    while len(times) < MAX_OCCURRENCES:
        if bound is not None and at >= bound:
            break
        times.append(at)
        # An open-ended chain stores only up to its next occurrence; the sweep extends it.
        if bound is None and at >= now:
            break
        at = _nth(rule, window, calendar, first, count)
        count += 1
    return times


def _nth(
    rule: ReminderRule, window: DeadlineWindow, calendar: WorkCalendar, first: datetime, n: int
) -> datetime:
    """The `n`-th repeat after `first`. Counted from the anchor itself when the rule's offset
    has the repeat's unit, so month ends do not drift: received 31 January, "start + 1 month
    every 1 month" gives 28 February, 31 March, 30 April (not 28 March, 28 April)."""
    assert rule.every is not None
    offset = rule.at.offset
    if offset is not None and offset.unit is rule.every.unit:
        spec = TimeSpec(rule.at.anchor, Offset(offset.amount + n * rule.every.amount, offset.unit))
        at = moment(spec, window, calendar)
        if at is not None:
            return at
    step = Offset(rule.every.amount * n, rule.every.unit)
    return shift(first, step, calendar).replace(microsecond=0)


def plan_reminders(
    rules: Iterable[ReminderRule],
    window: DeadlineWindow,
    calendar: WorkCalendar,
    now: datetime,
) -> list[PlannedReminder]:
    """Every reminder the rules want for `window`, in time order.

    Moments before the deadline's start are dropped (a "24 hours before" of a 12-hour limit).
    Past moments are kept here; `replan` decides what a past moment means.
    """
    conditions = window.conditions()
    planned: list[PlannedReminder] = []
    for rule in rules:
        if not rule.when <= conditions:
            continue
        for at in _occurrences(rule, window, calendar, now):
            if at < window.start.replace(microsecond=0):
                continue
            planned.append(
                PlannedReminder(
                    kind=window.kind,
                    key=rule.key,
                    audience=rule.audience,
                    due_at=at,
                    message=rule.message,
                    repeat=rule.every if rule.open_ended else None,
                )
            )
    planned.sort(key=lambda reminder: (reminder.due_at, reminder.key))
    return planned


def replan(
    existing: Sequence[ExistingReminder],
    planned: Sequence[PlannedReminder],
    now: datetime,
) -> Replan:
    """The diff between stored rows of one deadline and what its plan now wants.

    - a pending row the plan still wants at the same moment is kept;
    - a pending row the plan no longer wants is cancelled;
    - a planned moment with no row in any state is added, unless it is already past
      (a reminder for a moment that never applied before is not sent late).
    """
    wanted = {reminder.identity for reminder in planned}
    stored = {row.identity for row in existing}
    cancel = tuple(
        row.id for row in existing if row.status == "pending" and row.identity not in wanted
    )
    insert = tuple(
        reminder
        for reminder in planned
        if reminder.identity not in stored and reminder.due_at >= now.replace(microsecond=0)
    )
    return Replan(cancel=cancel, insert=insert)


def next_occurrence(
    first: datetime, previous: datetime, every: Offset, calendar: WorkCalendar
) -> datetime:
    """The occurrence of an open-ended chain after `previous` (chain started at `first`)."""
    count = 1
    at = shift(first, Offset(every.amount * count, every.unit), calendar)
    while at.replace(microsecond=0) <= previous:
        count += 1
        at = shift(first, Offset(every.amount * count, every.unit), calendar)
    return at.replace(microsecond=0)
