"""`laporbot reminders plan` and `laporbot reminders tick`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from laporbot.cli import main
from laporbot.settings import Settings
from tests.db.support import copy_sqlite_template


def test_plan_shows_the_lumajang_case_across_idul_fitri() -> None:
    result = CliRunner().invoke(
        main,
        ["reminders", "plan", "lumajang-rekomendasi-anak", "--received", "2026-03-17T10:00"],
        obj={"settings": Settings()},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "completion due 2026-03-25T16:00:00+07:00"
    assert "2026-03-17T16:00:00+07:00  completion       officer_before         officer" in lines
    assert "2026-03-25T09:00:00+07:00  completion       officer_half           officer" in lines
    assert any("supervisor_overdue" in line and "(then every 1 day)" in line for line in lines)


def test_plan_json_for_an_emergency() -> None:
    result = CliRunner().invoke(
        main,
        ["reminders", "plan", "riau-penyerahan-anak-lansia", "--received",
         "2026-03-17T10:00+07:00", "--emergency", "--json"],
        obj={"settings": Settings()},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    triage = [row for row in rows if row["plan"] == "triage"]
    assert {row["at"] for row in triage} == {"2026-03-17T10:15:00+07:00"}


def test_plan_refuses_unknown_standards_and_times() -> None:
    runner = CliRunner()
    unknown = runner.invoke(
        main, ["reminders", "plan", "nope", "--received", "2026-03-17T10:00"], obj={}
    )
    assert unknown.exit_code != 0
    assert "nope" in unknown.output
    bad = runner.invoke(
        main, ["reminders", "plan", "lumajang-rekomendasi-anak", "--received", "soon"], obj={}
    )
    assert bad.exit_code != 0
    assert "ISO 8601" in bad.output


def test_tick_runs_once_against_the_database(
    migrated_sqlite_template: Path, tmp_path: Path
) -> None:
    url = copy_sqlite_template(migrated_sqlite_template, tmp_path / "db")
    settings = Settings(database_url=url, data_dir=tmp_path)
    result = CliRunner().invoke(main, ["reminders", "tick"], obj={"settings": settings})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "sent": 0,
        "late": 0,
        "cancelled": 0,
        "messages": 0,
        "digests": 0,
    }
