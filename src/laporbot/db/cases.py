"""Cases and their append-only event log.

There is no function to change or remove an event, and the database refuses UPDATE and DELETE
on `case_events` with a trigger (both dialects).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, String, Table, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from laporbot.db import direct
from laporbot.db._sql import dialect_of
from laporbot.db.agencies import get_agency
from laporbot.db.models import Case, CaseEvent
from laporbot.db.numbers import CASE_PREFIX, allocate_number
from laporbot.errors import NotFound


async def local_year(
    session: AsyncSession, agency_code: str, at: datetime, time_zone: str | None = None
) -> int:
    """The calendar year of `at` in the agency's time zone (numbers restart on 1 January
    there, not in UTC). `time_zone`: the agency's, when the caller knows it (the standards
    files it is synced from say it), so the agency row is not read."""
    if time_zone is None:
        time_zone = (await get_agency(session, agency_code)).time_zone
    return at.astimezone(ZoneInfo(time_zone)).year


async def create_case(
    session: AsyncSession,
    *,
    agency_code: str,
    standard_code: str,
    category: str,
    locale: str,
    received_at: datetime,
    time_zone: str | None = None,
    event: Mapping[str, Any] | None = None,
    along: direct.Along | None = None,
    **fields: Any,
) -> Case:
    """Open a case with a fresh number (`LPR-<year>-<nnnnnn>`); `fields` are further `Case`
    columns (priority, area, subject, reporter_contact_id, due_at, ...). `time_zone`: the
    agency's, when known (see `local_year`). `event`: its first audit line, as the arguments
    of `append_event` but the case (`at`, `actor_kind`, `kind`, optional `actor_id`, `data`).

    On PostgreSQL the number, the case and its event are ONE statement (writable CTEs): a
    case opening's two round trips fewer, and the number's row lock taken one round trip
    later; `along`, another write that statement carries (`direct.Along`: the report's
    consent on the contact). Elsewhere the number is taken, then the case and the event
    inserted."""
    if along is not None and dialect_of(session) != "postgresql":
        raise ValueError("only PostgreSQL statements carry another write")
    year = await local_year(session, agency_code, received_at, time_zone)
    values = (
        _defaults()
        # Every column given (NULL for those not named, as the database would store them), so
        # the new case is whole in memory: what reads it in this transaction (the triage
        # post's privacy check) need not ask the database again.
        | dict.fromkeys(_NULL_UNLESS_GIVEN)
        | fields
        | {
            "agency_code": agency_code,
            "standard_code": standard_code,
            "category": category,
            "locale": locale,
            "received_at": received_at,
        }
    )
    row = _event_row(event) if event is not None else None
    if dialect_of(session) == "postgresql":
        return await _create_in_one(session, f"{CASE_PREFIX}-{year}", values, row, along)
    case = Case(number=await allocate_number(session, CASE_PREFIX, year), **values)
    session.add(case)
    await session.flush()
    if row is not None:
        await direct.execute(
            session, "cases.append_event", _event_insert, {"case_id": case.id} | row
        )
    return case


async def _create_in_one(
    session: AsyncSession,
    series: str,
    values: dict[str, Any],
    event: dict[str, Any] | None,
    along: direct.Along | None,
) -> Case:
    name = "cases.create_in_one" + ("+event" if event is not None else "")
    params = {"series": series, **values, **{f"event_{k}": v for k, v in (event or {}).items()}}
    if along is not None:
        name += f"+{along.name}"
        params |= along.params

    def build(_dialect: str) -> Any:
        return _create_statement(event is not None, along)

    found = await direct.rows(session, name, build, params)
    ((case_id, number),) = found
    # Made as if loaded (no SELECT): a flush writes only what is changed afterwards.
    case = Case(id=case_id, number=number, **values)
    make_transient_to_detached(case)
    session.add(case)
    return case


def _create_statement(with_event: bool, along: direct.Along | None = None) -> Any:
    table = cast(Table, Case.__table__)
    names = [c.name for c in table.c if c.name not in ("id", "number")]
    # The number as `allocate_number` writes it: at least six digits.
    number = ":series || '-' || lpad(n.value::text, greatest(6, length(n.value::text)), '0')"
    sql = (
        "WITH "
        + (f"{along.sql}, " if along is not None else "")
        + "n AS (INSERT INTO number_counters (name, value) VALUES (:series, 1)"
        " ON CONFLICT (name) DO UPDATE SET value = number_counters.value + 1"
        " RETURNING number_counters.value),"
        f" c AS (INSERT INTO cases (number, {', '.join(names)})"
        f" SELECT {number}, {', '.join(f':{name}' for name in names)} FROM n"
        " RETURNING cases.id, cases.number)"
    )
    binds = [bindparam("series", type_=String()), *(along.binds if along is not None else ())]
    binds += [bindparam(name, type_=table.c[name].type) for name in names]
    if with_event:
        events = cast(Table, CaseEvent.__table__)
        columns = [c.name for c in events.c if c.name not in ("id", "case_id")]
        sql += (
            f", e AS (INSERT INTO case_events (case_id, {', '.join(columns)})"
            f" SELECT c.id, {', '.join(f':event_{name}' for name in columns)} FROM c)"
        )
        binds += [bindparam(f"event_{name}", type_=events.c[name].type) for name in columns]
    sql += " SELECT c.id, c.number FROM c"
    return text(sql).bindparams(*binds).columns(table.c.id, table.c.number)


def _event_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """An `append_event` line's columns but the case's."""
    actor_kind = event["actor_kind"]
    if actor_kind not in ("citizen", "officer", "system"):
        raise ValueError(f"unknown actor kind {actor_kind!r}")
    return {
        "at": event["at"],
        "actor_kind": actor_kind,
        "actor_id": event.get("actor_id"),
        "kind": event["kind"],
        "data": dict(event.get("data") or {}),
    }


# The columns of `cases` that are NULL unless given (no default of their own).
_NULL_UNLESS_GIVEN = tuple(
    column.key
    for column in Case.__table__.columns
    if column.nullable
    and column.default is None
    and column.server_default is None
    and not column.primary_key
)

# The columns of `cases` with a default of their own (the models' defaults are plain values
# or functions of nothing, such as `_json_dict`).
_DEFAULTED = tuple(
    (column.key, column.default)
    for column in Case.__table__.columns
    if column.default is not None and not column.primary_key
)


def _defaults() -> dict[str, Any]:
    """Those columns' defaults, fresh (a new dict for each JSON column)."""
    return {
        key: default.arg if default.is_scalar else default.arg(None) for key, default in _DEFAULTED
    }


async def get_case(session: AsyncSession, number: str) -> Case:
    """The case with `number`; raises `NotFound`."""
    case = await session.scalar(select(Case).where(Case.number == number))
    if case is None:
        raise NotFound("case", number)
    return case


async def append_event(
    session: AsyncSession,
    case_id: int,
    *,
    at: datetime,
    actor_kind: str,
    kind: str,
    actor_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add one line to the case's audit log. Keep personal data out of `data` (refer to the
    case's own columns instead): events are never rewritten, not even to erase a person.

    A Core INSERT, not an ORM object: an event is written on every case change (two when a
    case opens) and nothing reads it back in the same transaction except by query."""
    line = {"at": at, "actor_kind": actor_kind, "actor_id": actor_id, "kind": kind, "data": data}
    row = {"case_id": case_id} | _event_row(line)
    await direct.execute(session, "cases.append_event", _event_insert, row)


def _event_insert(_dialect: str) -> Insert:
    return direct.insert_all(cast(Table, CaseEvent.__table__))


async def events_of(session: AsyncSession, case_id: int) -> list[CaseEvent]:
    """The case's events, oldest first."""
    result = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    )
    return list(result.all())
