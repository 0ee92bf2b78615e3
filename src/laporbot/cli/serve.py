"""`laporbot serve`: the web chat, webhooks, the Telegram poller, the inbox and outbox loops and
the sweeps, in one process (see `laporbot.serve`)."""

from __future__ import annotations

import asyncio
import logging

import click

from laporbot.cli import main, settings_of, setup_errors_exit
from laporbot.serve import Service


@main.command()
@click.option("--host", default=None, help="Listen address (default: LAPORBOT_HTTP_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (default: LAPORBOT_HTTP_PORT).")
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, log_level: str) -> None:
    """Run laporbot: with no tokens at all, the web chat at http://127.0.0.1:8080/."""
    settings = settings_of(ctx)
    changes: dict[str, object] = {}
    if host is not None:
        changes["http_host"] = host
    if port is not None:
        changes["http_port"] = port
    if changes:
        settings = settings.model_copy(update=changes)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Library chatter (SQL, HTTP clients) stays quiet unless asked for.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    with setup_errors_exit():
        asyncio.run(Service(settings).run_until_signalled())
