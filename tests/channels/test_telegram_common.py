"""Telegram rules shared by both backends: splitting, send plans, webhook secrets (no network)."""

from __future__ import annotations

import hmac
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from laporbot.channels.base import PermanentSendError
from laporbot.channels.telegram import catalog_text, make_telegram_adapter
from laporbot.channels.telegram import webhook as webhook_module
from laporbot.channels.telegram.common import (
    CALLBACK_DATA_MAX_BYTES,
    TEXT_LIMIT,
    button_label,
    largest_photo,
    plan_send,
    split_text,
    split_update,
    telegram_length,
)
from laporbot.channels.telegram.webhook import (
    NO_CALL,
    check_secret,
    check_secret_shape,
    derive_secret,
    webhook_answer,
)
from laporbot.errors import BadRequest, CatalogError, ConfigError
from laporbot.messages import Button, OutboundMessage
from laporbot.settings import Settings


def out(text: str, **extra: object) -> OutboundMessage:
    return OutboundMessage(channel="telegram", chat_id="42", text=text, **extra)  # type: ignore[arg-type]


# --- split_update -------------------------------------------------------------------------------


def test_split_update_keys_on_update_id() -> None:
    (raw,) = split_update({"update_id": 5, "message": {}})
    assert (raw.channel, raw.platform_id, raw.payload) == (
        "telegram",
        "5",
        {"update_id": 5, "message": {}},
    )


@pytest.mark.parametrize(
    "body",
    [
        None,
        "text",
        [],
        {},
        {"update_id": None},
        {"update_id": "5"},
        {"update_id": True},
        {"update_id": -1},
    ],
)
def test_split_update_refuses_what_is_not_an_update(body: object) -> None:
    with pytest.raises(BadRequest):
        split_update(body)


# --- split_text ---------------------------------------------------------------------------------


def test_short_text_is_one_part() -> None:
    assert split_text("halo") == ["halo"]


