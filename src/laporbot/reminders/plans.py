"""Reminder plans as data: who is reminded of which deadline, when.

A plan is a list of rules per plan kind (`triage`, `complaint_answer`, `completion` (of the
service), `citizen`). Each rule names an audience and a time written as a small expression over the
deadline's moments:

    start              the deadline's start (receipt of the case or complaint)
    due                the deadline itself
    half               half the allowance (in office hours when it is counted in hari kerja)
    resolved           when the case closed or the complaint was answered (citizen plan)

followed by an optional offset such as ``+ 15 minutes``, ``- 24 hours``, ``- 1 working day``,
``+ 1 month``. A rule may repeat (``every: 1 day``), until a bound (``until: due - 1 day``) or,
without a bound, until the deadline is met: then only the next occurrence is stored and the
sweep writes the one after when it sends it, so nothing infinite is ever planned.

A rule may be limited by conditions (`when`): ``emergency`` / ``routine`` (priority 0 or not),
``working_days`` / ``calendar_days`` (whether the allowance is counted in hari kerja).

The defaults below are what the issue asks for; a standard's data file may replace the rules of
any plan kind with its own under ``reminder_plan`` (a kind given replaces that kind's defaults
wholesale; the kinds not given keep theirs). Rules are validated when the data file loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class PlanKind(StrEnum):
    """What a plan watches: a deadline kind, or the citizen's follow-ups."""

    TRIAGE = "triage"
    COMPLAINT_ANSWER = "complaint_answer"
    COMPLETION = "completion"
    CITIZEN = "citizen"


class Audience(StrEnum):
    """Who a reminder goes to; resolved to people only when it is sent.

    `officer` is the officer who claimed the case or handles the complaint (the office group
    when nobody has yet); `supervisor` every supervisor of the office; `group` the office's
    officer group chat; `citizen` the reporter, through the channel they used.
    """

    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    GROUP = "group"
    CITIZEN = "citizen"


class Anchor(StrEnum):
    """The moment a rule's time is counted from."""

    START = "start"
    DUE = "due"
    HALF = "half"
    RESOLVED = "resolved"


class OffsetUnit(StrEnum):
    """Units of an offset; `working_days` follow the office's calendar."""

    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WORKING_DAYS = "working_days"
    MONTHS = "months"


class Condition(StrEnum):
    """When a rule applies."""

    EMERGENCY = "emergency"
    ROUTINE = "routine"
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"


_UNIT_WORDS: dict[str, OffsetUnit] = {
    "minute": OffsetUnit.MINUTES,
    "minutes": OffsetUnit.MINUTES,
    "hour": OffsetUnit.HOURS,
    "hours": OffsetUnit.HOURS,
    "day": OffsetUnit.DAYS,
    "days": OffsetUnit.DAYS,
    "working day": OffsetUnit.WORKING_DAYS,
    "working days": OffsetUnit.WORKING_DAYS,
    "month": OffsetUnit.MONTHS,
    "months": OffsetUnit.MONTHS,
}
_OFFSET = re.compile(r"^(\d+)\s+([a-z ]+?)$")
_AT = re.compile(r"^([a-z]+)(?:\s*([+-])\s*(.+))?$")


@dataclass(frozen=True, slots=True)
class Offset:
    """A signed amount of a unit: Offset(-1, WORKING_DAYS) is "- 1 working day"."""

    amount: int
    unit: OffsetUnit

    def __str__(self) -> str:
        sign = "-" if self.amount < 0 else "+"
        unit = self.unit.value.replace("_", " ")
        return f"{sign} {abs(self.amount)} {unit[:-1] if abs(self.amount) == 1 else unit}"


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """A moment relative to a deadline: `anchor` moved by `offset`."""

    anchor: Anchor
    offset: Offset | None = None

    def __str__(self) -> str:
        return self.anchor.value if self.offset is None else f"{self.anchor.value} {self.offset}"


