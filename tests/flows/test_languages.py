"""The languages citizens are offered: the deployment's `settings.locales` that have a catalog."""

from __future__ import annotations

from datetime import UTC, datetime

from laporbot.flows import Flows, MessageResume, Send, load_flows, step
from laporbot.flows.engine import LANGUAGE_PREFIX
from laporbot.flows.loader import load_from_settings
from laporbot.i18n import Translator
from laporbot.messages import InboundMessage
from laporbot.paths import data_dir
from laporbot.settings import Settings

NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)


def _flows(*languages: str) -> Flows:
    return load_flows(
        data_dir("conversations"), Translator(data_dir("locales")), languages=languages
    )


def text(value: str, hint: str | None = None) -> MessageResume:
    return MessageResume(
        InboundMessage("web", value, "u", "c", "text", NOW, text=value, language_hint=hint)
    )


def offered_buttons(flows: Flows) -> list[str]:
    session, _ = step(flows, None, text("halo"), NOW)
    _, effects = step(flows, session, text("bahasa"), NOW)
    sends = [e for e in effects if isinstance(e, Send)]
    return [b.id.removeprefix(LANGUAGE_PREFIX) for b in sends[-1].buttons]


def test_settings_locales_limit_the_language_menu() -> None:
    assert offered_buttons(_flows("id", "en")) == ["id", "en"]
    assert offered_buttons(_flows("id")) == ["id"]
    # A language with no catalog is not offered; the default always is.
    assert offered_buttons(_flows("en", "ms")) == ["id", "en"]
    assert offered_buttons(_flows()) == ["id", "en"]  # nothing configured: every catalog


def test_a_language_not_offered_is_neither_switched_to_nor_started_in() -> None:
    flows = _flows("id")
    session, _ = step(flows, None, text("hi", hint="en-GB"), NOW)
    assert session is not None
    assert session.locale == "id"
    session, _ = step(flows, session, text("english"), NOW)
    assert session is not None
    assert session.locale == "id"


def test_load_from_settings_uses_settings_locales() -> None:
    assert load_from_settings(Settings(locales=("id",))).languages == ("id",)
    assert load_from_settings(Settings()).languages == ("id", "en")
