"""`laporbot reminders`: show a standard's reminder plan for a receipt time; run one tick."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from datetime import datetime

import click

from laporbot.cli import main, settings_of
from laporbot.clock import SystemClock
from laporbot.deadlines import due_time
from laporbot.durations import DurationUnit
from laporbot.errors import NotFound, StandardsError
from laporbot.reminders.planner import DeadlineWindow, plan_reminders
from laporbot.reminders.plans import PlanKind, plan_for
from laporbot.settings import Settings
from laporbot.standards.registry import StandardsRegistry, load_registry


def _registry(settings: Settings) -> StandardsRegistry:
    try:
        return load_registry(settings.standards_dir)
    except StandardsError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def reminders() -> None:
    """Reminder plans, the reminder sweep and the daily digest."""


@reminders.command("plan")
@click.argument("code")
@click.option(
    "--received",
    required=True,
    help="When the report was received, ISO 8601; without an offset, the office's local time.",
)
@click.option("--emergency", is_flag=True, help="Priority 0: the 15-minute escalation.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def plan(ctx: click.Context, code: str, received: str, emergency: bool, as_json: bool) -> None:
    """Every reminder a case and a complaint under standard CODE would get, in office time.

    The case is assumed to stay unclaimed and open, the complaint unanswered (the repeating
    overdue reminder is shown once).
    """
    registry = _registry(settings_of(ctx))
    try:
        standard = registry.standard(code)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    calendar = registry.agency_of(standard).calendar()
    try:
        start = datetime.fromisoformat(received)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date-time: {received!r}") from exc
    if start.tzinfo is None:
        start = start.replace(tzinfo=calendar.zone)
    rules = plan_for(standard.reminder_plan)
    working = standard.completion.unit is DurationUnit.WORKING_DAYS
    completion_due = due_time(start, standard.completion, calendar)
    complaint_due = due_time(start, standard.complaint_response, calendar)
    windows = [
        DeadlineWindow(PlanKind.TRIAGE, start, None, working, emergency),
        DeadlineWindow(PlanKind.COMPLETION, start, completion_due, working, emergency),
        DeadlineWindow(PlanKind.COMPLAINT_ANSWER, start, complaint_due),
        DeadlineWindow(PlanKind.CITIZEN, start, completion_due),
    ]
    planned = [
        reminder
        for window in windows
        for reminder in plan_reminders(rules.for_kind(window.kind), window, calendar, start)
    ]
    planned.sort(key=lambda reminder: reminder.due_at)
    rows = [
        {
            "at": calendar.local(reminder.due_at).isoformat(),
            "plan": reminder.kind.value,
            "rule": reminder.key,
            "audience": reminder.audience.value,
            "repeats": str(reminder.repeat) if reminder.repeat is not None else "",
        }
        for reminder in planned
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"completion due {calendar.local(completion_due).isoformat()}")
    click.echo(f"complaint due  {calendar.local(complaint_due).isoformat()}")
    for row in rows:
        repeat = f"  (then every {row['repeats'].lstrip('+ ')})" if row["repeats"] else ""
        click.echo(f"{row['at']}  {row['plan']:<16} {row['rule']:<22} {row['audience']}{repeat}")


@reminders.command("tick")
@click.pass_context
def tick(ctx: click.Context) -> None:
    """Run the reminder sweep and the daily digest once against the configured database
    (what `laporbot serve`'s scheduler does every sweep_interval_seconds)."""
    settings = settings_of(ctx)
    result = asyncio.run(_tick(settings))
    click.echo(json.dumps(result))


async def _tick(settings: Settings) -> dict[str, int]:
    from laporbot.db.engine import create_engine, make_sessionmaker
    from laporbot.i18n import Translator
    from laporbot.reminders.jobs import ReminderJobs

    engine = create_engine(settings)
    try:
        jobs = ReminderJobs.build(
            make_sessionmaker(engine),
            _registry(settings),
            Translator(settings.locales_dir, settings.default_locale),
            settings,
            SystemClock(),
            worker=f"cli:{socket.gethostname()}:{os.getpid()}",
        )
        done = await jobs.tick()
    finally:
        await engine.dispose()
    return {
        "sent": done.sweep.sent,
        "late": done.sweep.late,
        "cancelled": done.sweep.cancelled,
        "messages": done.sweep.messages,
        "digests": done.digests,
    }
