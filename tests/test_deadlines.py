"""The deadline engine: every seed standard, the 2026 holidays, month ends, and properties."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from laporbot.deadlines import add_months, due_time, localize, working_days_left
from laporbot.durations import Duration, DurationUnit, parse_duration
from laporbot.paths import data_dir
from laporbot.standards import StandardsRegistry, load_registry
from laporbot.workcalendar import WorkCalendar

WIB = ZoneInfo("Asia/Jakarta")
JAKARTA = WorkCalendar("Asia/Jakarta")


@pytest.fixture(scope="module")
def registry() -> StandardsRegistry:
    return load_registry(data_dir("standards"))


def wib(*args: int) -> datetime:
    return datetime(*args, tzinfo=WIB)  # type: ignore[misc]


# -- every seed standard --------------------------------------------------------------------


def test_lumajang_received_tuesday_before_nyepi_and_idul_fitri(
    registry: StandardsRegistry,
) -> None:
    # Tuesday 17 March 2026, in office hours. The package gives 18 Mar cuti bersama Nyepi,
    # 19 Nyepi, 20 cuti bersama Idul Fitri, 21-22 Idul Fitri (a weekend), 23-24 cuti bersama:
    # the first working day after the 17th is Wednesday 25 March, due at closing, 16:00 WIB.
    due = registry.due("lumajang-rekomendasi-anak", wib(2026, 3, 17, 10, 15))
    assert due == datetime(2026, 3, 25, 9, 0, tzinfo=UTC)
    assert due.tzinfo is UTC
    assert localize(due, JAKARTA) == wib(2026, 3, 25, 16, 0)


def test_lumajang_received_saturday_night(registry: StandardsRegistry) -> None:
    # Saturday 14 March 2026, 22:40 WIB: next working day after Saturday is Monday 16 March.
    assert registry.due("lumajang-rekomendasi-anak", wib(2026, 3, 14, 22, 40)) == wib(
        2026, 3, 16, 16, 0
    )
    # Saturday 21 March 2026 (Idul Fitri) at night: the holidays run through Tuesday 24.
    assert registry.due("lumajang-rekomendasi-anak", wib(2026, 3, 21, 21, 0)) == wib(
        2026, 3, 25, 16, 0
    )


@pytest.mark.parametrize("hour", [7, 10, 15, 16, 23])
def test_working_day_received_friday_is_due_monday_at_closing(hour: int) -> None:
    due = due_time(wib(2026, 3, 13, hour, 0), parse_duration("1 Hari kerja"), JAKARTA)
    assert due == wib(2026, 3, 16, 16, 0)


def test_working_day_counts_the_local_day_of_receipt() -> None:
    # 20:30 UTC on Monday 16 March is already Tuesday 17 March 03:30 in Jakarta.
    received = datetime(2026, 3, 16, 20, 30, tzinfo=UTC)
    assert due_time(received, parse_duration("1 hari kerja"), JAKARTA) == wib(2026, 3, 25, 16)
    assert due_time(received, parse_duration("3 hari kerja"), JAKARTA) == wib(2026, 3, 27, 16)


def test_bintan_three_months(registry: StandardsRegistry) -> None:
    due = registry.due("bintan-rehab-anak", wib(2026, 3, 17, 10, 0))
    assert localize(due, JAKARTA) == wib(2026, 6, 17, 23, 59, 59)


def test_riau_seven_days(registry: StandardsRegistry) -> None:
    # Calendar days: the holidays of 18-24 March do not stretch it.
    due = registry.due("riau-penyerahan-anak-lansia", wib(2026, 3, 17, 10, 0))
    assert due == datetime(2026, 3, 24, 16, 59, 59, tzinfo=UTC)


def test_bangka_belitung_seven_days(registry: StandardsRegistry) -> None:
    due = registry.due("babel-rehab-orang-terlantar", wib(2026, 12, 28, 9, 0))
    assert localize(due, JAKARTA) == wib(2027, 1, 4, 23, 59, 59)


def test_banten_one_year(registry: StandardsRegistry) -> None:
    due = registry.due("banten-rehab-anak-terlantar", wib(2026, 3, 17, 10, 0))
    assert localize(due, JAKARTA) == wib(2027, 3, 17, 23, 59, 59)
    # A leap day clamps to 28 February.
    leap = registry.due("banten-rehab-anak-terlantar", wib(2028, 2, 29, 10, 0))
    assert localize(leap, JAKARTA) == wib(2029, 2, 28, 23, 59, 59)


@pytest.mark.parametrize(
    "code",
    [
        "bintan-rehab-anak",
        "riau-penyerahan-anak-lansia",
        "banten-rehab-anak-terlantar",
        "babel-rehab-orang-terlantar",
        "lumajang-rekomendasi-anak",
    ],
)
def test_complaint_response_is_48_hours(registry: StandardsRegistry, code: str) -> None:
    received = wib(2026, 3, 17, 10, 0)  # the holidays that follow do not matter
    assert registry.complaint_due(code, received) == received + timedelta(hours=48)
    assert registry.standard(code).complaint_response == Duration(48, DurationUnit.HOURS)


# -- calendar periods -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "months", "last"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 1, 30), 1, date(2026, 2, 28)),
        (date(2026, 3, 31), 3, date(2026, 6, 30)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
    ],
)
def test_month_ends_clamp(received: date, months: int, last: date) -> None:
    assert add_months(received, months) == last
    due = due_time(
        wib(received.year, received.month, received.day, 9),
        Duration(months, DurationUnit.MONTHS),
        JAKARTA,
    )
    assert localize(due, JAKARTA) == wib(last.year, last.month, last.day, 23, 59, 59)


def test_31_january_plus_one_bulan() -> None:
    due = due_time(wib(2026, 1, 31, 14, 0), "1 bulan", JAKARTA)
    assert localize(due, JAKARTA) == wib(2026, 2, 28, 23, 59, 59)


def test_hours_are_wall_clock() -> None:
    received = datetime(2026, 3, 18, 23, 30, tzinfo=UTC)
    assert due_time(received, "2x24 jam", JAKARTA) == datetime(2026, 3, 20, 23, 30, tzinfo=UTC)
    assert due_time(received, "5 jam", JAKARTA) == datetime(2026, 3, 19, 4, 30, tzinfo=UTC)


def test_calendar_periods_in_other_zones() -> None:
    jayapura = WorkCalendar("Asia/Jayapura")
    # 16:00 UTC on 1 March is already 2 March 01:00 WIT.
    due = due_time(datetime(2026, 3, 1, 16, 0, tzinfo=UTC), "7 hari", jayapura)
    assert due == datetime(2026, 3, 9, 14, 59, 59, tzinfo=UTC)


def test_naive_receipt_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_time(datetime(2026, 3, 17, 10, 0), "7 hari", JAKARTA)


def test_working_days_left() -> None:
    due = due_time(wib(2026, 3, 17, 10), "2 hari kerja", JAKARTA)
    assert localize(due, JAKARTA) == wib(2026, 3, 26, 16)
    assert working_days_left(wib(2026, 3, 17, 11), due, JAKARTA) == 2
    assert working_days_left(wib(2026, 3, 25, 11), due, JAKARTA) == 1
    assert working_days_left(wib(2026, 3, 30, 11), due, JAKARTA) == -2


# -- properties -----------------------------------------------------------------------------

any_receipt = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@st.composite
def month_end_receipt(draw: st.DrawFn) -> datetime:
    """A receipt in the last days of a month, where month arithmetic clamps."""
    year = draw(st.integers(2024, 2030))
    month = draw(st.integers(1, 12))
    last = monthrange(year, month)[1]
    day = draw(st.integers(max(1, last - 3), last))
    minute = draw(st.integers(0, 24 * 60 - 1))
    return wib(year, month, day, minute // 60, minute % 60).astimezone(UTC)


receipts = st.one_of(any_receipt, month_end_receipt())
durations = st.one_of(
    st.sampled_from(["3 Bulan", "7 Hari", "1 Tahun", "1 Hari kerja", "2x24 jam"]).map(
        parse_duration
    ),
    st.builds(Duration, st.integers(1, 30), st.sampled_from(list(DurationUnit))),
)
working_day_durations = st.builds(Duration, st.integers(1, 25), st.just(DurationUnit.WORKING_DAYS))


@settings(max_examples=300, deadline=None)
@given(received=receipts, duration=durations)
def test_due_is_never_before_receipt(received: datetime, duration: Duration) -> None:
    due = due_time(received, duration, JAKARTA)
    assert due > received
    assert due.tzinfo is UTC


@settings(max_examples=300, deadline=None)
@given(received=receipts, duration=working_day_durations)
def test_working_day_due_is_closing_time_of_a_working_day(
    received: datetime, duration: Duration
) -> None:
    local = localize(due_time(received, duration, JAKARTA), JAKARTA)
    assert JAKARTA.is_working_day(local.date())
    assert local == JAKARTA.close_of(local.date())
    received_day = localize(received, JAKARTA).date()
    assert JAKARTA.working_days_between(received_day, local.date()) == duration.amount


@settings(max_examples=300, deadline=None)
@given(
    first=receipts,
    gap=st.one_of(
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=36)),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
    ),
    duration=durations,
)
# A late receipt on 30 January and an early one on the 31st both clamp to 28 February.
@example(
    first=datetime(2026, 1, 30, 16, 0, tzinfo=UTC),
    gap=timedelta(hours=10),
    duration=Duration(1, DurationUnit.MONTHS),
)
def test_due_is_monotonic_in_receipt(first: datetime, gap: timedelta, duration: Duration) -> None:
    assert due_time(first, duration, JAKARTA) <= due_time(first + gap, duration, JAKARTA)
