"""Due times and time left worded with Babel and the timefmt catalogs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from laporbot.timefmt import format_due, format_relative, zone_abbreviation

DUE = datetime(2026, 3, 25, 9, 0, tzinfo=UTC)


def test_format_due_indonesian() -> None:
    assert format_due("id", DUE, "Asia/Jakarta") == "Rabu, 25 Maret 2026 pukul 16.00 WIB"
    assert format_due("id", DUE, "Asia/Makassar") == "Rabu, 25 Maret 2026 pukul 17.00 WITA"
    assert format_due("id", DUE, "Asia/Jayapura") == "Rabu, 25 Maret 2026 pukul 18.00 WIT"
    assert format_due("id_ID", DUE, "Asia/Pontianak") == "Rabu, 25 Maret 2026 pukul 16.00 WIB"


def test_format_due_english_keeps_indonesian_zone_names() -> None:
    assert format_due("en", DUE, "Asia/Jakarta") == "Wednesday, 25 March 2026 at 16:00 WIB"


def test_format_due_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_due("id", datetime(2026, 3, 25, 9, 0), "Asia/Jakarta")


def test_zone_abbreviation_outside_indonesia_comes_from_babel() -> None:
    assert zone_abbreviation("Asia/Jakarta", "en") == "WIB"
    assert zone_abbreviation("America/New_York", "en") == "EST"
    summer = datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert zone_abbreviation("America/New_York", "en", summer) == "EDT"


@pytest.mark.parametrize(
    ("zone", "text"),
    [
        ("Europe/London", "GMT"),
        ("Asia/Tokyo", "GMT+9"),
        ("Asia/Kolkata", "GMT+5:30"),
        ("America/St_Johns", "GMT-3:30"),
    ],
)
def test_zone_without_a_short_name_gets_its_gmt_offset(zone: str, text: str) -> None:
    # Babel 2.19 writes "+0900" for these; older releases "GMT+9" or "GMT".
    assert zone_abbreviation(zone, "en") == text


@pytest.mark.parametrize(
    ("locale", "delta", "text"),
    [
        ("id", timedelta(hours=2), "2 jam lagi"),
        ("id", timedelta(days=-1), "terlambat 1 hari"),
        ("id", timedelta(days=3, hours=1), "3 hari lagi"),
        ("id", -timedelta(minutes=30), "terlambat 30 menit"),
        ("en", timedelta(hours=2), "in 2 hours"),
        ("en", timedelta(days=-1), "1 day overdue"),
        ("en", timedelta(days=-2), "2 days overdue"),
    ],
)
def test_format_relative(locale: str, delta: timedelta, text: str) -> None:
    assert format_relative(locale, delta) == text


def test_locale_without_catalog_uses_babel_direction_words(tmp_path: Path) -> None:
    assert format_relative("fr", timedelta(hours=-2)) == "il y a 2 heures"
    assert format_relative("id", timedelta(hours=2), locales_dir=tmp_path) == "dalam 2 jam"
    assert format_due("id", DUE, "Asia/Jakarta", locales_dir=tmp_path) == (
        "Rabu, 25 Maret 2026 16.00 WIB"
    )
