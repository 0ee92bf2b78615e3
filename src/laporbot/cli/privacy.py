"""`laporbot privacy export|erase|purge`: personal data on a person's request and after the
retention period (UU 27/2022), for administrators. See `laporbot.dataprotection`.

A person is named by `--channel` and `--user` (their platform user id or chat id: a Telegram
user id, a WhatsApp number or scoped user id, a web chat client id) or by `--phone`.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot import dataprotection
from laporbot.cli import in_transaction, main, settings_of
from laporbot.cli.cases import os_user
from laporbot.clock import Clock, SystemClock
from laporbot.db import migrate
from laporbot.db.engine import create_engine, make_sessionmaker
from laporbot.db.models import Contact


def _clock(ctx: click.Context) -> Clock:
    clock: Clock = ctx.find_root().ensure_object(dict).get("clock") or SystemClock()
    return clock


async def _person(
    db: AsyncSession, channel: str | None, user: str | None, phone: str | None
) -> list[Contact]:
    try:
        return await dataprotection.find_contacts(db, channel=channel, user_id=user, phone=phone)
    except dataprotection.PersonNotFound as exc:
        raise click.ClickException(str(exc)) from exc


_CHANNEL = click.option(
    "--channel", type=click.Choice(["telegram", "whatsapp", "web", "terminal"]), default=None
)
_USER = click.option("--user", default=None, help="Platform user id or chat id on --channel.")
_PHONE = click.option("--phone", default=None, help="The phone number they gave (any channel).")


def _check_person(channel: str | None, user: str | None, phone: str | None) -> None:
    if phone is None and (channel is None or user is None):
        raise click.UsageError("name the person: --channel and --user, or --phone")


@main.group()
def privacy() -> None:
    """Personal data (UU 27/2022): export or erase one person's data, purge expired data."""


@privacy.command("export")
@_CHANNEL
@_USER
@_PHONE
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the JSON here (created readable by its owner only) instead of printing it.",
)
@click.pass_context
def export(
    ctx: click.Context,
    channel: str | None,
    user: str | None,
    phone: str | None,
    output: Path | None,
) -> None:
    """Everything laporbot keeps about one person, as JSON. Recorded in the audit log of each
    of their cases (who: the operating-system user)."""
    _check_person(channel, user, phone)
    now = _clock(ctx).now()

    async def work(db: AsyncSession) -> dict[str, Any]:
        contacts = await _person(db, channel, user, phone)
        return await dataprotection.export_person(db, contacts, now, f"cli:{os_user()}")

    data = asyncio.run(in_transaction(settings_of(ctx), work))
    text = dataprotection.dumps(data)
    if output is None:
        click.echo(text)
        return
    # Only its owner may read it, whatever a file of that name allowed before.
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    click.echo(f"wrote {output} ({len(data['cases'])} cases, {len(data['complaints'])} complaints)")


@privacy.command("erase")
@_CHANNEL
@_USER
@_PHONE
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase(
    ctx: click.Context, channel: str | None, user: str | None, phone: str | None, yes: bool
) -> None:
    """Forget one person: their contact ids and phone, conversations, messages; their cases
    and complaints are unlinked from them (the case itself stays, for the office's record)."""
    _check_person(channel, user, phone)
    if not yes:
        click.confirm("Erase this person's data? This cannot be undone", abort=True)
    now = _clock(ctx).now()

    async def work(db: AsyncSession) -> dataprotection.Erasure:
        contacts = await _person(db, channel, user, phone)
        return await dataprotection.erase_person(db, contacts, now, f"cli:{os_user()}")

    done = asyncio.run(in_transaction(settings_of(ctx), work))
    click.echo(json.dumps(asdict(done), indent=2))


@privacy.command("purge")
@click.pass_context
def purge(ctx: click.Context) -> None:
    """Remove the personal data `retention_days` and the traffic `transport_retention_days` no
    longer allow; `laporbot serve` does this every hour by itself."""
    settings = settings_of(ctx)
    now = _clock(ctx).now()

    async def run() -> dataprotection.Purge:
        await migrate.upgrade(settings)
        engine = create_engine(settings)
        try:
            return await dataprotection.purge_all(make_sessionmaker(engine), settings, now)
        finally:
            await engine.dispose()

    done = asyncio.run(run())
    click.echo(
        json.dumps(
            {
                "cases": done.cases,
                "complaints": done.complaints,
                "photos": done.photos,
                "contacts": done.erasure.contacts,
                "conversations": done.sessions,
                "inbound_updates": done.inbox,
                "sent_messages": done.outbox,
            },
            indent=2,
        )
    )
