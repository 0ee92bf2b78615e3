"""`laporbot db ...`: migrate the database and tell which revision it is at."""

from __future__ import annotations

import asyncio

import click

from laporbot.cli import main, settings_of
from laporbot.db import migrate


@main.group()
def db() -> None:
    """Database schema: migrations."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Bring the database schema up to date (safe to run again)."""
    settings = settings_of(ctx)
    asyncio.run(migrate.upgrade(settings, revision))
    click.echo(f"database at {asyncio.run(migrate.current(settings))}")


@db.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """Show the revision the database is at, and the newest one this laporbot ships."""
    now = asyncio.run(migrate.current(settings_of(ctx)))
    newest = migrate.head()
    click.echo(f"database: {now or 'not migrated'}")
    click.echo(f"newest:   {newest}")
    if now != newest:
        ctx.exit(1)


@db.command()
@click.option("-m", "--message", required=True, help="What the revision changes.")
@click.pass_context
def revision(ctx: click.Context, message: str) -> None:
    """For developers: write a new migration from the difference between models and database."""
    path = asyncio.run(migrate.revision(settings_of(ctx), message))
    click.echo(path)
