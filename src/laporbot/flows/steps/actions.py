"""The action steps: open a case, file a complaint, look a case up, list the offices.

Each asks the application for something (an effect), waits for the outcome (an `ActionResult`
resume), stores it under the step id with display-ready texts added, and moves on. Flows then
branch on `<step>.status` and word the outcome with `message` steps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from laporbot.flows.effects import Action, FileComplaint, ListOffices, LookUpCase, OpenCase
from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import lookup

# Case and complaint states a citizen may be told (laporbot.db.models CaseStatus and
# ComplaintStatus); each has a catalog entry `status.<kind>.<state>`.
CASE_STATES = ("new", "claimed", "in_progress", "referred", "resolved", "rejected", "closed")
COMPLAINT_STATES = ("open", "answered", "reopened", "closed")
EMERGENCY_PRIORITY = 0
NORMAL_PRIORITY = 2


def enrich(ctx: Context, outcome: dict[str, Any]) -> dict[str, Any]:
    """The outcome plus texts for messages: due time in the office's zone, bullet lists."""
    result = dict(outcome)
    if outcome.get("due_at") and outcome.get("time_zone"):
        due = datetime.fromisoformat(str(outcome["due_at"]))
        result["due_text"] = ctx.translator.due(ctx.locale, due, str(outcome["time_zone"]))
    for key in ("requirements", "contacts"):
        if isinstance(outcome.get(key), list):
            result[f"{key}_text"] = "\n".join(f"• {item}" for item in outcome[key])
    if isinstance(outcome.get("offices"), list):
        result["offices_text"] = "\n\n".join(
            ctx.text(
                "common.office_line",
                name=office.get("name", ""),
                contacts=", ".join(office.get("contacts", [])),
                areas=", ".join(office.get("areas", [])),
            )
            for office in outcome["offices"]
        )
    kind, state = outcome.get("kind"), outcome.get("state")
    if kind in ("case", "complaint") and state:
        result["state_text"] = ctx.text(f"status.{kind}.{state}")
    return result


class ActionStep(Step):
    """Shared behaviour: emit the effect, wait, store the enriched outcome, go to `next`."""

    def effect(self, ctx: Context) -> Action:
        """The effect asking the application to act."""
        raise NotImplementedError

    def enter(self, ctx: Context) -> Transition:
        return Transition(effects=(self.effect(ctx),), wait=True)

    def on_result(self, ctx: Context, outcome: dict[str, Any]) -> Transition:
        return Transition(value=enrich(ctx, outcome))

    def message_ids(self) -> list[str]:
        return [*super().message_ids(), "common.office_line"]


def _text(ctx: Context, path: str | None) -> str | None:
    value = lookup(ctx.answers, path) if path else None
    return None if value is None else str(value)


@register("open_case")
class OpenCaseStep(ActionStep):
    """Opens a case from the answers named by the fields (each a step id)."""

    type: Literal["open_case"]
    category: str
    danger: str
    location: str
    subject: list[str]
    photo: str | None = None
    anonymous: str
    phone: str | None = None
    consent: str

    def answer_refs(self) -> list[str]:
        refs = [self.category, self.danger, self.location, self.anonymous, self.consent]
        return [*refs, *self.subject, *(r for r in (self.photo, self.phone) if r)]

    def effect(self, ctx: Context) -> Action:
        location = lookup(ctx.answers, self.location)
        anonymous = bool(lookup(ctx.answers, self.anonymous))
        return OpenCase(
            category=str(lookup(ctx.answers, self.category)),
            priority=EMERGENCY_PRIORITY if lookup(ctx.answers, self.danger) else NORMAL_PRIORITY,
            location=dict(location) if isinstance(location, dict) else {},
            subject={key: lookup(ctx.answers, key) for key in self.subject},
            photo_ref=_text(ctx, self.photo),
            anonymous=anonymous,
            phone=None if anonymous else _text(ctx, self.phone),
            consent=bool(lookup(ctx.answers, self.consent)),
            locale=ctx.locale,
        )


@register("file_complaint")
class FileComplaintStep(ActionStep):
    """Files a complaint about a case number or an office's area, with the citizen's words."""

    type: Literal["file_complaint"]
    about_case: str | None = None
    about_area: str | None = None
    text: str
    anonymous: str
    phone: str | None = None
    consent: str

    def answer_refs(self) -> list[str]:
        refs = [self.about_case, self.about_area, self.text, self.anonymous, self.phone]
        return [r for r in (*refs, self.consent) if r]

    def effect(self, ctx: Context) -> Action:
        anonymous = bool(lookup(ctx.answers, self.anonymous))
        return FileComplaint(
            about_case=_text(ctx, self.about_case),
            about_area=_text(ctx, self.about_area),
            text=_text(ctx, self.text) or "",
            anonymous=anonymous,
            phone=None if anonymous else _text(ctx, self.phone),
            consent=bool(lookup(ctx.answers, self.consent)),
            locale=ctx.locale,
        )


@register("look_up_case")
class LookUpCaseStep(ActionStep):
    """Looks up the case or complaint whose number the step `number` got."""

    type: Literal["look_up_case"]
    number: str

    def answer_refs(self) -> list[str]:
        return [self.number]

    def message_ids(self) -> list[str]:
        return [
            *super().message_ids(),
            *(f"status.case.{state}" for state in CASE_STATES),
            *(f"status.complaint.{state}" for state in COMPLAINT_STATES),
        ]

    def effect(self, ctx: Context) -> Action:
        return LookUpCase(number=(_text(ctx, self.number) or "").strip().upper(), locale=ctx.locale)


@register("list_offices")
class ListOfficesStep(ActionStep):
    """Lists the offices with their contacts and areas (`offices_text`)."""

    type: Literal["list_offices"]

    def effect(self, ctx: Context) -> Action:
        return ListOffices(locale=ctx.locale)
