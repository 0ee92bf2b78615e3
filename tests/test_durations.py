"""Completion times as the standards write them."""

from __future__ import annotations

import pytest

from laporbot.durations import Duration, DurationUnit, parse_duration
from laporbot.errors import DurationError


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("3 Bulan", 3, DurationUnit.MONTHS),
        ("7 Hari", 7, DurationUnit.DAYS),
        ("1 Tahun", 1, DurationUnit.YEARS),
        ("1 Hari kerja", 1, DurationUnit.WORKING_DAYS),
        ("1 hari kerja", 1, DurationUnit.WORKING_DAYS),
        ("5 HARI  KERJA", 5, DurationUnit.WORKING_DAYS),
        ("2x24 jam", 48, DurationUnit.HOURS),
        ("2 x 24 Jam", 48, DurationUnit.HOURS),
        ("3×24 jam", 72, DurationUnit.HOURS),
        ("12 jam", 12, DurationUnit.HOURS),
        ("  14 hari ", 14, DurationUnit.DAYS),
    ],
)
def test_known_forms(text: str, amount: int, unit: DurationUnit) -> None:
    assert parse_duration(text) == Duration(amount, unit)


@pytest.mark.parametrize(
    "text",
    ["3 minggu lagi", "", "bulan", "tiga bulan", "3", "0 hari", "0x24 jam", "1-3 bulan", "-1 hari"],
)
def test_unknown_forms_are_refused(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert caught.value.text == text


def test_duration_is_a_small_frozen_value() -> None:
    duration = parse_duration("1 Hari kerja")
    assert duration.is_working_days
    assert str(duration) == "1 hari kerja"
    assert not parse_duration("7 Hari").is_working_days
    with pytest.raises(AttributeError):
        duration.amount = 2  # type: ignore[misc]
    with pytest.raises(DurationError):
        Duration(0, DurationUnit.DAYS)
