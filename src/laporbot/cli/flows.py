"""`laporbot flows check`: load and check every conversation flow, as CI does."""

from __future__ import annotations

from pathlib import Path

import click

from laporbot.cli import main, settings_of
from laporbot.errors import DataFileError
from laporbot.flows.loader import limits_of, load_flows
from laporbot.i18n import Translator


@main.group()
def flows() -> None:
    """Conversation flows: YAML files under the conversations folder."""


@flows.command("check")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Flow folder to check (default: the configured conversations folder).",
)
@click.option(
    "--locales",
    "locales",
    type=click.Path(file_okay=False, path_type=Path),
    help="Catalog folder (default: the configured locales folder).",
)
@click.pass_context
def check(ctx: click.Context, folder: Path | None, locales: Path | None) -> None:
    """Check types, targets, reachability and message ids in every language; exit 1 on error."""
    settings = settings_of(ctx)
    try:
        translator = Translator(locales or settings.locales_dir, settings.default_locale)
        loaded = load_flows(folder or settings.conversations_dir, translator, limits_of(settings))
    except DataFileError as exc:
        raise click.ClickException(f"flow check failed: {exc}") from exc
    steps = sum(len(flow.steps) for flow in loaded.flows.values())
    click.echo(f"{len(loaded.flows)} flows, {steps} steps: OK in {', '.join(translator.locales)}")
