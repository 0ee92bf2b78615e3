"""`laporbot officers ...`: invite officers and groups, list, revoke, change roles.

An invite code is redeemed in Telegram: `/daftar CODE Your Name` in a private chat with the bot
binds the sender to the agency and role; a `group` code sent as `/daftar CODE` in a group
registers it as the office's triage group (`/daftar CODE pengaduan`: its complaints group).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.cli import in_transaction, main, settings_of
from laporbot.clock import SystemClock
from laporbot.db import agencies as agency_rows
from laporbot.errors import BadRequest, NotFound
from laporbot.officers import invites
from laporbot.standards import load_registry

T = TypeVar("T")


def _run(ctx: click.Context, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    try:
        return asyncio.run(in_transaction(settings_of(ctx), work))
    except (NotFound, BadRequest) as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def officers() -> None:
    """Officers and office groups: invites, roles, revocation."""


@officers.command()
@click.option("--agency", "agency_code", required=True, help="Agency code (see standards files).")
@click.option(
    "--role",
    type=click.Choice(list(invites.INVITE_ROLES)),
    default="officer",
    show_default=True,
    help="Role of the person, or `group` to register an office group.",
)
@click.option("--days", default=7, show_default=True, help="Days the code stays valid.")
@click.pass_context
def invite(ctx: click.Context, agency_code: str, role: str, days: int) -> None:
    """Create a one-time invite code for an agency and role."""
    settings = settings_of(ctx)
    registry = load_registry(settings.standards_dir)
    try:
        agency = registry.agency(agency_code)
    except NotFound as exc:
        known = ", ".join(a.code for a in registry.agencies)
        raise click.ClickException(f"{exc}; known agencies: {known}") from exc

    async def work(db: AsyncSession) -> tuple[str, str]:
        await agency_rows.sync_agencies(db, [(agency.code, agency.name, agency.time_zone)])
        created = await invites.create_invite(
            db,
            agency_code=agency.code,
            role=role,
            now=SystemClock().now(),
            validity=timedelta(days=days),
        )
        return created.code, created.expires_at.isoformat()

    code, expires = _run(ctx, work)
    click.echo(code)
    how = "/daftar " + code + (" (in the office group)" if role == "group" else " <name>")
    click.echo(f"valid until {expires}; redeem in Telegram with: {how}", err=True)


@officers.command("list")
@click.option("--agency", "agency_code", default=None, help="Only this agency.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@click.pass_context
def list_officers(ctx: click.Context, agency_code: str | None, as_json: bool) -> None:
    """Every officer: id, agency, role, name, Telegram user id, active or revoked."""

    async def work(db: AsyncSession) -> list[dict[str, Any]]:
        return [
            {
                "id": o.id,
                "agency": o.agency_code,
                "role": o.role,
                "name": o.display_name,
                "telegram_user_id": o.telegram_user_id,
                "state": "active" if o.active and o.revoked_at is None else "revoked",
            }
            for o in await invites.list_officers(db, agency_code)
        ]

    rows = _run(ctx, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    header = ["id", "agency", "role", "name", "telegram_user_id", "state"]
    table = [[str(row[key]) for key in header] for row in rows]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *table]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


@officers.command()
@click.argument("officer_id", type=int)
@click.pass_context
def revoke(ctx: click.Context, officer_id: int) -> None:
    """End an officer's access now (their next message finds no binding)."""

    async def work(db: AsyncSession) -> str:
        gone = await invites.revoke(db, officer_id, SystemClock().now())
        return gone.display_name

    click.echo(f"revoked officer {officer_id} ({_run(ctx, work)})")


@officers.command("set-role")
@click.argument("officer_id", type=int)
@click.argument("role", type=click.Choice(["officer", "supervisor", "admin"]))
@click.pass_context
def set_role(ctx: click.Context, officer_id: int, role: str) -> None:
    """Change an officer's role."""

    async def work(db: AsyncSession) -> str:
        changed = await invites.set_role(db, officer_id, role)
        return changed.display_name

    click.echo(f"officer {officer_id} ({_run(ctx, work)}) is now {role}")
