"""`laporbot serve` and `laporbot chat` with a broken data file or unusable settings: one line
naming the file, the place and the problem, exit status 2, no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from laporbot.cli import main
from laporbot.paths import data_dir
from laporbot.settings import Settings


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(data_dir(name), target)
    return target


def _broken_standards(tmp_path: Path) -> Settings:
    folder = _copy("standards", tmp_path)
    path = folder / "kab-bintan.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n  oops: [unclosed\n", encoding="utf-8")
    return Settings(data_dir=tmp_path / "var", standards_dir=folder, http_port=0)


def _broken_flow(tmp_path: Path) -> Settings:
    folder = _copy("conversations", tmp_path)
    path = folder / "report.yaml"
    text = path.read_text(encoding="utf-8")
    # A step that goes to a step the flow does not have.
    path.write_text(text.replace("next: danger", "next: no_such_step", 1), encoding="utf-8")
    return Settings(data_dir=tmp_path / "var", conversations_dir=folder, http_port=0)


def _bad_database(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url="mysql://x@127.0.0.1/db", http_port=0)


@pytest.mark.parametrize("command", [["serve"], ["chat"]])
@pytest.mark.parametrize(
    ("broken", "names"),
    [
        (_broken_standards, "kab-bintan.yaml"),
        (_broken_flow, "report.yaml"),
        (_bad_database, "unsupported database"),
    ],
)
def test_one_line_error_and_exit_2(
    tmp_path: Path, command: list[str], broken: object, names: str
) -> None:
    settings = broken(tmp_path)  # type: ignore[operator]
    result = CliRunner().invoke(main, command, input="halo\n", obj={"settings": settings})
    assert result.exit_code == 2, result.output + repr(result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert names in lines[0]
    assert "Traceback" not in result.output
