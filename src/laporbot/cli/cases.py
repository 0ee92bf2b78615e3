"""`laporbot cases list|show`: the cases in the configured database, for administrators.

Plain English for a terminal; the case's own data (areas, the standard's titles) as stored.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
from sqlalchemy import select

from laporbot.cli import main, settings_of
from laporbot.db import migrate
from laporbot.db.cases import events_of, get_case
from laporbot.db.engine import create_engine, make_sessionmaker
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
    await migrate.upgrade(settings)
    engine = create_engine(settings)
    try:
        async with make_sessionmaker(engine)() as db:
            query = select(Case).order_by(Case.priority, Case.received_at, Case.id)
            if status:
                query = query.where(Case.status == status)
            return [_summary(case) for case in (await db.scalars(query)).all()]
    finally:
        await engine.dispose()


async def _show(settings: Settings, number: str) -> dict[str, Any]:
    await migrate.upgrade(settings)
    engine = create_engine(settings)
    try:
        async with make_sessionmaker(engine)() as db:
            case = await get_case(db, number.strip().upper())
            events = await events_of(db, case.id)
            return {
                **_summary(case),
                "track": case.track,
                "current_step": case.current_step,
                "kabupaten": case.kabupaten,
                "kecamatan": case.kecamatan,
                "address": case.address,
                "latitude": case.latitude,
                "longitude": case.longitude,
                "subject": case.subject,
                "photo": case.photo_ref,
                "anonymous": case.anonymous,
                "locale": case.locale,
                "assigned_officer_id": case.assigned_officer_id,
                "details": case.details,
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
    finally:
        await engine.dispose()


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
@click.pass_context
def show_case(ctx: click.Context, number: str, output: str) -> None:
    """One case's details and its event timeline."""
    try:
        case = asyncio.run(_show(settings_of(ctx), number))
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
