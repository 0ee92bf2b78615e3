"""The schema of a service-standard data file: one office (agency) and its standards.

Every model forbids unknown fields, so a misspelt key fails at load instead of being ignored.
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from laporbot.durations import Duration, DurationUnit, parse_duration
from laporbot.errors import DurationError
from laporbot.reminders.plans import ReminderPlanSpec
from laporbot.workcalendar import OfficeHours, WorkCalendar

DEFAULT_COMPLAINT_RESPONSE = "2x24 jam"

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

NonEmpty = Annotated[str, Field(min_length=1)]


class ReportCategory(StrEnum):
    """What a citizen reports; a standard serves one or more categories."""

    ANAK_TERLANTAR = "anak_terlantar"
    LANSIA_TERLANTAR = "lansia_terlantar"
    ANAK_JALANAN = "anak_jalanan"
    ANAK_KORBAN_NAPZA = "anak_korban_napza"
    OTHER = "other"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _duration_of(text: str) -> Duration:
    try:
        return parse_duration(text)
    except DurationError:
        raise ValueError(f"unknown duration form {text!r}") from None


class Contacts(_Model):
    """How to reach an office."""

    phone: list[NonEmpty] = []
    website: list[NonEmpty] = []
    email: list[NonEmpty] = []


class OfficeHoursSpec(_Model):
    """Office hours as written in a file: "08:00"-"16:00" on named weekdays."""

    start: time = time(8, 0)
    end: time = time(16, 0)
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = [
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    ]

    @model_validator(mode="after")
    def _check(self) -> OfficeHoursSpec:
        if not self.start < self.end:
            raise ValueError(f"office hours must open before they close ({self.start}-{self.end})")
        if not self.weekdays:
            raise ValueError("office hours need at least one weekday")
        return self

    def to_office_hours(self) -> OfficeHours:
        """The deadline engine's value for these hours."""
        return OfficeHours(
            start=self.start,
            end=self.end,
            weekdays=frozenset(_WEEKDAYS.index(day) for day in self.weekdays),
        )


class GeoPoint(_Model):
    """A representative point (WGS84 degrees) used to find the nearest office."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ServedArea(_Model):
    """A kabupaten/kota an office serves; `kecamatan` empty means the whole kabupaten/kota."""

    kabupaten: NonEmpty
    kecamatan: list[NonEmpty] = []


class Jurisdiction(_Model):
    """The government an office belongs to: a province or one kabupaten/kota in it."""

    level: Literal["provinsi", "kabupaten", "kota"]
    province: NonEmpty


class ProcedureTrack(_Model):
    """One named way through a procedure (Bangka Belitung's tracks A and B); steps in order."""

    name: NonEmpty | None = None
    title: NonEmpty | None = None
    requirements: list[NonEmpty] = []
    steps: list[NonEmpty]

    @field_validator("steps")
    @classmethod
    def _has_steps(cls, steps: list[str]) -> list[str]:
        if not steps:
            raise ValueError("procedure has no steps")
        return steps


class ComplaintChannel(_Model):
    """One way to file a complaint, as the standard lists it."""

    kind: Literal[
        "in_person",
        "letter",
        "complaint_box",
        "phone",
        "sms_wa",
        "email",
        "website",
        "app",
        "facebook",
        "instagram",
        "twitter",
        "youtube",
        "other",
    ]
    value: NonEmpty
    label: NonEmpty | None = None


class ServiceStandard(_Model):
    """One standar pelayanan: what is needed, the steps, how long it takes, how to complain."""

    code: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    title: NonEmpty
    legal_basis: NonEmpty
    target_groups: list[NonEmpty] = Field(min_length=1)
    categories: list[ReportCategory] = Field(min_length=1)
    requirements: list[NonEmpty] = []
    procedure: list[ProcedureTrack]
    completion_time: NonEmpty
    completion_note: NonEmpty | None = None
    cost: NonEmpty
    products: list[NonEmpty] = Field(min_length=1)
    complaint_channels: list[ComplaintChannel] = Field(min_length=1)
    complaint_notes: list[NonEmpty] = []
    complaint_response_time: NonEmpty = DEFAULT_COMPLAINT_RESPONSE
    # Replaces the default reminder rules of the plan kinds it names (laporbot.reminders.plans).
    reminder_plan: ReminderPlanSpec | None = None
    # Filled in by the loader from the file's agency; a file may not set it.
    agency_code: SkipJsonSchema[str] = Field(default="", exclude=True)

    @field_validator("completion_time")
    @classmethod
    def _completion_parses(cls, text: str) -> str:
        _duration_of(text)
        return text

    @field_validator("complaint_response_time")
    @classmethod
    def _response_parses(cls, text: str) -> str:
        if _duration_of(text).unit is not DurationUnit.HOURS:
            raise ValueError(f"complaint response time must be in jam, not {text!r}")
        return text

    @field_validator("procedure")
    @classmethod
    def _has_procedure(cls, tracks: list[ProcedureTrack]) -> list[ProcedureTrack]:
        if not tracks:
            raise ValueError("procedure has no steps")
        if len(tracks) > 1 and any(track.name is None for track in tracks):
            raise ValueError("a procedure with several tracks must name each track")
        names = [track.name for track in tracks]
        if len(set(names)) != len(names):
            raise ValueError("procedure track names must differ")
        return tracks

    @model_validator(mode="after")
    def _has_requirements(self) -> ServiceStandard:
        if not self.requirements and not any(track.requirements for track in self.procedure):
            raise ValueError("requirements: a standard needs at least one requirement")
        return self

    @property
    def completion(self) -> Duration:
        """The completion time, parsed."""
        return parse_duration(self.completion_time)

    @property
    def complaint_response(self) -> Duration:
        """The complaint response limit, parsed (2x24 jam unless the standard says otherwise)."""
        return parse_duration(self.complaint_response_time)

    def serves(self, category: ReportCategory | str) -> bool:
        """True when this standard handles reports of `category`."""
        return ReportCategory(category) in self.categories


class Agency(_Model):
    """An office (Dinas Sosial) as one data file describes it."""

    code: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    name: NonEmpty
    parent: NonEmpty
    jurisdiction: Jurisdiction
    address: NonEmpty
    postal_code: NonEmpty | None = None
    contacts: Contacts = Contacts()
    time_zone: NonEmpty
    office_hours: OfficeHoursSpec = OfficeHoursSpec()
    extra_non_working_days: list[date] = []
    location: GeoPoint
    areas: list[ServedArea] = Field(min_length=1)
    standards: list[ServiceStandard] = Field(min_length=1)

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {name!r}") from None
        return name

    @model_validator(mode="after")
    def _unique_standards(self) -> Agency:
        codes = [standard.code for standard in self.standards]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            raise ValueError(f"standards: duplicate code(s) {', '.join(duplicates)}")
        return self

    def calendar(self) -> WorkCalendar:
        """This office's working calendar (zone, hours, extra closed days)."""
        return WorkCalendar(
            self.time_zone, self.office_hours.to_office_hours(), self.extra_non_working_days
        )
