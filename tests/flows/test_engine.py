"""Engine rules that the golden transcripts do not pin down on their own."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from laporbot.errors import FlowError
from laporbot.flows import (
    ActionResult,
    ExpiryResume,
    Flows,
    Limits,
    MessageResume,
    NudgeResume,
    OpenCase,
    Send,
    load_flows,
    step,
)
from laporbot.flows.engine import OFFICER, RESTART
from laporbot.flows.steps.phone import normalize_phone
from laporbot.i18n import Translator
from laporbot.messages import InboundMessage
from laporbot.paths import data_dir

NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def flows() -> Flows:
    return load_flows(data_dir("conversations"), Translator(data_dir("locales")), Limits())


def text(value: str, at: datetime = NOW, hint: str | None = None) -> MessageResume:
    return MessageResume(
        InboundMessage("web", value, "u", "c", "text", at, text=value, language_hint=hint)
    )


def test_a_new_conversation_starts_at_the_menu_in_the_hinted_language(flows: Flows) -> None:
    session, effects = step(flows, None, text("hi", hint="en-GB"), NOW)
    assert session is not None
    assert (session.flow, session.step, session.locale) == ("main", "menu", "en")
    assert isinstance(effects[0], Send)
    assert effects[0].text.startswith("Hello")
    assert session.nudge_at == NOW + timedelta(minutes=20)
    assert session.expires_at == NOW + timedelta(minutes=30)


def test_timeouts_without_a_session_do_nothing(flows: Flows) -> None:
    assert step(flows, None, NudgeResume(), NOW) == (None, [])
    assert step(flows, None, ExpiryResume(), NOW) == (None, [])


def test_early_timeouts_do_nothing(flows: Flows) -> None:
    session, _ = step(flows, None, text("halo"), NOW)
    assert step(flows, session, NudgeResume(), NOW + timedelta(minutes=5)) == (session, [])
    assert step(flows, session, ExpiryResume(), NOW + timedelta(minutes=5)) == (session, [])


def test_an_action_result_needs_a_waiting_action(flows: Flows) -> None:
    session, _ = step(flows, None, text("halo"), NOW)
    with pytest.raises(ValueError, match="awaits no action"):
        step(flows, session, ActionResult({}), NOW)


def test_a_message_while_an_action_is_out_changes_nothing(flows: Flows) -> None:
    session = None
    for line in ["halo", "1", "1", "tidak", "ya", "Kab. Bintan", "Teluk Bintan", "Jl. A"]:
        session, _ = step(flows, session, text(line), NOW)
    for line in ["8", "1", "sendirian", "lewati", "ya", "kirim"]:
        session, effects = step(flows, session, text(line), NOW)
    assert isinstance(effects[-1], OpenCase)
    again, more = step(flows, session, text("halo?"), NOW)
    assert more == []
    assert again is not None
    assert (again.flow, again.step) == ("report", "open")


def test_the_engine_does_not_change_the_session_it_is_given(flows: Flows) -> None:
    session, _ = step(flows, None, text("halo"), NOW)
    assert session is not None
    snapshot = (dict(session.answers), dict(session.state))
    step(flows, session, text("1"), NOW)
    assert (session.answers, session.state) == snapshot


def test_a_loop_without_a_wait_is_refused_at_load(tmp_path: Path) -> None:
    folder = tmp_path / "conversations"
    shutil.copytree(data_dir("conversations"), folder)
    (folder / "help.yaml").write_text(
        "flow: help\nstart: a\nsteps:\n"
        "  a: {type: message, text: help.about, next: b}\n"
        "  b: {type: branch, on: a, cases: {x: offices}, default: a}\n"
        "  offices: {type: list_offices, next: list}\n"
        "  list: {type: end, text: help.offices}\n",
        encoding="utf-8",
    )
    with pytest.raises(FlowError, match="loop without waiting") as caught:
        load_flows(folder, Translator(data_dir("locales")))
    assert caught.value.file == "help.yaml"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("62 812 3456 7890", "+6281234567890"),
        ("+62 (21) 555-0199", "+62215550199"),
        ("+44 20 7946 0958", "+442079460958"),
        ("12345", None),
        ("0812", None),
        ("08123456789012345", None),
        ("+62 0812 3456", None),
        ("telepon saya", None),
    ],
)
def test_phone_numbers(typed: str, expected: str | None) -> None:
    assert normalize_phone(typed) == expected


def sticker(at: datetime = NOW) -> MessageResume:
    return MessageResume(InboundMessage("web", "s", "u", "c", "unsupported", at, content="sticker"))


def test_unreadable_content_is_re_asked_without_a_strike(flows: Flows) -> None:
    session, _ = step(flows, None, text("halo", hint="id"), NOW)
    session, _ = step(flows, session, text("1"), NOW)  # report: which category?
    assert session is not None
    question = (session.flow, session.step)
    unread = "Maaf, jenis pesan ini"
    # Two wrong answers, then stickers: each sticker gets the notice and the question again,
    # with its buttons, and counts for nothing.
    session, _ = step(flows, session, text("zzz"), NOW)
    session, _ = step(flows, session, text("qqq"), NOW)
    for _ in range(3):
        session, effects = step(flows, session, sticker(), NOW)
        assert session is not None
        assert (session.flow, session.step) == question
        assert isinstance(effects[0], Send)
        assert effects[0].text.startswith(unread)
        assert isinstance(effects[-1], Send)
        assert effects[-1].buttons
        assert not any(
            "restart" in [b.id for b in e.buttons] for e in effects if isinstance(e, Send)
        )
    # The third WRONG answer is what offers a restart or an officer.
    session, effects = step(flows, session, text("www"), NOW)
    ids = [b.id for e in effects if isinstance(e, Send) for b in e.buttons]
    assert ids == [RESTART, OFFICER]
    assert session is not None
    assert session.state.get("offer") is True


def test_unreadable_content_first_is_told_then_the_menu(flows: Flows) -> None:
    session, effects = step(flows, None, sticker(), NOW, locale="en")
    assert session is not None
    assert (session.flow, session.step, session.locale) == ("main", "menu", "en")
    assert [type(e) for e in effects[:2]] == [Send, Send]
    assert isinstance(effects[0], Send)
    assert effects[0].text.startswith("Sorry, we cannot read this kind of message")
    assert isinstance(effects[1], Send)
    assert effects[1].text.startswith("Hello")