def parse_offset(text: str, sign: int = 1) -> Offset:
    """Read "15 minutes", "1 working day", "2 months"; `sign` is -1 for a subtraction."""
    normal = " ".join(text.strip().lower().replace("_", " ").split())
    match = _OFFSET.match(normal)
    if match is None or match.group(2) not in _UNIT_WORDS:
        raise ValueError(
            f"unknown offset {text!r} (write e.g. '15 minutes', '24 hours', '1 working day', "
            "'1 month')"
        )
    return Offset(sign * int(match.group(1)), _UNIT_WORDS[match.group(2)])


def parse_time_spec(text: str) -> TimeSpec:
    """Read "due - 24 hours", "start + 1 month", "half", "resolved + 1 day"."""
    normal = " ".join(text.strip().lower().split())
    match = _AT.match(normal)
    if match is None:
        raise ValueError(f"unknown time {text!r} (write e.g. 'due - 24 hours')")
    try:
        anchor = Anchor(match.group(1))
    except ValueError:
        known = ", ".join(a.value for a in Anchor)
        raise ValueError(
            f"unknown anchor {match.group(1)!r} in {text!r} (known: {known})"
        ) from None
    if match.group(2) is None:
        return TimeSpec(anchor)
    offset = parse_offset(match.group(3), -1 if match.group(2) == "-" else 1)
    return TimeSpec(anchor, offset)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ReminderRuleSpec(_Spec):
    """One rule as a data file writes it (validated at load)."""

    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    audience: Audience
    at: str
    every: str | None = None
    until: str | None = None
    when: list[Condition] = []
    message: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$")] | None = None

    @field_validator("at", "until")
    @classmethod
    def _time_parses(cls, text: str | None) -> str | None:
        if text is not None:
            parse_time_spec(text)
        return text

    @field_validator("every")
    @classmethod
    def _every_parses(cls, text: str | None) -> str | None:
        if text is not None and parse_offset(text).amount < 1:
            raise ValueError("every: a repeat must be at least 1")
        return text

    @model_validator(mode="after")
    def _until_needs_every(self) -> ReminderRuleSpec:
        if self.until is not None and self.every is None:
            raise ValueError("until: only a repeating rule (every) has a bound")
        return self

    def to_rule(self, kind: PlanKind) -> ReminderRule:
        """The planner's value for this rule."""
        return ReminderRule(
            key=self.key,
            audience=self.audience,
            at=parse_time_spec(self.at),
            every=parse_offset(self.every) if self.every is not None else None,
            until=parse_time_spec(self.until) if self.until is not None else None,
            when=frozenset(self.when),
            message=self.message or f"reminders.{kind.value}.{self.key}",
        )


class ReminderPlanSpec(_Spec):
    """A standard's `reminder_plan`: rules replacing the defaults of the kinds it names."""

    triage: list[ReminderRuleSpec] | None = None
    complaint_answer: list[ReminderRuleSpec] | None = None
    completion: list[ReminderRuleSpec] | None = None
    citizen: list[ReminderRuleSpec] | None = None

    @model_validator(mode="after")
    def _unique_keys(self) -> ReminderPlanSpec:
        for kind in PlanKind:
            rules = getattr(self, kind.value)
            if rules is None:
                continue
            # Two rules may share a key only when their conditions keep them apart (the
            # emergency and routine variants of one reminder).
            seen: dict[str, list[frozenset[Condition]]] = {}
            for rule in rules:
                conds = frozenset(rule.when)
                for other in seen.get(rule.key, []):
                    if not _exclusive(conds, other):
                        raise ValueError(f"{kind.value}: rule key {rule.key!r} is used twice")
                seen.setdefault(rule.key, []).append(conds)
        return self


_OPPOSITES = {
    (Condition.EMERGENCY, Condition.ROUTINE),
    (Condition.ROUTINE, Condition.EMERGENCY),
    (Condition.WORKING_DAYS, Condition.CALENDAR_DAYS),
    (Condition.CALENDAR_DAYS, Condition.WORKING_DAYS),
}


def _exclusive(a: frozenset[Condition], b: frozenset[Condition]) -> bool:
    return any((x, y) in _OPPOSITES for x in a for y in b)


@dataclass(frozen=True, slots=True)
class ReminderRule:
    """One rule of a plan, parsed: the planner's input."""

    key: str
    audience: Audience
    at: TimeSpec
    every: Offset | None = None
    until: TimeSpec | None = None
    when: frozenset[Condition] = frozenset()
    message: str = ""

    @property
    def open_ended(self) -> bool:
        """True when the rule repeats until the deadline is met (no bound)."""
        return self.every is not None and self.until is None