def test_split_prefers_paragraphs_then_lines_then_words() -> None:
    assert split_text("aaaa bbbb\n\ncccc dddd", limit=12) == ["aaaa bbbb", "cccc dddd"]
    assert split_text("aaaa bbbb\ncccc dddd", limit=12) == ["aaaa bbbb", "cccc dddd"]
    assert split_text("aaaa bbbb cccc dddd", limit=12) == ["aaaa bbbb", "cccc dddd"]
    # one long word is cut where it must be
    assert split_text("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_split_counts_like_telegram() -> None:
    # an emoji outside the basic plane counts two units on Telegram
    assert telegram_length("😀") == 2
    parts = split_text("😀" * 3000)
    assert [telegram_length(p) for p in parts] == [4096, 1904]


@given(st.text(alphabet=st.sampled_from("ab \n😀é"), max_size=400), st.integers(1, 60))
def test_split_keeps_every_word_in_order_within_the_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit=limit)
    # only a character wider than the limit itself (an emoji at limit 1) may exceed it
    assert all(telegram_length(part) <= max(limit, 2) for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


# --- plan_send ----------------------------------------------------------------------------------


def test_plan_puts_the_keyboard_on_the_last_part() -> None:
    buttons = (Button("ya", "Ya"),)
    steps = plan_send(out("kata " * 2000, buttons=buttons), location_label="Lokasi")
    assert [s.kind for s in steps] == ["text", "text", "text"]
    assert [s.buttons for s in steps] == [(), (), buttons]
    assert all(telegram_length(s.text) <= TEXT_LIMIT for s in steps)


def test_plan_photo_caption_or_photo_then_text() -> None:
    (photo,) = plan_send(out("Foto", photo="F1", buttons=(Button("a", "A"),)), location_label="L")
    assert (photo.kind, photo.text, photo.photo, len(photo.buttons)) == ("photo", "Foto", "F1", 1)
    long = plan_send(out("x " * 700, photo="F1", buttons=(Button("a", "A"),)), location_label="L")
    assert [(s.kind, len(s.buttons)) for s in long] == [("photo", 0), ("text", 1)]
    assert long[0].text == ""


def test_plan_edit_and_location() -> None:
    (edit,) = plan_send(out("baru", edit_of="17", buttons=(Button("a", "A"),)), location_label="L")
    assert (edit.kind, edit.edit_of, len(edit.buttons)) == ("edit", 17, 1)
    # a reply keyboard cannot ride on an edit: the location request goes out as a new message
    (fresh,) = plan_send(out("Di mana?", edit_of="17", request_location=True), location_label="L")
    assert (fresh.kind, fresh.request_location, fresh.location_label) == ("text", True, "L")
    with pytest.raises(PermanentSendError):
        plan_send(out("x", edit_of="abc"), location_label="L")


def test_plan_refuses_what_telegram_would_refuse() -> None:
    with pytest.raises(PermanentSendError, match="empty"):
        plan_send(out(" \n"), location_label="L")
    with pytest.raises(PermanentSendError, match="64 bytes"):
        plan_send(out("x", buttons=(Button("a" * 65, "A"),)), location_label="L")
    with pytest.raises(PermanentSendError, match="64 bytes"):
        plan_send(out("x", buttons=(Button("", "A"),)), location_label="L")
    with pytest.raises(PermanentSendError, match="at most 100"):
        plan_send(
            out("x", buttons=tuple(Button(str(n), "b") for n in range(101))), location_label="L"
        )
    # exactly 64 bytes of UTF-8 is fine
    plan_send(
        out("x", buttons=(Button("é" * (CALLBACK_DATA_MAX_BYTES // 2), "A"),)), location_label="L"
    )


def test_long_labels_are_shortened_to_one_line() -> None:
    assert button_label("Anak\nterlantar") == "Anak terlantar"
    shortened = button_label("kata " * 30)
    assert len(shortened) == 64
    assert shortened.endswith("…")


def test_largest_photo_is_chosen_by_area_not_order() -> None:
    assert largest_photo([("big", 1280, 853), ("small", 90, 60)]) == "big"
    assert largest_photo([]) is None


# --- webhook secret -----------------------------------------------------------------------------


def test_check_secret() -> None:
    header = "X-Telegram-Bot-Api-Secret-Token"
    assert check_secret({header: "abc_123"}, "abc_123") is True
    assert check_secret({header: "abc_124"}, "abc_123") is False
    assert check_secret({header: ""}, "abc_123") is False
    assert check_secret({}, "abc_123") is False
    assert check_secret({header: ""}, "") is False  # nothing configured trusts nothing
    # header names are case-insensitive, in a plain dict and in aiohttp's headers
    assert check_secret({header.lower(): "abc_123"}, "abc_123") is True
    assert check_secret(CIMultiDict({header.upper(): "abc_123"}), "abc_123") is True
    assert check_secret({header: "ä"}, "abc") is False  # non-ASCII does not crash


def test_check_secret_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhook_module.hmac, "compare_digest", spy)
    assert check_secret({"X-Telegram-Bot-Api-Secret-Token": "given"}, "expected") is False
    assert compared == [(b"given", b"expected")]


def test_derived_secret_is_stable_and_acceptable_to_telegram() -> None:
    secret = derive_secret("123:abc")
    assert secret == derive_secret("123:abc") != derive_secret("123:abd")
    check_secret_shape(secret)
    with pytest.raises(ConfigError):
        check_secret_shape("has space")
    with pytest.raises(ConfigError):
        check_secret_shape("x" * 257)


# --- factory ------------------------------------------------------------------------------------


def test_factory_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_TOKEN"):
        make_telegram_adapter(Settings())


@pytest.mark.parametrize("backend", ["aiogram", "ptb"])
async def test_factory_builds_the_chosen_backend(backend: str) -> None:
    settings = Settings(telegram_token="1:x", telegram_backend=backend)
    adapter = make_telegram_adapter(settings)
    try:
        assert adapter.backend == backend
        assert adapter.channel == "telegram"
    finally:
        await adapter.close()


def test_location_label_comes_from_the_catalog(tmp_path: Path) -> None:
    locales = Settings().locales_dir
    assert catalog_text(locales, "id", "telegram.share_location") == "📍 Kirim lokasi saya"
    assert catalog_text(locales, "en", "telegram.share_location") == "📍 Send my location"
    with pytest.raises(CatalogError):
        catalog_text(locales, "id", "telegram.no_such_message")
    with pytest.raises(CatalogError):
        catalog_text(tmp_path, "id", "telegram.share_location")


def test_webhook_secret_setting_or_derived() -> None:
    from laporbot.channels.telegram.webhook import webhook_secret

    assert webhook_secret(Settings(telegram_token="1:x")) == derive_secret("1:x")
    configured = Settings(telegram_token="1:x", telegram_webhook_secret="mine_1")
    assert webhook_secret(configured) == "mine_1"
    with pytest.raises(ConfigError):
        webhook_secret(Settings())
    with pytest.raises(ConfigError):
        webhook_secret(Settings(telegram_token="1:x", telegram_webhook_secret="not ok"))


# --- webhook_answer -------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=64))
def test_a_button_is_answered_in_the_webhook_answer_whatever_its_id(query_id: str) -> None:
    [update] = split_update({"update_id": 7, "callback_query": {"id": query_id, "data": "yes"}})
    answer = json.loads(webhook_answer([update]))
    assert answer == {"method": "answerCallbackQuery", "callback_query_id": query_id}


def test_other_updates_ask_telegram_for_nothing() -> None:
    [message] = split_update({"update_id": 8, "message": {"message_id": 1, "text": "halo"}})
    [broken] = split_update({"update_id": 9, "callback_query": {"id": 12345}})
    for updates in ([message], [broken], []):
        assert webhook_answer(updates) == NO_CALL
        assert "method" not in json.loads(NO_CALL)
