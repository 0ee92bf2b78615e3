"""WhatsApp inbound: verification, signature, splitting and translating Meta-shaped bodies."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from laporbot.channels.base import RawUpdate
from laporbot.channels.whatsapp import (
    check_signature,
    delivery_status,
    sign,
    verify_subscription,
)
from laporbot.channels.whatsapp.webhook import split, translate
from laporbot.errors import BadRequest
from laporbot.messages import Location, Photo
from tests.support.graphapi import FakeClock, WaUser, WebhookBuilder, encode, sign_body

SECRET = "app-secret-1234"
NOW = 1_795_000_000.0

PHONE_ONLY = WaUser("Sari", wa_id="6281234567890")
BSUID_ONLY = WaUser("Budi", user_id="ID.1410018717833190")
BOTH = WaUser("Ani", wa_id="6289876543210", user_id="ID.9988776655443322")

# (user, expected user_id, expected chat_id)
SHAPES = [
    pytest.param(PHONE_ONLY, "6281234567890", "6281234567890", id="wa_id-only"),
    pytest.param(BSUID_ONLY, "ID.1410018717833190", "ID.1410018717833190", id="user_id-only"),
    pytest.param(BOTH, "ID.9988776655443322", "6289876543210", id="both"),
]


@pytest.fixture
def hooks() -> WebhookBuilder:
    return WebhookBuilder(clock=FakeClock(NOW))


def one(body: dict[str, Any]) -> RawUpdate:
    updates = split(body)
    assert len(updates) == 1
    return updates[0]


# --- verification and signature -------------------------------------------------------------


def test_verification_echoes_the_challenge_for_the_right_token() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "tok-123", "hub.challenge": "1158201444"}
    assert verify_subscription(params, "tok-123") == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "tok-123", "hub.challenge": "1"},
        {"hub.verify_token": "tok-123", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
def test_verification_refuses_a_wrong_token_or_mode(params: dict[str, str]) -> None:
    assert verify_subscription(params, "tok-123") is None


def test_verification_refuses_when_no_token_is_configured() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert verify_subscription(params, "") is None


def test_signature_of_the_raw_body_is_accepted(hooks: WebhookBuilder) -> None:
    raw = encode(hooks.text(PHONE_ONLY, "halo"))
    header = sign_body(raw, SECRET)
    assert header == sign(raw, SECRET)
    assert check_signature(raw, header, SECRET)
    assert check_signature(raw, header.upper().replace("SHA256=", "sha256="), SECRET)


def test_forged_missing_or_altered_signatures_are_refused(hooks: WebhookBuilder) -> None:
    raw = encode(hooks.text(PHONE_ONLY, "halo"))
    good = sign_body(raw, SECRET)
    assert not check_signature(raw, sign_body(raw, "another-secret"), SECRET)  # forged
    assert not check_signature(raw, None, SECRET)  # missing
    assert not check_signature(raw, "", SECRET)
    assert not check_signature(raw, good.removeprefix("sha256="), SECRET)  # no prefix
    assert not check_signature(raw, "sha1=" + good.removeprefix("sha256="), SECRET)
    altered = raw.replace(b"halo", b"hallo")
    assert not check_signature(altered, good, SECRET)  # body altered after signing
    assert not check_signature(raw, good, "")  # no secret configured


# --- split ------------------------------------------------------------------------------------


def test_split_keys_messages_by_wamid_and_statuses_by_id_and_state(
    hooks: WebhookBuilder,
) -> None:
    message = hooks.text(BOTH, "halo")
    wamid = message["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    update = one(message)
    assert update.channel == "whatsapp"
    assert update.platform_id == wamid
    assert update.payload["contact"]["user_id"] == BOTH.user_id
    assert update.payload["metadata"]["phone_number_id"] == hooks.phone_number_id

    sent = one(hooks.status(BOTH, "wamid.OUT1", "sent"))
    read = one(hooks.status(BOTH, "wamid.OUT1", "read"))
    assert sent.platform_id == "status:wamid.OUT1:sent"
    assert read.platform_id == "status:wamid.OUT1:read"


def test_split_handles_several_entries_changes_and_messages(hooks: WebhookBuilder) -> None:
    first = hooks.text(PHONE_ONLY, "satu")
    second = hooks.text(BSUID_ONLY, "dua")
    status = hooks.status(BOTH, "wamid.OUT2", "delivered")
    body = copy.deepcopy(first)
    body["entry"][0]["changes"].append(second["entry"][0]["changes"][0])
    body["entry"].append(status["entry"][0])
    # Two messages in one value, each with its own contact.
    value = body["entry"][0]["changes"][0]["value"]
    extra = copy.deepcopy(second["entry"][0]["changes"][0]["value"])
    value["contacts"] += extra["contacts"]
    extra["messages"][0]["id"] = "wamid.EXTRA"
    value["messages"] += extra["messages"]
    updates = split(body)
    assert [u.platform_id.startswith("status:") for u in updates] == [False, False, False, True]
    texts = [translate(u)[0] for u in updates[:3]]
    assert [(m.text, m.user_id) for m in texts] == [
        ("satu", PHONE_ONLY.wa_id),
        ("dua", BSUID_ONLY.user_id),  # matched to its own contact, not the first one
        ("dua", BSUID_ONLY.user_id),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account", "entry": "x"},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": []}]}]},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"messages": [{}]}}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"messages": [{"id": "wamid.1"}]}}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"statuses": [{"id": "wamid.1"}]}}]}],
        },
    ],
)
def test_malformed_bodies_are_bad_requests(body: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        split(body)


def test_a_body_with_nothing_in_it_gives_no_updates() -> None:
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": []}]}
    assert split(body) == []


# --- translate, every type in every shape ----------------------------------------------------

RECEIVED = datetime.fromtimestamp(int(NOW), UTC)


@pytest.mark.parametrize(("user", "user_id", "chat_id"), SHAPES)
def test_text(hooks: WebhookBuilder, user: WaUser, user_id: str, chat_id: str) -> None:
    update = one(hooks.text(user, "Ada anak terlantar di pasar"))
    [msg] = translate(update)
    assert (msg.kind, msg.text) == ("text", "Ada anak terlantar di pasar")
    assert (msg.user_id, msg.chat_id) == (user_id, chat_id)
    assert msg.platform_id == update.platform_id
    assert msg.received_at == RECEIVED
    assert msg.channel == "whatsapp"
    assert msg.language_hint is None


@pytest.mark.parametrize(("user", "user_id", "chat_id"), SHAPES)
def test_button_reply(hooks: WebhookBuilder, user: WaUser, user_id: str, chat_id: str) -> None:
    [msg] = translate(one(hooks.button_reply(user, "cat.child", "Anak", replied_to="wamid.Q")))
    assert (msg.kind, msg.choice, msg.text) == ("choice", "cat.child", "Anak")
    assert (msg.user_id, msg.chat_id, msg.reply_to) == (user_id, chat_id, "wamid.Q")


@pytest.mark.parametrize(("user", "user_id", "chat_id"), SHAPES)
def test_list_reply(hooks: WebhookBuilder, user: WaUser, user_id: str, chat_id: str) -> None:
    body = hooks.list_reply(user, "area.7", "Kecamatan Sukodono", "Kecamatan Sukodono, Lumajang")
    [msg] = translate(one(body))
    assert (msg.kind, msg.choice) == ("choice", "area.7")
    assert (msg.user_id, msg.chat_id) == (user_id, chat_id)


@pytest.mark.parametrize(("user", "user_id", "chat_id"), SHAPES)
def test_location(hooks: WebhookBuilder, user: WaUser, user_id: str, chat_id: str) -> None:
    body = hooks.location(
        user, -8.1335, 113.2248, name="Pasar Baru", address="Jl. Panglima Sudirman"
    )
    [msg] = translate(one(body))
    assert msg.kind == "location"
    assert msg.location == Location(latitude=-8.1335, longitude=113.2248)
    assert msg.text == "Pasar Baru, Jl. Panglima Sudirman"
    assert (msg.user_id, msg.chat_id) == (user_id, chat_id)


def test_a_bare_pin_has_no_text(hooks: WebhookBuilder) -> None:
    [msg] = translate(one(hooks.location(PHONE_ONLY, -8.1, 113.2)))
    assert msg.text is None
    assert msg.location == Location(latitude=-8.1, longitude=113.2)


@pytest.mark.parametrize(("user", "user_id", "chat_id"), SHAPES)
def test_image(hooks: WebhookBuilder, user: WaUser, user_id: str, chat_id: str) -> None:
    [msg] = translate(one(hooks.image(user, "1479537139650973", caption="di depan toko")))
    assert msg.kind == "photo"
    assert msg.photo == Photo(ref="1479537139650973", caption="di depan toko")
    assert (msg.user_id, msg.chat_id) == (user_id, chat_id)
    [bare] = translate(one(hooks.image(user, "1479537139650974")))
    assert bare.photo == Photo(ref="1479537139650974", caption=None)


def test_template_quick_reply_is_a_choice(hooks: WebhookBuilder) -> None:
    body = hooks.text(BOTH, "x")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message["type"] = "button"
    message["button"] = {"payload": "followup.continue", "text": "Lanjutkan"}
    [msg] = translate(one(body))
    assert (msg.kind, msg.choice, msg.text) == ("choice", "followup.continue", "Lanjutkan")


@pytest.mark.parametrize("user", [PHONE_ONLY, BSUID_ONLY, BOTH])
@pytest.mark.parametrize("state", ["sent", "delivered", "read"])
def test_statuses_give_no_message_but_a_delivery_status(
    hooks: WebhookBuilder, user: WaUser, state: str
) -> None:
    update = one(hooks.status(user, "wamid.OUT3", state))
    assert translate(update) == []
    status = delivery_status(update)
    assert status is not None
    assert (status.message_id, status.state, status.at) == ("wamid.OUT3", state, RECEIVED)
    assert status.recipient == (user.user_id or user.wa_id)
    assert status.error_code is None


def test_a_failed_status_carries_its_error(hooks: WebhookBuilder) -> None:
    update = one(
        hooks.status(
            BOTH,
            "wamid.OUT4",
            "failed",
            error_code=131047,
            error_title="Re-engagement message",
            error_details="Message failed to send because more than 24 hours have passed",
        )
    )
    assert translate(update) == []
    status = delivery_status(update)
    assert status is not None
    assert (status.state, status.error_code) == ("failed", 131047)
    assert status.error_reason is not None
    assert status.error_reason.startswith("Re-engagement message: Message failed")


def test_delivery_status_of_a_message_is_none(hooks: WebhookBuilder) -> None:
    assert delivery_status(one(hooks.text(PHONE_ONLY, "halo"))) is None


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("sticker", {"id": "123", "mime_type": "image/webp", "animated": False}),
        ("audio", {"id": "124", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
        ("video", {"id": "125", "mime_type": "video/mp4"}),
        ("document", {"id": "126", "mime_type": "application/pdf", "filename": "ktp.pdf"}),
        ("contacts", [{"name": {"formatted_name": "Budi"}, "phones": [{"phone": "+62811"}]}]),
        ("unsupported", None),
    ],
)
@pytest.mark.parametrize("user", [PHONE_ONLY, BSUID_ONLY])
def test_unreadable_content_is_unsupported(
    hooks: WebhookBuilder, user: WaUser, kind: str, content: object
) -> None:
    body = hooks.text(user, "x")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message["type"] = kind
    if content is not None:
        message[kind] = content
    else:
        message["errors"] = [{"code": 131051, "title": "Message type unknown"}]
    [inbound] = translate(one(body))
    assert (inbound.kind, inbound.content, inbound.text) == ("unsupported", kind, None)
    assert inbound.chat_id == (user.wa_id or user.user_id)


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("reaction", {"message_id": "wamid.OUT1", "emoji": "\U0001f44d"}),
        ("system", {"body": "Nomor telepon berubah", "type": "user_changed_number"}),
    ],
)
def test_reactions_and_system_notices_translate_to_nothing(
    hooks: WebhookBuilder, kind: str, content: dict[str, str]
) -> None:
    body = hooks.text(PHONE_ONLY, "x")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message["type"] = kind
    message[kind] = content
    assert translate(one(body)) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("text",), {"no_body": 1}),
        (("timestamp",), "yesterday"),
        (("interactive",), {"type": "button_reply", "button_reply": {"title": "no id"}}),
    ],
)
def test_malformed_messages_are_bad_requests(
    hooks: WebhookBuilder, path: tuple[str, ...], value: object
) -> None:
    body = hooks.text(PHONE_ONLY, "x")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message[path[0]] = value
    if path[0] == "interactive":
        message["type"] = "interactive"
    with pytest.raises(BadRequest):
        translate(one(body))


def test_a_message_without_any_user_id_is_a_bad_request(hooks: WebhookBuilder) -> None:
    body = hooks.text(WaUser("Nobody"), "x")
    with pytest.raises(BadRequest):
        translate(one(body))


def test_a_location_with_bad_coordinates_is_a_bad_request(hooks: WebhookBuilder) -> None:
    body = hooks.location(PHONE_ONLY, 1.0, 2.0)
    body["entry"][0]["changes"][0]["value"]["messages"][0]["location"]["latitude"] = "north"
    with pytest.raises(BadRequest):
        translate(one(body))


def test_translate_refuses_another_channel(hooks: WebhookBuilder) -> None:
    update = one(hooks.text(PHONE_ONLY, "x"))
    with pytest.raises(BadRequest):
        translate(RawUpdate("telegram", update.platform_id, update.payload))
