"""Reminder plans as data: the defaults, per-standard overrides, and authoring mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from laporbot.errors import StandardsError
from laporbot.paths import data_dir
from laporbot.reminders.plans import (
    DEFAULT_PLAN,
    Anchor,
    Audience,
    Offset,
    OffsetUnit,
    PlanKind,
    TimeSpec,
    message_ids,
    parse_offset,
    parse_time_spec,
    plan_for,
)
from laporbot.standards.loader import load_file
from tests.reminders.support import translator


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("due", TimeSpec(Anchor.DUE)),
        ("half", TimeSpec(Anchor.HALF)),
        ("start + 15 minutes", TimeSpec(Anchor.START, Offset(15, OffsetUnit.MINUTES))),
        ("due - 24 hours", TimeSpec(Anchor.DUE, Offset(-24, OffsetUnit.HOURS))),
        ("due-1 working day", TimeSpec(Anchor.DUE, Offset(-1, OffsetUnit.WORKING_DAYS))),
        ("start + 2 months", TimeSpec(Anchor.START, Offset(2, OffsetUnit.MONTHS))),
        ("resolved + 1 day", TimeSpec(Anchor.RESOLVED, Offset(1, OffsetUnit.DAYS))),
    ],
)
def test_time_expressions(text: str, spec: TimeSpec) -> None:
    assert parse_time_spec(text) == spec


@pytest.mark.parametrize("text", ["tomorrow", "due + soon", "due + 3 fortnights", "due * 2", ""])
def test_bad_time_expressions_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="unknown"):
        parse_time_spec(text)


def test_offsets_read_back() -> None:
    assert str(parse_offset("1 working_day", -1)) == "- 1 working day"
    assert parse_offset("3 Hours") == Offset(3, OffsetUnit.HOURS)


def test_the_defaults_are_the_issues() -> None:
    triage = DEFAULT_PLAN.for_kind(PlanKind.TRIAGE)
    assert {(r.key, r.audience, str(r.at), tuple(sorted(r.when))) for r in triage} == {
        ("unclaimed_group", Audience.GROUP, "start + 1 hour", ("routine",)),
        ("unclaimed_group", Audience.GROUP, "start + 15 minutes", ("emergency",)),
        ("unclaimed_supervisor", Audience.SUPERVISOR, "start + 1 hour", ("routine",)),
        ("unclaimed_supervisor", Audience.SUPERVISOR, "start + 15 minutes", ("emergency",)),
    }
    [overdue] = DEFAULT_PLAN.rule(PlanKind.COMPLAINT_ANSWER, "supervisor_overdue")
    assert overdue.open_ended
    [checkin] = DEFAULT_PLAN.rule(PlanKind.COMPLETION, "checkin")
    assert not checkin.open_ended
    assert str(checkin.until) == "due - 1 day"


def test_every_message_of_the_default_plan_is_in_both_catalogs() -> None:
    catalog = translator()
    ids = message_ids()
    for locale in ("id", "en"):
        for msgid in ids:
            variants = [msgid, f"{msgid}.case", f"{msgid}.complaint"]
            assert any(catalog.has(locale, v) for v in variants), (locale, msgid)
    for event in ("claimed.case", "step.case", "referred.case", "closed.case", "rejected.case"):
        for locale in ("id", "en"):
            assert catalog.has(locale, f"reminders.citizen.{event}"), (locale, event)
    assert catalog.has("en", "reminders.citizen.answered.complaint")


def test_a_standard_overrides_only_the_kinds_it_names() -> None:
    plan = plan_for(
        {
            "complaint_answer": [
                {"key": "handler_12h", "audience": "officer", "at": "due - 12 hours"}
            ]
        }
    )
    assert [r.key for r in plan.for_kind(PlanKind.COMPLAINT_ANSWER)] == ["handler_12h"]
    assert plan.for_kind(PlanKind.COMPLETION) == DEFAULT_PLAN.for_kind(PlanKind.COMPLETION)
    [rule] = plan.for_kind(PlanKind.COMPLAINT_ANSWER)
    assert rule.message == "reminders.complaint_answer.handler_12h"
    assert plan_for({"triage": []}).for_kind(PlanKind.TRIAGE) == ()  # turned off


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ([{"key": "x", "audience": "officer", "at": "soon"}], "unknown anchor"),
        ([{"key": "x", "audience": "boss", "at": "due"}], "audience"),
        ([{"key": "x", "audience": "officer", "at": "due", "until": "due"}], "only a repeating"),
        ([{"key": "x", "audience": "officer", "at": "due", "every": "0 days"}], "at least 1"),
        (
            [
                {"key": "x", "audience": "officer", "at": "due"},
                {"key": "x", "audience": "group", "at": "due"},
            ],
            "used twice",
        ),
        ([{"key": "x", "audience": "officer", "at": "due", "colour": "red"}], "Extra inputs"),
    ],
)
def test_authoring_mistakes_fail_at_load(rules: list[dict[str, object]], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        plan_for({"completion": rules})


def test_a_standards_file_carries_its_reminder_plan(tmp_path: Path) -> None:
    source = data_dir("standards") / "kab-lumajang.yaml"
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["standards"][0]["reminder_plan"] = {
        "triage": [{"key": "unclaimed_group", "audience": "group", "at": "start + 30 minutes"}]
    }
    edited = tmp_path / "kab-lumajang.yaml"
    edited.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    agency = load_file(edited)
    plan = plan_for(agency.standards[0].reminder_plan)
    assert [str(r.at) for r in plan.for_kind(PlanKind.TRIAGE)] == ["start + 30 minutes"]

    data["standards"][0]["reminder_plan"] = {"triage": [{"key": "x", "audience": "group"}]}
    edited.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(StandardsError, match="reminder_plan"):
        load_file(edited)
