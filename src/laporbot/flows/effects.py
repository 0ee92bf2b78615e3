"""What the engine asks the application to do. Data only: the engine never sends or writes.

The application applies them in one transaction (`laporbot.intake`): `Send` becomes an outbox
row, an action (`OpenCase`, `FileComplaint`, `LookUpCase`, `ListOffices`) is carried out and
its outcome fed back to the engine as an `ActionResult` resume, `EndSession` closes the session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from laporbot.messages import Button

EndReason = Literal["done", "cancelled", "expired"]


@dataclass(frozen=True, slots=True)
class Send:
    """A message to the citizen, its text already in their language."""

    text: str
    buttons: tuple[Button, ...] = ()
    request_location: bool = False


@dataclass(frozen=True, slots=True)
class OpenCase:
    """Open a case from a confirmed report; the outcome comes back as an `ActionResult`.

    `location` holds `latitude`/`longitude` for a shared pin and/or `kabupaten`, `kecamatan`,
    `address` typed by the reporter. `subject` is the protected person (age, sex, condition).
    `priority` 0 is an emergency (someone in danger now).
    """

    category: str
    priority: int
    location: dict[str, Any]
    subject: dict[str, Any]
    photo_ref: str | None
    anonymous: bool
    phone: str | None
    consent: bool
    locale: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileComplaint:
    """File a complaint (pengaduan) about a case (by number) or an office (by area)."""

    about_case: str | None
    about_area: str | None
    text: str
    anonymous: bool
    phone: str | None
    consent: bool
    locale: str


@dataclass(frozen=True, slots=True)
class LookUpCase:
    """Look a case or complaint up by number, for the person who filed it only."""

    number: str
    locale: str


@dataclass(frozen=True, slots=True)
class ListOffices:
    """List the offices and their contacts (help flow, talk to an officer)."""

    locale: str


@dataclass(frozen=True, slots=True)
class EndSession:
    """The conversation is over; the next message starts a new one."""

    reason: EndReason = "done"


Action = OpenCase | FileComplaint | LookUpCase | ListOffices
Effect = Send | OpenCase | FileComplaint | LookUpCase | ListOffices | EndSession
