"""An office's working calendar: its time zone, office hours and the days it is closed.

Working days exclude the weekdays the office does not open, Indonesian public holidays and
cuti bersama (the `holidays` package, categories public and government, in Indonesian), and any
extra days the office itself lists. Holidays are computed once per year and cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

MONDAY_TO_FRIDAY: frozenset[int] = frozenset({0, 1, 2, 3, 4})


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """When an office is open: `start`-`end` local time on `weekdays` (Monday = 0)."""

    start: time = time(8, 0)
    end: time = time(16, 0)
    weekdays: frozenset[int] = MONDAY_TO_FRIDAY

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"office hours must open before they close ({self.start}-{self.end})")
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise ValueError("office hours need at least one weekday, numbered 0 (Mon) to 6 (Sun)")


DEFAULT_OFFICE_HOURS = OfficeHours()


@lru_cache(maxsize=64)
def indonesian_holidays(year: int) -> Mapping[date, str]:
    """Public holidays and cuti bersama of Indonesia in `year`, named in Indonesian.

    Lunar holidays beyond the years decreed by the government are the package's estimates,
    which is why the `holidays` package must be kept up to date.
    """
    # Imported on first use: the package takes about 50 ms to import, which `laporbot serve`
    # would otherwise spend at every start before it answers.
    import holidays

    days = holidays.country_holidays(
        "ID", years=year, categories=("public", "government"), language="id"
    )
    return MappingProxyType(dict(days.items()))


def indonesian_holidays_of(years: Iterable[int]) -> None:
    """Compute (and keep) the holidays of `years` ahead of their first use."""
    for year in years:
        indonesian_holidays(year)


class WorkCalendar:
    """The working calendar of one office.

    `time_zone` is an IANA name (Asia/Jakarta for WIB, Asia/Makassar for WITA, Asia/Jayapura
    for WIT). `extra_days` are local dates the office is closed besides national holidays.
    """

    __slots__ = ("extra_days", "office_hours", "time_zone", "zone")

    def __init__(
        self,
        time_zone: str,
        office_hours: OfficeHours = DEFAULT_OFFICE_HOURS,
        extra_days: Iterable[date] = (),
    ) -> None:
        self.time_zone = time_zone
        self.zone = ZoneInfo(time_zone)
        self.office_hours = office_hours
        self.extra_days = frozenset(extra_days)

    def __repr__(self) -> str:
        return (
            f"WorkCalendar({self.time_zone!r}, {self.office_hours!r}, "
            f"extra_days={sorted(self.extra_days)!r})"
        )

    def local(self, at: datetime) -> datetime:
        """`at` (aware) in the office's time zone."""
        if at.tzinfo is None:
            raise ValueError("the calendar needs an aware datetime")
        return at.astimezone(self.zone)

    def holiday_name(self, day: date) -> str | None:
        """The name of the national holiday or cuti bersama on `day`, if any."""
        return indonesian_holidays(day.year).get(day)

    def is_working_day(self, day: date) -> bool:
        """True when the office is open on `day`: an office weekday, no holiday, not listed."""
        return (
            day.weekday() in self.office_hours.weekdays
            and day not in self.extra_days
            and day not in indonesian_holidays(day.year)
        )

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        candidate = day + timedelta(days=1)
        # A year holds at most a few dozen closed days; the bound only guards a calendar that
        # closes forever (an office listing every day), which would otherwise loop.
        for _ in range(3660):
            if self.is_working_day(candidate):
                return candidate
            candidate += timedelta(days=1)
        raise ValueError(f"no working day within ten years after {day}")

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before `day`."""
        candidate = day - timedelta(days=1)
        for _ in range(3660):
            if self.is_working_day(candidate):
                return candidate
            candidate -= timedelta(days=1)
        raise ValueError(f"no working day within ten years before {day}")

    def open_of(self, day: date) -> datetime:
        """The moment the office opens on `day`, aware, in the office's zone."""
        return datetime.combine(day, self.office_hours.start, tzinfo=self.zone)

    def close_of(self, day: date) -> datetime:
        """The moment the office closes on `day`, aware, in the office's zone."""
        return datetime.combine(day, self.office_hours.end, tzinfo=self.zone)

    def is_open(self, at: datetime) -> bool:
        """True when `at` falls within office hours on a working day."""
        local = self.local(at)
        day = local.date()
        return self.is_working_day(day) and self.open_of(day) <= local < self.close_of(day)

    def add_working_days(self, day: date, count: int) -> date:
        """The `count`-th working day after `day` (before it when `count` is negative).

        `count == 0` returns `day` unchanged, working day or not.
        """
        step = self.next_working_day if count >= 0 else self.previous_working_day
        for _ in range(abs(count)):
            day = step(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days fall after `start` up to and including `end`.

        Negative when `end` is before `start` (the working days after `end` up to `start`),
        so `add_working_days(start, n)` lands on or before `end` exactly when n <= this count.
        """
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start + timedelta(days=1)
        while day <= end:
            if self.is_working_day(day):
                count += 1
            day += timedelta(days=1)
        return count
