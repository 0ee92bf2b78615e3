"""Completion times as written in a service standard ("3 Bulan", "1 Hari kerja", "2x24 jam").

A standard states its completion time in Indonesian words; the deadline engine needs a small
value it can compute with. `parse_duration` accepts exactly the forms the standards use and
refuses anything else with a `DurationError`, so an unknown form fails when the data is loaded,
never when a deadline is due.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from laporbot.errors import DurationError


class DurationUnit(StrEnum):
    """What one unit of a completion time is counted in."""

    HOURS = "jam"
    WORKING_DAYS = "hari kerja"
    DAYS = "hari"
    MONTHS = "bulan"
    YEARS = "tahun"


@dataclass(frozen=True, slots=True)
class Duration:
    """A completion time: `amount` units, e.g. Duration(3, DurationUnit.MONTHS) for "3 Bulan"."""

    amount: int
    unit: DurationUnit

    def __post_init__(self) -> None:
        if self.amount < 1:
            raise DurationError(str(self.amount), "a completion time must be at least 1")

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"

    @property
    def is_working_days(self) -> bool:
        """True when the time is counted in working days (hari kerja)."""
        return self.unit is DurationUnit.WORKING_DAYS


# "2x24 jam" (also "2 x 24 jam", "2×24 Jam"): a multiple of hours, written as the
# Indonesian public service rules write complaint response limits.
_TIMES_HOURS = re.compile(r"^(\d+)\s*[x×]\s*(\d+)\s+jam$")
_PLAIN = re.compile(r"^(\d+)\s+(jam|hari\s+kerja|hari|bulan|tahun)$")
_UNITS = {
    "jam": DurationUnit.HOURS,
    "hari kerja": DurationUnit.WORKING_DAYS,
    "hari": DurationUnit.DAYS,
    "bulan": DurationUnit.MONTHS,
    "tahun": DurationUnit.YEARS,
}
_KNOWN_FORMS = "N jam, AxB jam, N hari kerja, N hari, N bulan, N tahun"


def parse_duration(text: str) -> Duration:
    """Read a completion time such as "3 Bulan", "1 Hari kerja", "7 Hari" or "2x24 jam".

    Case and spacing do not matter. Raises `DurationError` for any other form.
    """
    normal = " ".join(text.strip().lower().split())
    times = _TIMES_HOURS.match(normal)
    if times:
        amount = int(times.group(1)) * int(times.group(2))
        if amount < 1:
            raise DurationError(text, "a completion time must be at least 1 jam")
        return Duration(amount, DurationUnit.HOURS)
    plain = _PLAIN.match(normal)
    if plain:
        amount = int(plain.group(1))
        if amount < 1:
            raise DurationError(text, "a completion time must be at least 1")
        unit = _UNITS[" ".join(plain.group(2).split())]
        return Duration(amount, unit)
    raise DurationError(text, f"unknown duration form (known: {_KNOWN_FORMS})")
