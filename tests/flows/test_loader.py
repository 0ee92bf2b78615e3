"""Loading refuses every authoring mistake with file, step and reason; shipped flows pass."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from laporbot.cli import main
from laporbot.errors import FlowError
from laporbot.flows import load_flows
from laporbot.i18n import Translator
from laporbot.paths import data_dir
from laporbot.settings import Settings

SHIPPED = data_dir("conversations")


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator(data_dir("locales"))


def with_flow(tmp_path: Path, name: str, body: str) -> Path:
    folder = tmp_path / "conversations"
    shutil.copytree(SHIPPED, folder)
    (folder / f"{name}.yaml").write_text(body, encoding="utf-8")
    return folder


def test_shipped_flows_load(translator: Translator) -> None:
    flows = load_flows(SHIPPED, translator)
    assert set(flows.flows) == {"main", "report", "complaint", "status", "help"}


BROKEN = {
    "unknown step type": (
        "flow: main\nstart: menu\nsteps:\n  menu: {type: carousel, prompt: main.menu}\n",
        ("main.yaml", "menu", "unknown step type 'carousel'"),
    ),
    "choice without options": (
        "flow: main\nstart: menu\nsteps:\n  menu: {type: choice, prompt: main.menu, options: []}\n",
        ("main.yaml", "menu", "needs at least one entry in options"),
    ),
    "dangling next": (
        "flow: main\nstart: menu\nsteps:\n"
        "  menu: {type: message, text: main.menu, next: nowhere}\n",
        ("main.yaml", "menu", "dangling target 'nowhere'"),
    ),
    "dangling flow target": (
        "flow: main\nstart: menu\nsteps:\n"
        "  menu: {type: message, text: main.menu, next: '@nosuch'}\n",
        ("main.yaml", "menu", "dangling target '@nosuch'"),
    ),
    "unreachable step": (
        "flow: main\nstart: menu\nsteps:\n"
        "  menu: {type: end, text: main.menu}\n"
        "  orphan: {type: end, text: main.menu}\n",
        ("main.yaml", "orphan", "unreachable step"),
    ),
    "missing message id": (
        "flow: main\nstart: menu\nsteps:\n  menu: {type: end, text: main.nope}\n",
        ("main.yaml", "menu", "message id 'main.nope' missing from the id catalog"),
    ),
    "no next": (
        "flow: main\nstart: menu\nsteps:\n  menu: {type: message, text: main.menu}\n",
        ("main.yaml", "menu", "no next step"),
    ),
    "unknown field": (
        "flow: main\nstart: menu\nsteps:\n  menu: {type: end, text: main.menu, colour: red}\n",
        ("main.yaml", "menu", "colour is not a field of this step type"),
    ),
    "bad yaml": ("flow: [main\n", ("main.yaml", "file", "not valid YAML")),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_flow_is_refused(tmp_path: Path, translator: Translator, case: str) -> None:
    body, (file, where, reason) = BROKEN[case]
    folder = with_flow(tmp_path, "main", body)
    with pytest.raises(FlowError) as caught:
        load_flows(folder, translator)
    assert (caught.value.file, caught.value.where) == (file, where)
    assert reason in caught.value.problem


def test_missing_english_message_is_refused(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    shutil.copytree(data_dir("locales"), locales)
    po = locales / "en" / "LC_MESSAGES" / "flows.po"
    text = po.read_text(encoding="utf-8")
    po.write_text(text.replace('msgid "report.ask_phone"', 'msgid "report.ask_phone_x"'), "utf-8")
    with pytest.raises(FlowError, match=r"'report.ask_phone' missing from the en catalog"):
        load_flows(SHIPPED, Translator(locales))


def test_flows_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["flows", "check"], obj={"settings": Settings()})
    assert ok.exit_code == 0, ok.output
    assert "5 flows" in ok.output
    folder = with_flow(tmp_path, "main", BROKEN["unknown step type"][0])
    bad = runner.invoke(main, ["flows", "check", "--dir", str(folder)])
    assert bad.exit_code == 1
    assert "main.yaml: menu: unknown step type 'carousel'" in bad.output


def test_every_button_label_fits_a_whatsapp_reply_button(translator: Translator) -> None:
    """WhatsApp cuts reply-button titles at 20 characters (list rows at 24)."""
    flows = load_flows(SHIPPED, translator)
    labels = {
        "common.yes",
        "common.no",
        "common.confirm",
        "common.cancel",
        "common.skip",
        "common.restart",
        "common.officer",
        "lang.name",
    }
    for flow in flows.flows.values():
        for step in flow.steps.values():
            labels.update(option.label for option in getattr(step, "options", []))
    too_long = {
        (locale, translator.text(locale, msgid))
        for msgid in labels
        for locale in translator.locales
        if len(translator.text(locale, msgid)) > 20
    }
    assert too_long == set()
