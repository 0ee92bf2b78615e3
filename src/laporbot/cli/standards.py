"""`laporbot standards ...`: list, show and check service-standard files; compute a deadline.

This output is for administrators at a terminal, so it is plain English and the standards'
own Indonesian text; citizens and officers see due times through the translated catalogs.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from laporbot.cli import main, settings_of
from laporbot.deadlines import due_time
from laporbot.errors import NotFound, StandardsError
from laporbot.standards import (
    Agency,
    ServiceStandard,
    StandardsRegistry,
    check_file,
    files_in,
    load_registry,
)
from laporbot.standards.loader import display_name
from laporbot.timefmt import format_due


def _registry(ctx: click.Context) -> StandardsRegistry:
    folder = settings_of(ctx).standards_dir
    try:
        return load_registry(folder)
    except StandardsError as exc:
        raise click.ClickException(str(exc)) from exc


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, [("-" * width) for width in widths], *rows]
    ]
    return "\n".join(lines)


@main.group()
def standards() -> None:
    """Service standards: one YAML file per office under the standards folder."""


@standards.command("list")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A readable table or a JSON array.",
)
@click.pass_context
def list_standards(ctx: click.Context, output: str) -> None:
    """Every standard: code, office, title, completion time as written, time zone."""
    registry = _registry(ctx)
    items = []
    for standard in registry.standards:
        agency = registry.agency_of(standard)
        items.append(
            {
                "code": standard.code,
                "agency": agency.code,
                "title": standard.title,
                "completion_time": standard.completion_time,
                "time_zone": agency.time_zone,
            }
        )
    if output == "json":
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    header = ["CODE", "AGENCY", "COMPLETION", "TIME ZONE", "TITLE"]
    rows = [
        [
            item["code"],
            item["agency"],
            item["completion_time"],
            item["time_zone"],
            item["title"],
        ]
        for item in items
    ]
    click.echo(_table(rows, header))


def _describe(agency: Agency, standard: ServiceStandard) -> str:
    lines = [
        f"{standard.code}: {standard.title}",
        f"  agency:          {agency.code} ({agency.name}, {agency.parent})",
        f"  address:         {agency.address}"
        + (f" {agency.postal_code}" if agency.postal_code else ""),
    ]
    for kind in ("phone", "website", "email"):
        values = getattr(agency.contacts, kind)
        if values:
            lines.append(f"  {kind + ':':<17}{', '.join(values)}")
    hours = agency.office_hours
    lines += [
        f"  time zone:       {agency.time_zone}",
        f"  office hours:    {hours.start:%H:%M}-{hours.end:%H:%M} {' '.join(hours.weekdays)}",
        f"  legal basis:     No. SK {standard.legal_basis}",
        f"  target groups:   {'; '.join(standard.target_groups)}",
        f"  categories:      {', '.join(c.value for c in standard.categories)}",
        f"  completion time: {standard.completion_time} ({standard.completion})",
    ]
    if standard.completion_note:
        lines.append(f"                   {standard.completion_note}")
    lines += [
        f"  cost:            {standard.cost}",
        f"  complaint response: {standard.complaint_response_time}",
    ]
    if standard.requirements:
        lines.append("  requirements:")
        lines += [f"    {i}. {text}" for i, text in enumerate(standard.requirements, 1)]
    for track in standard.procedure:
        heading = "  procedure"
        if track.name:
            heading += f" {track.name}" + (f" ({track.title})" if track.title else "")
        if track.requirements:
            lines.append(heading + " requirements:")
            lines += [f"    {i}. {text}" for i, text in enumerate(track.requirements, 1)]
        lines.append(heading + ":")
        lines += [f"    {i}. {text}" for i, text in enumerate(track.steps, 1)]
    lines.append("  products:")
    lines += [f"    {i}. {text}" for i, text in enumerate(standard.products, 1)]
    lines.append("  complaint channels:")
    for channel in standard.complaint_channels:
        label = f"{channel.label}: " if channel.label else ""
        lines.append(f"    - [{channel.kind}] {label}{channel.value}")
    for note in standard.complaint_notes:
        lines.append(f"    {note}")
    return "\n".join(lines)


@standards.command("show")
@click.argument("code")
@click.pass_context
def show_standard(ctx: click.Context, code: str) -> None:
    """Everything one standard says, with its office."""
    registry = _registry(ctx)
    try:
        standard = registry.standard(code)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_describe(registry.agency_of(standard), standard))


@standards.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.pass_context
def check_standards(ctx: click.Context, path: Path | None) -> None:
    """Validate a standards folder or file (default: the configured standards folder)."""
    target = path if path is not None else settings_of(ctx).standards_dir
    if not target.exists():
        raise click.ClickException(f"{target}: no such file or folder")
    files = files_in(target)
    if not files:
        raise click.ClickException(f"{target}: no .yaml files")
    failed = 0
    for file in files:
        errors = check_file(file)
        if errors:
            failed += 1
            for error in errors:
                click.echo(f"ERROR {error}")
        else:
            click.echo(f"OK    {display_name(file)}")
    if failed == 0:
        # Codes must also be unique across files; only a whole-folder load can tell.
        try:
            load_registry(target)
        except StandardsError as exc:
            click.echo(f"ERROR {exc}")
            failed += 1
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} file(s) broken")


@standards.command("deadline")
@click.argument("code")
@click.option(
    "--received",
    required=True,
    help="When the report was received, ISO 8601; without an offset, the office's local time.",
)
@click.option("--locale", default="id", show_default=True, help="Language of the second line.")
@click.option(
    "--complaint",
    is_flag=True,
    help="The complaint response limit (2x24 jam by default) instead of the completion time.",
)
@click.pass_context
def deadline(ctx: click.Context, code: str, received: str, locale: str, complaint: bool) -> None:
    """When a case under standard CODE received at --received is due.

    Prints the due time in ISO 8601 with the office's UTC offset, then worded for --locale.
    """
    registry = _registry(ctx)
    try:
        standard = registry.standard(code)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    agency = registry.agency_of(standard)
    calendar = agency.calendar()
    try:
        at = datetime.fromisoformat(received)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date-time: {received!r}") from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=calendar.zone)
    duration = standard.complaint_response if complaint else standard.completion
    due = due_time(at, duration, calendar)
    click.echo(calendar.local(due).isoformat())
    click.echo(format_due(locale, due, agency.time_zone))


@standards.command("area")
@click.argument("kabupaten")
@click.argument("kecamatan", required=False)
@click.option("--province", help="Province of the place, to suggest an office when unserved.")
@click.option("--lat", type=float, help="Latitude of the place, to suggest the nearest office.")
@click.option("--lon", type=float, help="Longitude of the place.")
@click.option("--category", help="Report category the office must serve (e.g. anak_jalanan).")
@click.pass_context
def area(
    ctx: click.Context,
    kabupaten: str,
    kecamatan: str | None,
    province: str | None,
    lat: float | None,
    lon: float | None,
    category: str | None,
) -> None:
    """Which office serves KABUPATEN (and KECAMATAN), or which one to suggest."""
    registry = _registry(ctx)
    try:
        match = registry.find_agency_for_area(
            kabupaten, kecamatan, province=province, lat=lat, lon=lon, category=category
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--category") from exc
    if match.agency is None:
        click.echo("not served; no office to suggest")
        raise SystemExit(1)
    where = "served by" if match.served else f"not served; suggested ({match.how})"
    distance = f", {match.distance_km:.0f} km" if match.distance_km is not None else ""
    click.echo(f"{where}: {match.agency.code} ({match.agency.parent}{distance})")


@standards.command("schema")
def schema() -> None:
    """Print the JSON Schema of a standards file (for editors and YAML language servers)."""
    click.echo(json.dumps(Agency.model_json_schema(), ensure_ascii=False, indent=2))
