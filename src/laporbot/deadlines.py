"""The deadline engine: from a receipt time and a completion time, the moment a case is due.

Pure functions; the caller passes the receipt time (from its injected `Clock`). Every due time
is returned as an aware datetime in UTC (what storage keeps); `localize` turns it into the
office's own time for display.

The rules (docs: DESIGN.md, "Deadlines"):

- ``N jam`` and ``2x24 jam``: N hours of wall-clock time after receipt.
- ``N hari kerja``: the close of office hours on the Nth working day after the (local) day of
  receipt, whatever the hour of receipt. Received on Friday, 1 hari kerja is due Monday at
  closing when Monday is a working day.
- ``N hari``, ``N bulan``, ``N tahun``: calendar periods in the office's time zone, counted from
  the day of receipt; the period ends at the end of its last day (23:59:59 local). A month end
  clamps (31 January + 1 bulan ends on 28 or 29 February). Ending at the end of the day, rather
  than at the hour of receipt, keeps due times monotonic in the receipt time even where months
  clamp, and is how Indonesian offices count "N hari sejak diterima".
"""

from __future__ import annotations

import calendar as _calendar
from datetime import UTC, date, datetime, time, timedelta

from laporbot.durations import Duration, DurationUnit, parse_duration
from laporbot.workcalendar import WorkCalendar

END_OF_DAY = time(23, 59, 59)


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months, clamping to the last day of a shorter month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = _calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def due_time(received: datetime, duration: Duration | str, calendar: WorkCalendar) -> datetime:
    """When a case received at `received` (aware) with completion time `duration` is due, in UTC.

    `duration` may be a parsed `Duration` or the text of a standard ("3 Bulan").
    """
    if received.tzinfo is None:
        raise ValueError("due_time needs an aware receipt time")
    if isinstance(duration, str):
        duration = parse_duration(duration)
    if duration.unit is DurationUnit.HOURS:
        return received.astimezone(UTC) + timedelta(hours=duration.amount)
    day = calendar.local(received).date()
    if duration.unit is DurationUnit.WORKING_DAYS:
        due_day = calendar.add_working_days(day, duration.amount)
        return calendar.close_of(due_day).astimezone(UTC)
    if duration.unit is DurationUnit.DAYS:
        last = day + timedelta(days=duration.amount)
    elif duration.unit is DurationUnit.MONTHS:
        last = add_months(day, duration.amount)
    else:
        last = add_months(day, 12 * duration.amount)
    return datetime.combine(last, END_OF_DAY, tzinfo=calendar.zone).astimezone(UTC)


def localize(at: datetime, calendar: WorkCalendar) -> datetime:
    """`at` (aware) shown in the office's time zone."""
    return calendar.local(at)


def working_days_left(now: datetime, due: datetime, calendar: WorkCalendar) -> int:
    """Working days from the local day of `now` to the local day of `due` (negative if past).

    Useful for reminders phrased in working days ("2 hari kerja lagi").
    """
    return calendar.working_days_between(calendar.local(now).date(), calendar.local(due).date())
