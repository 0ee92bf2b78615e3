"""`laporbot chat`: try the citizen flows in a terminal, as a citizen would on a phone.

Reads lines from standard input (works piped, with no terminal): a line is a message;
`/loc LAT,LON` shares a location; `/photo PATH` sends a photo; a number picks a button of the
last message. Prints the bot's messages with numbered buttons. The cases it opens are real
cases in the configured database (migrated first), so `laporbot cases list` shows them.
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from pathlib import Path
from typing import TextIO

import click

from laporbot.cli import main, settings_of, setup_errors_exit
from laporbot.clock import Clock, SystemClock
from laporbot.db import migrate
from laporbot.db import outbox as outbox_repo
from laporbot.db.engine import create_engine, make_sessionmaker
from laporbot.db.sessions import load_active
from laporbot.intake import Intake
from laporbot.messages import Button, InboundMessage, Location, OutboundMessage, Photo
from laporbot.photos import PhotoProblem, check_photo_file

_LOCATION = re.compile(r"^/loc\s+(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
_PHOTO = re.compile(r"^/photo\s+(.+)$", re.IGNORECASE)


def parse_line(
    line: str, buttons: tuple[Button, ...], *, user: str, clock: Clock, language: str | None
) -> InboundMessage:
    """A typed line as the message a chat app would deliver."""
    common = {
        "channel": "terminal",
        "platform_id": uuid.uuid4().hex,
        "user_id": user,
        "chat_id": user,
        "received_at": clock.now(),
        "language_hint": language,
    }
    text = line.strip()
    located = _LOCATION.match(text)
    if located:
        latitude, longitude = float(located.group(1)), float(located.group(2))
        return InboundMessage(
            kind="location",
            location=Location(latitude, longitude),
            **common,  # type: ignore[arg-type]
        )
    photo = _PHOTO.match(text)
    if photo:
        path = Path(photo.group(1).strip()).expanduser()
        ref = str(path.resolve()) if path.exists() else str(path)
        return InboundMessage(kind="photo", photo=Photo(ref), **common)  # type: ignore[arg-type]
    if text.isdigit() and 1 <= int(text) <= len(buttons):
        chosen = buttons[int(text) - 1]
        return InboundMessage(kind="choice", choice=chosen.id, text=text, **common)  # type: ignore[arg-type]
    return InboundMessage(kind="text", text=text, **common)  # type: ignore[arg-type]


def photo_problem(line: str) -> PhotoProblem | None:
    """What is wrong with the file of a `/photo PATH` line (missing, over 5 MB, not a JPEG, PNG
    or WebP by its bytes); None for a good photo or a line that is not `/photo`."""
    photo = _PHOTO.match(line.strip())
    if photo is None:
        return None
    return check_photo_file(Path(photo.group(1).strip()).expanduser())


def render(message: OutboundMessage, hint: str | None) -> str:
    """A bot message as printed: the text, then numbered buttons."""
    lines = [
        f"bot: {line}" if i == 0 else f"     {line}"
        for i, line in enumerate(message.text.splitlines())
    ]
    for number, button in enumerate(message.buttons, start=1):
        lines.append(f"  [{number}] {button.label}")
    if message.request_location and hint:
        lines.append(f"  {hint}")
    return "\n".join(lines)


async def _run_chat(
    ctx: click.Context, stream: TextIO, user: str, language: str | None, echo: bool
) -> None:
    settings = settings_of(ctx)
    clock: Clock = ctx.find_root().ensure_object(dict).get("clock") or SystemClock()
    await migrate.upgrade(settings)
    intake = Intake.from_settings(settings)
    translator = intake.flows.translator
    engine = create_engine(settings)
    sessions = make_sessionmaker(engine)
    buttons: tuple[Button, ...] = ()
    locale = language
    try:
        for raw in stream:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if echo:
                click.echo(f"you: {line}")
            problem = photo_problem(line)
            if problem is not None:
                # Not sent: the person picks another file and the conversation goes on.
                click.echo(f"  {translator.text(locale, f'terminal.photo_{problem}')}")
                continue
            inbound = parse_line(line, buttons, user=user, clock=clock, language=language)
            async with sessions() as db, db.begin():
                before = await outbox_repo.last_id(db)
                replies = await intake.handle_inbound(db, inbound, clock.now())
                active = await load_active(db, "terminal", user)
                locale = active.locale if active is not None else locale
            hint = translator.text(locale, "terminal.location_hint")
            for reply in replies:
                click.echo(render(reply, hint))
                if reply.buttons:
                    buttons = reply.buttons
            if replies and not replies[-1].buttons:
                buttons = ()
            # The replies are printed: their outbox rows are delivered, not left pending for a
            # dispatcher (as the web chat's rows are marked sent once the page can read them).
            async with sessions() as db, db.begin():
                await outbox_repo.mark_shown(db, "terminal", user, before, clock.now())
    finally:
        await engine.dispose()


@main.command()
@click.option("--user", default="terminal-user", show_default=True, help="Who you are.")
@click.option("--lang", "language", default=None, help="Language to start in (id, en).")
@click.option(
    "--echo/--no-echo",
    default=None,
    help="Print your own lines too (default: when input is not a terminal).",
)
@click.pass_context
def chat(ctx: click.Context, user: str, language: str | None, echo: bool | None) -> None:
    """Chat with the bot as a citizen, reading lines from standard input."""
    stream = sys.stdin  # click's runner swaps it in tests
    show = echo if echo is not None else not stream.isatty()
    with setup_errors_exit():
        asyncio.run(_run_chat(ctx, stream, user, language, show))
