"""`laporbot cases list|show`: the cases in the configured database, for administrators.

Plain English for a terminal; the case's own data (areas, the standard's titles) as stored.
`cases show` prints personal data (the address, the exact location, the subject, the photo),
so each time it does, the case's audit log records who looked (as officers' views are);
`--redacted` prints the case without them and records nothing.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.cli import in_transaction, main, settings_of
from laporbot.clock import Clock, SystemClock
from laporbot.db.cases import append_event, events_of, get_case
from laporbot.db.models import Case
from laporbot.errors import NotFound
from laporbot.settings import Settings


def _summary(case: Case) -> dict[str, Any]:
    return {
        "number": case.number,
        "agency": case.agency_code,
        "standard": case.standard_code,
        "category": case.category,
        "priority": case.priority,
        "status": case.status,
        "received_at": case.received_at.isoformat(),
        "due_at": case.due_at.isoformat() if case.due_at else None,
    }


async def _list(settings: Settings, status: str | None) -> list[dict[str, Any]]:
    async def work(db: AsyncSession) -> list[dict[str, Any]]:
        query = select(Case).order_by(Case.priority, Case.received_at, Case.id)
        if status:
            query = query.where(Case.status == status)
        return [_summary(case) for case in (await db.scalars(query)).all()]

    return await in_transaction(settings, work)


#: The fields of `cases show` that identify a person; `--redacted` leaves them out.
PERSONAL_FIELDS = ("address", "latitude", "longitude", "subject", "photo", "details")
REDACTED = "(redacted)"
#: The case event an administrator's look at personal data leaves (officers': details_viewed).
VIEWED_EVENT = "viewed_personal_data"


def os_user() -> str:
    """Who runs the command, as the operating system knows them."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


async def _show(settings: Settings, number: str, clock: Clock, *, redacted: bool) -> dict[str, Any]:
    async def work(db: AsyncSession) -> dict[str, Any]:
        case = await get_case(db, number.strip().upper())
        if not redacted:
            # Recorded before anything is printed: a look at personal data is never
            # missing from the log, even if printing fails half way.
            await append_event(
                db,
                case.id,
                at=clock.now(),
                actor_kind="system",
                actor_id=os_user(),
                kind=VIEWED_EVENT,
                data={"via": "cli", "command": "cases show"},
            )
        events = await events_of(db, case.id)
        personal: dict[str, Any] = {
            "address": case.address,
            "latitude": case.latitude,
            "longitude": case.longitude,
            "subject": case.subject,
            "photo": case.photo_ref,
            "details": case.details,
        }
        if redacted:
            personal = {key: REDACTED for key in PERSONAL_FIELDS}
        return {
            **_summary(case),
            "track": case.track,
            "current_step": case.current_step,
            "kabupaten": case.kabupaten,
            "kecamatan": case.kecamatan,
            "address": personal["address"],
            "latitude": personal["latitude"],
            "longitude": personal["longitude"],
            "subject": personal["subject"],
            "photo": personal["photo"],
            "anonymous": case.anonymous,
            "locale": case.locale,
            "assigned_officer_id": case.assigned_officer_id,
            "details": personal["details"],
            "events": [
                {
                    "at": event.at.isoformat(),
                    "actor": event.actor_kind,
                    "actor_id": event.actor_id,
                    "kind": event.kind,
                    "data": event.data,
                }
                for event in events
            ],
        }

    return await in_transaction(settings, work)


@main.group()
def cases() -> None:
    """Cases opened from citizen reports."""


_FORMAT = click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A readable table or JSON.",
)


@cases.command("list")
@_FORMAT
@click.option("--status", default=None, help="Only cases in this status (new, claimed, ...).")
@click.pass_context
def list_cases(ctx: click.Context, output: str, status: str | None) -> None:
    """Every case, most urgent first: number, office, standard, priority, status, due time."""
    rows = asyncio.run(_list(settings_of(ctx), status))
    if output == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    header = ["number", "agency", "standard", "category", "priority", "status", "due_at"]
    table = [[str(row[key] if row[key] is not None else "-") for key in header] for row in rows]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *table]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


@cases.command("show")
@click.argument("number")
@_FORMAT
@click.option(
    "--redacted",
    is_flag=True,
    help="Leave out the personal data (address, location, subject, photo, details); "
    "nothing is recorded.",
)
@click.pass_context
def show_case(ctx: click.Context, number: str, output: str, redacted: bool) -> None:
    """One case's details and its event timeline. Printing the personal data is recorded in
    the case's audit log (who: the operating-system user)."""
    clock: Clock = ctx.find_root().ensure_object(dict).get("clock") or SystemClock()
    try:
        case = asyncio.run(_show(settings_of(ctx), number, clock, redacted=redacted))
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    if output == "json":
        click.echo(json.dumps(case, indent=2, ensure_ascii=False))
        return
    for key, value in case.items():
        if key != "events":
            click.echo(f"{key + ':':<20} {value if value is not None else '-'}")
    click.echo("events:")
    for event in case["events"]:
        who = event["actor"] + (f":{event['actor_id']}" if event["actor_id"] else "")
        click.echo(f"  {event['at']}  {who:<8} {event['kind']}  {event['data']}")
