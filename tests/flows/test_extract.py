"""`pybabel extract -F babel.cfg` collects every message id the flows and the engine use."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir

from laporbot.flows.extract import extract_flows
from laporbot.i18n import Translator
from laporbot.paths import data_dir

# Shown by `laporbot chat` itself, not by a flow.
NOT_IN_FLOWS = {"terminal.location_hint"}


def test_extractor_finds_every_flow_message_id() -> None:
    folder = data_dir("conversations")
    found = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(folder),
            method_map=[("**.yaml", "laporbot_flows")],
            options_map={},
            keywords={},
        )
    }
    translator = Translator(data_dir("locales"))
    catalog = {m for m in translator.msgids("id") if translator.domain_of("id", m) == "flows"}
    assert found == catalog - NOT_IN_FLOWS


def test_extractor_reports_lines() -> None:
    path = data_dir("conversations") / "report.yaml"
    with path.open("rb") as handle:
        rows = list(extract_flows(handle, {}, [], {}))
    by_id = {message: line for line, _func, message, _comments in rows}
    lines = path.read_text(encoding="utf-8").splitlines()
    assert "report.ask_danger" in lines[by_id["report.ask_danger"] - 1]
