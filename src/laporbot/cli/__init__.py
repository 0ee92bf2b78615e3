"""The `laporbot` command. Each area registers its group in its own module below."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import click

from laporbot.errors import ConfigError, DataFileError
from laporbot.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

#: Exit status of a command stopped by a broken data file or unusable settings.
EXIT_BAD_SETUP = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """laporbot: citizen reports and service-standard deadlines for Dinas Sosial offices."""
    ctx.ensure_object(dict)


def settings_of(ctx: click.Context) -> Settings:
    """The settings, read once per command run (tests may put their own in `ctx.obj`)."""
    obj = ctx.find_root().ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = Settings()
    settings: Settings = obj["settings"]
    return settings


async def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate the configured database, then run `work` in one transaction on it."""
    from laporbot.db import migrate
    from laporbot.db.engine import create_engine, make_sessionmaker

    await migrate.upgrade(settings)
    engine = create_engine(settings)
    try:
        async with make_sessionmaker(engine)() as db, db.begin():
            return await work(db)
    finally:
        await engine.dispose()


@contextmanager
def setup_errors_exit() -> Iterator[None]:
    """Turn a broken data file (`file: where: problem`) or unusable settings into one line on
    stderr and exit status 2, instead of a traceback: they are the operator's to fix."""
    try:
        yield
    except (DataFileError, ConfigError) as exc:
        raise _SetupError(str(exc)) from exc


class _SetupError(click.ClickException):
    exit_code = EXIT_BAD_SETUP


# Areas add their command groups here, one import each.
from laporbot.cli import cases as _cases  # noqa: E402,F401
from laporbot.cli import chat as _chat  # noqa: E402,F401
from laporbot.cli import db as _db  # noqa: E402,F401
from laporbot.cli import flows as _flows  # noqa: E402,F401
from laporbot.cli import officers as _officers  # noqa: E402,F401
from laporbot.cli import privacy as _privacy  # noqa: E402,F401
from laporbot.cli import reminders as _reminders  # noqa: E402,F401
from laporbot.cli import serve as _serve  # noqa: E402,F401
from laporbot.cli import standards as _standards  # noqa: E402,F401