# The defaults of issue 6, as a data file would write them.
DEFAULT_PLAN_DATA: dict[str, list[dict[str, Any]]] = {
    "triage": [
        {"key": "unclaimed_group", "audience": "group", "at": "start + 1 hour",
         "when": ["routine"]},
        {"key": "unclaimed_group", "audience": "group", "at": "start + 15 minutes",
         "when": ["emergency"]},
        {"key": "unclaimed_supervisor", "audience": "supervisor", "at": "start + 1 hour",
         "when": ["routine"]},
        {"key": "unclaimed_supervisor", "audience": "supervisor", "at": "start + 15 minutes",
         "when": ["emergency"]},
    ],
    "complaint_answer": [
        {"key": "handler_24h", "audience": "officer", "at": "due - 24 hours"},
        {"key": "handler_4h", "audience": "officer", "at": "due - 4 hours"},
        {"key": "supervisor_due", "audience": "supervisor", "at": "due"},
        {"key": "supervisor_overdue", "audience": "supervisor", "at": "due + 1 day",
         "every": "1 day"},
    ],
    "completion": [
        {"key": "officer_half", "audience": "officer", "at": "half"},
        {"key": "officer_before", "audience": "officer", "at": "due - 1 working day",
         "when": ["working_days"]},
        {"key": "officer_before", "audience": "officer", "at": "due - 24 hours",
         "when": ["calendar_days"]},
        {"key": "supervisor_due", "audience": "supervisor", "at": "due"},
        {"key": "checkin", "audience": "officer", "at": "start + 1 month", "every": "1 month",
         "until": "due - 1 day"},
    ],
    "citizen": [
        {"key": "ack", "audience": "citizen", "at": "start"},
        {"key": "survey", "audience": "citizen", "at": "resolved"},
        {"key": "survey_reminder", "audience": "citizen", "at": "resolved + 1 day"},
    ],
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReminderPlan:
    """Every rule of every plan kind for one standard."""

    rules: Mapping[PlanKind, tuple[ReminderRule, ...]]

    def for_kind(self, kind: PlanKind) -> tuple[ReminderRule, ...]:
        """The rules of one plan kind (empty when the standard turned it off with `[]`)."""
        return self.rules.get(kind, ())

    def rule(self, kind: PlanKind, key: str) -> tuple[ReminderRule, ...]:
        """The rules of `kind` with `key` (several when conditions tell them apart)."""
        return tuple(rule for rule in self.for_kind(kind) if rule.key == key)


def _build(spec: ReminderPlanSpec, base: ReminderPlan | None) -> ReminderPlan:
    rules: dict[PlanKind, tuple[ReminderRule, ...]] = {}
    for kind in PlanKind:
        given = getattr(spec, kind.value)
        if given is None:
            rules[kind] = base.for_kind(kind) if base is not None else ()
        else:
            rules[kind] = tuple(rule.to_rule(kind) for rule in given)
    return ReminderPlan(rules)


DEFAULT_PLAN: ReminderPlan = _build(ReminderPlanSpec.model_validate(DEFAULT_PLAN_DATA), None)


def plan_for(overrides: ReminderPlanSpec | Mapping[str, Any] | None) -> ReminderPlan:
    """The plan of a standard: the defaults with the kinds its data file overrides replaced.

    `overrides` is the standard's `reminder_plan` (a validated spec, a raw mapping or None).
    Raises pydantic's `ValidationError` for a malformed mapping.
    """
    if overrides is None:
        return DEFAULT_PLAN
    spec = (
        overrides
        if isinstance(overrides, ReminderPlanSpec)
        else ReminderPlanSpec.model_validate(overrides)
    )
    return _build(spec, DEFAULT_PLAN)


def message_ids(plan: ReminderPlan = DEFAULT_PLAN) -> frozenset[str]:
    """Every message id a plan's rules use (for catalog checks)."""
    return frozenset(rule.message for rules in plan.rules.values() for rule in rules)
