"""Inline-button data of the officer side, and of the citizen buttons it answers.

Officer buttons are `of:<verb>:<case id>[:<argument>]`, well under Telegram's 64-byte limit
(a case id and an agency code fit many times over). The verbs are short on purpose: the data
travels with every keyboard. Citizen buttons: `anr:<case id>` ("answer the officer's
question") and the satisfaction survey `survey:<case|complaint>:<number>:<score>` that the
reminders queue sends (score 1-4, or `reopen` for "not resolved").
"""

from __future__ import annotations

from dataclasses import dataclass

OFFICER_PREFIX = "of"
ANSWER_PREFIX = "anr"
SURVEY_PREFIX = "survey"
PREFIXES = (f"{OFFICER_PREFIX}:", f"{ANSWER_PREFIX}:", f"{SURVEY_PREFIX}:")
MAX_BYTES = 64

# verb -> meaning (kept in one table so the router and the renderers agree)
VERBS = {
    "c": "claim",
    "a": "assign",  # a:<id> opens the picker, a:<id>:<officer id> assigns
    "e": "emergency",
    "r": "refer",  # r:<id> opens the picker, r:<id>:<agency code> refers
    "n": "not_ours",  # shows refer-or-reject
    "x": "reject_prompt",  # asks for the reason
    "d": "details",
    "s": "step",  # asks for the note, then advances
    "t": "note",  # asks for the note
    "q": "checklist",  # q:<id> shows, q:<id>:<index> toggles
    "z": "close",  # z:<id> shows the products, z:<id>:<index> closes with it
    "k": "ask",  # asks for the question to the reporter
    "p": "attach",  # waits for a photo
    "b": "back",  # restores the triage keyboard
    "w": "answer_complaint",  # w:<complaint id>: asks for the answer
}


@dataclass(frozen=True, slots=True)
class OfficerCallback:
    """A pressed officer button."""

    verb: str
    target: int
    argument: str | None = None


def officer_button(verb: str, target: int, argument: str | None = None) -> str:
    """The callback data of an officer button; raises ValueError past 64 bytes."""
    if verb not in VERBS:
        raise ValueError(f"unknown officer verb {verb!r}")
    data = f"{OFFICER_PREFIX}:{verb}:{target}"
    if argument is not None:
        data += f":{argument}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data too long: {data!r}")
    return data


def parse_officer(data: str) -> OfficerCallback | None:
    """The officer button in `data`, or None when it is not a well-formed one."""
    parts = data.split(":", 3)
    if len(parts) < 3 or parts[0] != OFFICER_PREFIX or parts[1] not in VERBS:
        return None
    if not parts[2].isdecimal():
        return None
    argument = parts[3] if len(parts) == 4 and parts[3] else None
    return OfficerCallback(parts[1], int(parts[2]), argument)


def is_ours(data: str | None) -> bool:
    """Whether a pressed button belongs to the officer side (officer or answer/survey)."""
    return data is not None and data.startswith(PREFIXES)


def answer_button(case_id: int) -> str:
    """The citizen's "answer the officer" button."""
    return f"{ANSWER_PREFIX}:{case_id}"


def parse_answer(data: str) -> int | None:
    """The case id of an "answer the officer" button."""
    prefix, _, rest = data.partition(":")
    if prefix != ANSWER_PREFIX or not rest.isdecimal():
        return None
    return int(rest)


@dataclass(frozen=True, slots=True)
class SurveyChoice:
    """A satisfaction answer: `score` 1-4, or None for "not resolved" (reopen)."""

    subject: str  # "case" | "complaint"
    number: str
    score: int | None


def parse_survey(data: str) -> SurveyChoice | None:
    """`survey:complaint:ADU-2026-000001:3` -> SurveyChoice; None when malformed."""
    parts = data.split(":")
    if len(parts) != 4 or parts[0] != SURVEY_PREFIX or parts[1] not in ("case", "complaint"):
        return None
    if parts[3] == "reopen":
        return SurveyChoice(parts[1], parts[2], None)
    if parts[3] not in ("1", "2", "3", "4"):
        return None
    return SurveyChoice(parts[1], parts[2], int(parts[3]))


def survey_reopen_button(subject: str, number: str) -> str:
    """The "not resolved" survey button."""
    return f"{SURVEY_PREFIX}:{subject}:{number}:reopen"
