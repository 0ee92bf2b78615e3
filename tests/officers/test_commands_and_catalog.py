"""Command parsing, button data within Telegram's limits, and every officer message id in both
catalogs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from laporbot.i18n import Translator
from laporbot.officers import parse_command
from laporbot.officers.callbacks import (
    SurveyChoice,
    officer_button,
    parse_answer,
    parse_officer,
    parse_survey,
)
from laporbot.officers.casework import MILESTONES, milestone_of
from laporbot.officers.commands import ALIASES
from laporbot.officers.triage import CATEGORIES
from laporbot.paths import data_dir
from laporbot.standards import load_registry

SOURCE = Path(__file__).resolve().parents[2] / "src" / "laporbot" / "officers"


def test_commands_are_indonesian_first_with_english_aliases() -> None:
    step = parse_command("/lanjut@LaporBot LPR-2026-000001 sudah  ditelusuri ")
    assert step is not None
    assert (step.name, step.arg(0), step.after(1)) == (
        "step",
        "LPR-2026-000001",
        "sudah  ditelusuri",
    )
    assert parse_command("/next LPR-1 x") == parse_command("/lanjut LPR-1 x")
    assert parse_command("/ANTRIAN") is not None
    assert parse_command("/lapor") is None  # the citizen side's
    assert parse_command("antrian") is None
    pairs = {
        "antrian": "queue",
        "ambil": "claim",
        "rujuk": "refer",
        "selesai": "close",
        "tolak": "reject",
        "jawab": "answer",
        "tanya": "ask",
    }
    for indonesian, english in pairs.items():
        assert ALIASES[indonesian] == ALIASES[english]


def test_button_data_fits_telegram_and_round_trips() -> None:
    registry = load_registry(data_dir("standards"))
    longest = max((a.code for a in registry.agencies), key=len)
    data = officer_button("r", 2_147_483_647, longest)
    assert len(data.encode()) <= 64
    parsed = parse_officer(data)
    assert parsed is not None
    assert (parsed.verb, parsed.target, parsed.argument) == ("r", 2_147_483_647, longest)
    with pytest.raises(ValueError, match="too long"):
        officer_button("r", 1, "x" * 60)
    for bad in ("of:zz:1", "of:c:abc", "of:c", "anr:1", "survey:case:LPR-1:1", "other"):
        assert parse_officer(bad) is None
    assert parse_answer("anr:12") == 12
    assert parse_answer("anr:x") is None
    assert parse_survey("survey:complaint:ADU-2026-000001:3") == SurveyChoice(
        "complaint", "ADU-2026-000001", 3
    )
    assert parse_survey("survey:case:LPR-2026-000001:reopen") == SurveyChoice(
        "case", "LPR-2026-000001", None
    )
    assert parse_survey("survey:case:LPR-2026-000001:5") is None


def test_milestones_found_in_the_seed_procedures() -> None:
    registry = load_registry(data_dir("standards"))
    bintan = registry.standard("bintan-rehab-anak").procedure[0].steps
    assert [milestone_of(step) for step in bintan[:3]] == [None, "verified", "visit_scheduled"]


def test_every_officer_message_id_is_in_both_catalogs() -> None:
    translator = Translator(data_dir("locales"))
    used: set[str] = set()
    for path in SOURCE.glob("*.py"):
        used.update(re.findall(r'"(officers\.[a-z_]+(?:\.[a-z_]+)+)"', path.read_text()))
    used -= {"officers.answer", "officers.pending"}  # state names, not messages
    used.update(f"officers.category.{c}" for c in CATEGORIES)
    used.update(f"officers.citizen.{m}" for m in MILESTONES)
    used.update(f"officers.citizen.{m}_when" for m in MILESTONES)
    used.update(f"officers.group.registered_{p}" for p in ("triage", "complaints"))
    used.update(f"officers.role.{r}" for r in ("officer", "supervisor", "admin", "group"))
    statuses = ("new", "claimed", "in_progress", "referred", "resolved", "rejected", "closed")
    used.update(f"officers.status.{s}" for s in statuses)
    assert len(used) > 100
    for locale in ("id", "en"):
        missing = sorted(msgid for msgid in used if not translator.has(locale, msgid))
        assert missing == [], locale
