"""The triage notification: what an office's group sees of a case, kept current by edits.

Only what triage needs and nothing that identifies the child (see `privacy`): number,
category, priority, area, received and due times, the current state, and the buttons that
move it. The same renderer draws the first post and every edit, so the group always shows the
case as it stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from laporbot.db.models import Case
from laporbot.i18n import Translator
from laporbot.messages import Button
from laporbot.officers.access import FINISHED_STATUSES
from laporbot.officers.callbacks import officer_button
from laporbot.standards import StandardsRegistry

CATEGORIES = ("anak_terlantar", "lansia_terlantar", "anak_jalanan", "anak_korban_napza", "other")


@dataclass(frozen=True, slots=True)
class TriageView:
    """A group message's text and keyboard."""

    text: str
    buttons: tuple[Button, ...]


def category_label(t: Translator, locale: str, category: str) -> str:
    """The category in words ("Anak terlantar")."""
    key = category if category in CATEGORIES else "other"
    return t.text(locale, f"officers.category.{key}")


def priority_label(t: Translator, locale: str, priority: int) -> str:
    """ "DARURAT" for priority 0, else "biasa"."""
    if priority == 0:
        return t.text(locale, "officers.priority.emergency")
    return t.text(locale, "officers.priority.routine", priority=priority)


def area_label(t: Translator, locale: str, case: Case) -> str:
    """Kecamatan and kabupaten/kota only: never the street address."""
    parts = [part for part in (case.kecamatan, case.kabupaten) if part]
    if not parts:
        return t.text(locale, "officers.area.unknown")
    if case.kecamatan:
        parts[0] = t.text(locale, "officers.area.kecamatan", name=case.kecamatan)
    return ", ".join(parts)


def step_count(registry: StandardsRegistry, case: Case) -> int:
    """How many steps the case's procedure track has."""
    return len(steps_of(registry, case))


def steps_of(registry: StandardsRegistry, case: Case) -> list[str]:
    """The steps of the case's procedure track (the first track when none is named)."""
    standard = registry.standard(case.standard_code)
    track = next((t for t in standard.procedure if t.name == case.track), standard.procedure[0])
    return list(track.steps)


def state_label(
    t: Translator,
    locale: str,
    registry: StandardsRegistry,
    case: Case,
    assignee: str | None,
) -> str:
    """The case's state in one line, as the group should read it."""
    if case.status == "resolved":
        return t.text(locale, "officers.state.resolved")
    if case.status in ("rejected", "closed"):
        return t.text(locale, "officers.state.rejected")
    if case.status == "referred" and assignee is None:
        return t.text(locale, "officers.state.referred_in")
    if assignee is None:
        return t.text(locale, "officers.state.unclaimed")
    steps = step_count(registry, case)
    if case.current_step >= steps:
        return t.text(locale, "officers.state.steps_done", officer=assignee)
    return t.text(
        locale,
        "officers.state.working",
        officer=assignee,
        step=case.current_step + 1,
        steps=steps,
    )


def render_triage(
    t: Translator,
    registry: StandardsRegistry,
    case: Case,
    *,
    locale: str,
    time_zone: str,
    assignee: str | None,
) -> TriageView:
    """The group message for `case` in its current state, with the buttons that apply."""
    lines = [
        t.text(
            locale,
            "officers.triage.header_emergency" if case.priority == 0 else "officers.triage.header",
            number=case.number,
        ),
        t.text(
            locale, "officers.triage.category", category=category_label(t, locale, case.category)
        ),
        t.text(
            locale, "officers.triage.priority", priority=priority_label(t, locale, case.priority)
        ),
        t.text(locale, "officers.triage.area", area=area_label(t, locale, case)),
        t.text(locale, "officers.triage.received", at=t.due(locale, case.received_at, time_zone)),
    ]
    if case.due_at is not None:
        lines.append(
            t.text(locale, "officers.triage.due", at=t.due(locale, case.due_at, time_zone))
        )
    lines.append(
        t.text(
            locale,
            "officers.triage.state",
            state=state_label(t, locale, registry, case, assignee),
        )
    )
    return TriageView("\n".join(lines), triage_buttons(t, case, locale=locale))


def triage_buttons(t: Translator, case: Case, *, locale: str) -> tuple[Button, ...]:
    """Claim, assign to…, mark emergency, refer, not our case: those that still apply."""
    if case.status in FINISHED_STATUSES:
        return ()
    buttons: list[Button] = []
    if case.assigned_officer_id is None:
        buttons.append(Button(officer_button("c", case.id), t.text(locale, "officers.btn.claim")))
    buttons.append(Button(officer_button("a", case.id), t.text(locale, "officers.btn.assign")))
    if case.priority != 0:
        buttons.append(
            Button(officer_button("e", case.id), t.text(locale, "officers.btn.emergency"))
        )
    buttons.append(Button(officer_button("r", case.id), t.text(locale, "officers.btn.refer")))
    if case.assigned_officer_id is None:
        buttons.append(
            Button(officer_button("n", case.id), t.text(locale, "officers.btn.not_ours"))
        )
    return tuple(buttons)
