"""Reminder texts: one reminder row and its context in, the words for one reader out.

Every word comes from the `reminders` catalog; due times are worded in the office's time zone
by Babel ("Rabu, 25 Maret 2026 pukul 16.00 WIB", "2 jam lagi", "terlambat 1 hari"). Group
chats get only what DESIGN.md allows there: number, category, area and priority, never a
child's name, photo or address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from babel.dates import format_timedelta

from laporbot.db.models import Case, Complaint, Deadline, Officer, Reminder
from laporbot.i18n import Translator
from laporbot.messages import Button
from laporbot.standards.models import ServiceStandard

SURVEY_SCORES = (1, 2, 3, 4)
# The "not resolved" answer to a complaint's satisfaction question.
SURVEY_REOPEN = "reopen"


# Babel wording is the costly part of a text, and a sweep batch words the same due times over
# and over (every reminder of a case names its deadline): remember recent ones.
@lru_cache(maxsize=4096)
def _due(translator: Translator, lang: str, at: datetime, zone: str) -> str:
    return translator.due(lang, at, zone)


@lru_cache(maxsize=4096)
def _relative(translator: Translator, lang: str, delta: timedelta) -> str:
    return translator.relative(lang, delta)


@lru_cache(maxsize=4096)
def _elapsed(lang: str, delta: timedelta) -> str:
    return format_timedelta(delta, locale=lang)


@dataclass(frozen=True, slots=True)
class Context:
    """What a reminder's text may draw on; loaded in bulk by the sweep."""

    reminder: Reminder
    case: Case | None
    complaint: Complaint | None
    deadline: Deadline | None
    standard: ServiceStandard | None
    office: str
    time_zone: str
    officer: Officer | None

    @property
    def subject(self) -> str:
        """ "case" or "complaint"."""
        return "case" if self.complaint is None else "complaint"

    @property
    def number(self) -> str:
        """The case or complaint number."""
        if self.complaint is not None:
            return self.complaint.number
        assert self.case is not None
        return self.case.number

    @property
    def due(self) -> datetime | None:
        """The deadline this reminder is about (the case's or complaint's due time else)."""
        if self.deadline is not None:
            return self.deadline.due_at
        if self.complaint is not None:
            return self.complaint.due_at
        return self.case.due_at if self.case is not None else None


def message_id(translator: Translator, reminder: Reminder, subject: str) -> str:
    """The catalog id of a reminder: its rule's message, specialised per subject when the
    catalog has a "<id>.case" / "<id>.complaint" variant (citizen messages do)."""
    base = str(reminder.payload.get("message") or f"reminders.{reminder.kind}")
    specific = f"{base}.{subject}"
    if translator.has(translator.default_locale, specific):
        return specific
    return base


def _steps(ctx: Context, index: int | None) -> tuple[int, int, str]:
    if ctx.standard is None or ctx.case is None:
        return (0, 0, "")
    tracks = ctx.standard.procedure
    track = next((t for t in tracks if t.name == ctx.case.track), tracks[0])
    steps = track.steps
    # current_step counts from 0 (the first step); people count from 1.
    position = min(max(index if index is not None else ctx.case.current_step, 0), len(steps) - 1)
    return (position + 1, len(steps), steps[position])


def render(
    translator: Translator,
    ctx: Context,
    locale: str,
    now: datetime,
    *,
    late: bool,
    unassigned: bool = False,
    office_override: str | None = None,
) -> str:
    """The text of `ctx.reminder` for a reader of `locale` at `now`."""
    reminder = ctx.reminder
    lang = translator.resolve(locale)
    params: dict[str, object] = {"number": ctx.number, "office": office_override or ctx.office}
    due = ctx.due
    if due is not None:
        params["due"] = _due(translator, lang, due, ctx.time_zone)
        params["relative"] = _relative(translator, lang, due - now)
    if ctx.case is not None:
        case = ctx.case
        category = f"reminders.category.{case.category}"
        params["category"] = (
            translator.text(lang, category)
            if translator.has(translator.default_locale, category)
            else case.category
        )
        area = ", ".join(part for part in (case.kecamatan, case.kabupaten) if part)
        params["area"] = area or translator.text(lang, "reminders.area.unknown")
        params["priority"] = (
            translator.text(lang, "reminders.priority.emergency")
            if case.priority == 0
            else translator.text(lang, "reminders.priority.routine", priority=case.priority)
        )
        params["received"] = _due(translator, lang, case.received_at, ctx.time_zone)
        params["elapsed"] = _elapsed(lang, now - case.received_at)
        step_index = reminder.payload.get("step")
        step, steps, title = _steps(ctx, step_index if isinstance(step_index, int) else None)
        params.update(step=step, steps=steps, step_title=title)
    if ctx.standard is not None:
        params["standard"] = ctx.standard.title
    if ctx.complaint is not None:
        params["answer"] = ctx.complaint.answer or ""
    params["officer"] = (
        ctx.officer.display_name
        if ctx.officer is not None
        else translator.text(lang, "reminders.nobody")
    )
    text = translator.text(lang, message_id(translator, reminder, ctx.subject), **params)
    if unassigned:
        text += "\n" + translator.text(lang, "reminders.unassigned_note")
    if late:
        scheduled = _due(translator, lang, reminder.due_at, ctx.time_zone)
        text += "\n" + translator.text(lang, "reminders.late_note", scheduled=scheduled)
    return text


def survey_buttons(translator: Translator, ctx: Context, locale: str) -> tuple[Button, ...]:
    """The SKM 1-4 buttons of a satisfaction question; the choice comes back as
    `survey:<case|complaint>:<number>:<score>` for the officer side to record.

    A complaint's question has a fifth button, "not resolved" (`...:reopen`): the officer side
    reopens the complaint and tells its handlers. The longest id, with a 32-character number,
    is 56 bytes: within Telegram's 64-byte callback data; five options go out on WhatsApp as a
    list (row ids up to 200 characters, titles up to 24)."""
    lang = translator.resolve(locale)
    buttons = [
        Button(
            id=f"survey:{ctx.subject}:{ctx.number}:{score}",
            label=translator.text(lang, f"reminders.survey.score_{score}"),
        )
        for score in SURVEY_SCORES
    ]
    if ctx.subject == "complaint":
        buttons.append(
            Button(
                id=f"survey:complaint:{ctx.number}:{SURVEY_REOPEN}",
                label=translator.text(lang, "reminders.survey.reopen"),
            )
        )
    return tuple(buttons)
