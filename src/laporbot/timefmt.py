"""Due times and time left, worded for people with Babel: "Rabu, 25 Maret 2026 pukul 16.00 WIB".

The words around a date ("pukul", "lagi", "terlambat") come from the `timefmt` catalog domain
(`locales/<lang>/LC_MESSAGES/timefmt.po`), so translators own them; Babel supplies day and
month names and the quantities ("2 jam", "1 day"). Indonesian time zones are always named
WIB, WITA or WIT, the way Indonesians write them, whatever Babel's locale data says.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.pofile import read_po

from laporbot.paths import data_dir

DOMAIN = "timefmt"

# The three Indonesian zones by their legal names (Keppres 41/1987); Pontianak is WIB too.
_ZONE_ABBREVIATIONS = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}

# Used only when a locale has no timefmt catalog: Babel's own words then.
_FALLBACK_PATTERN = "EEEE, d MMMM y HH.mm"


def zone_abbreviation(tz_name: str, locale: str = "id", at: datetime | None = None) -> str:
    """WIB / WITA / WIT for Indonesian zones, otherwise Babel's short zone name ("EST").

    A zone Babel has no short name for gets its offset as "GMT+9" / "GMT+5:30" / "GMT": Babel
    2.19 (CLDR 48) writes a bare "+0900" there, which a reader cannot tell from a number.
    """
    known = _ZONE_ABBREVIATIONS.get(tz_name)
    if known is not None:
        return known
    zone = ZoneInfo(tz_name)
    moment = (at if at is not None else datetime(2026, 1, 1, tzinfo=zone)).astimezone(zone)
    name = format_datetime(moment, "z", tzinfo=zone, locale=locale)
    if name.isalpha():
        return name
    return _gmt_offset(moment.utcoffset() or timedelta(0))


def _gmt_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return "GMT"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{sign}{hours}" + (f":{rest:02d}" if rest else "")


@lru_cache(maxsize=32)
def _catalog(locales_dir: Path, language: str) -> dict[str, str]:
    path = locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and isinstance(message.id, str) and message.string
    }


def _message(locale: str, msgid: str, locales_dir: Path | None) -> str | None:
    folder = locales_dir if locales_dir is not None else data_dir("locales")
    language = Locale.parse(locale.replace("-", "_")).language
    for candidate in (locale, language):
        text = _catalog(folder, candidate).get(msgid)
        if text:
            return text
    return None


def format_due(locale: str, dt: datetime, tz_name: str, *, locales_dir: Path | None = None) -> str:
    """`dt` (aware, any zone) in `tz_name`, worded for `locale`.

    >>> format_due("id", datetime(2026, 3, 25, 9, 0, tzinfo=UTC), "Asia/Jakarta")
    'Rabu, 25 Maret 2026 pukul 16.00 WIB'
    """
    if dt.tzinfo is None:
        raise ValueError("format_due needs an aware datetime")
    zone = ZoneInfo(tz_name)
    pattern = _message(locale, "time.due_pattern", locales_dir) or _FALLBACK_PATTERN
    text = format_datetime(dt, pattern, tzinfo=zone, locale=locale)
    return f"{text} {zone_abbreviation(tz_name, locale, dt.astimezone(zone))}"


def format_relative(locale: str, delta: timedelta, *, locales_dir: Path | None = None) -> str:
    """Time left until a deadline (`delta` >= 0) or past it (`delta` < 0).

    "2 jam lagi" / "terlambat 1 hari" in Indonesian, "in 2 hours" / "1 day overdue" in English.
    """
    overdue = delta < timedelta(0)
    amount = format_timedelta(abs(delta), locale=locale)
    msgid = "time.overdue" if overdue else "time.remaining"
    wording = _message(locale, msgid, locales_dir)
    if wording is None:
        # No catalog for this language: Babel's own direction words ("in 2 hours", "2 hours ago").
        return format_timedelta(delta, add_direction=True, locale=locale)
    return wording.format(duration=amount)
