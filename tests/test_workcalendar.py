"""An office's working calendar: weekends, national holidays, cuti bersama, office's own days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from laporbot.workcalendar import OfficeHours, WorkCalendar, indonesian_holidays

WIB = ZoneInfo("Asia/Jakarta")


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar("Asia/Jakarta")


def test_2026_holidays_around_nyepi_and_idul_fitri() -> None:
    # What the holidays package decrees for March 2026 (checked against the package itself:
    # the deadline tests below depend on exactly these days).
    days = indonesian_holidays(2026)
    march = {d: name for d, name in days.items() if d.month == 3}
    assert sorted(march) == [
        date(2026, 3, 18),
        date(2026, 3, 19),
        date(2026, 3, 20),
        date(2026, 3, 21),
        date(2026, 3, 22),
        date(2026, 3, 23),
        date(2026, 3, 24),
    ]
    assert march[date(2026, 3, 19)] == "Hari Suci Nyepi"
    assert march[date(2026, 3, 18)] == "Cuti Bersama Hari Suci Nyepi"
    assert march[date(2026, 3, 21)] == "Hari Raya Idul Fitri"
    assert "Cuti Bersama" in march[date(2026, 3, 24)]


def test_working_days(calendar: WorkCalendar) -> None:
    assert calendar.is_working_day(date(2026, 3, 17))  # Tuesday
    assert not calendar.is_working_day(date(2026, 3, 14))  # Saturday
    assert not calendar.is_working_day(date(2026, 3, 15))  # Sunday
    assert not calendar.is_working_day(date(2026, 3, 19))  # Nyepi
    assert not calendar.is_working_day(date(2026, 3, 23))  # cuti bersama Idul Fitri
    assert not calendar.is_working_day(date(2026, 8, 17))  # Hari Kemerdekaan
    assert calendar.holiday_name(date(2026, 8, 17)) == "Hari Kemerdekaan Republik Indonesia"
    assert calendar.holiday_name(date(2026, 8, 18)) is None


def test_next_and_previous_working_day(calendar: WorkCalendar) -> None:
    assert calendar.next_working_day(date(2026, 3, 17)) == date(2026, 3, 25)
    assert calendar.next_working_day(date(2026, 3, 13)) == date(2026, 3, 16)  # Fri -> Mon
    assert calendar.previous_working_day(date(2026, 3, 25)) == date(2026, 3, 17)
    assert calendar.previous_working_day(date(2026, 3, 16)) == date(2026, 3, 13)


def test_add_working_days_and_between(calendar: WorkCalendar) -> None:
    start = date(2026, 3, 16)  # Monday
    assert calendar.add_working_days(start, 0) == start
    assert calendar.add_working_days(start, 1) == date(2026, 3, 17)
    assert calendar.add_working_days(start, 2) == date(2026, 3, 25)
    assert calendar.add_working_days(start, 5) == date(2026, 3, 30)
    assert calendar.add_working_days(date(2026, 3, 25), -2) == date(2026, 3, 16)
    assert calendar.working_days_between(start, date(2026, 3, 30)) == 5
    assert calendar.working_days_between(date(2026, 3, 30), start) == -5
    assert calendar.working_days_between(start, start) == 0
    # Nothing between Tuesday 17 and Tuesday 24 March 2026 is a working day.
    assert calendar.working_days_between(date(2026, 3, 17), date(2026, 3, 24)) == 0


def test_office_hours_and_is_open(calendar: WorkCalendar) -> None:
    assert calendar.close_of(date(2026, 3, 25)) == datetime(2026, 3, 25, 16, tzinfo=WIB)
    assert calendar.open_of(date(2026, 3, 25)) == datetime(2026, 3, 25, 8, tzinfo=WIB)
    assert calendar.is_open(datetime(2026, 3, 25, 2, 0, tzinfo=UTC))  # 09:00 WIB
    assert not calendar.is_open(datetime(2026, 3, 25, 9, 0, tzinfo=UTC))  # 16:00 WIB closed
    assert not calendar.is_open(datetime(2026, 3, 19, 2, 0, tzinfo=UTC))  # Nyepi
    with pytest.raises(ValueError, match="aware"):
        calendar.is_open(datetime(2026, 3, 25, 9, 0))


def test_office_overrides_hours_weekdays_and_extra_days() -> None:
    saturday_office = WorkCalendar(
        "Asia/Makassar",
        OfficeHours(time(7, 30), time(14, 0), frozenset({0, 1, 2, 3, 4, 5})),
        extra_days=[date(2026, 3, 16)],
    )
    assert saturday_office.is_working_day(date(2026, 3, 14))  # Saturday opens
    assert not saturday_office.is_working_day(date(2026, 3, 16))  # the office's own closed day
    assert saturday_office.next_working_day(date(2026, 3, 14)) == date(2026, 3, 17)
    close = saturday_office.close_of(date(2026, 3, 17))
    assert close.utcoffset() == timedelta(hours=8)
    assert close.time() == time(14, 0)


@pytest.mark.parametrize(
    ("start", "end", "weekdays"),
    [
        (time(16), time(8), frozenset({0})),
        (time(8), time(16), frozenset()),
        (time(8), time(16), frozenset({7})),
    ],
)
def test_office_hours_must_make_sense(start: time, end: time, weekdays: frozenset[int]) -> None:
    with pytest.raises(ValueError, match="office hours"):
        OfficeHours(start, end, weekdays)
