"""WhatsApp outbound through the real adapter (httpx) against the loopback Graph API fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from laporbot.channels.base import PermanentSendError, RetryAfter, TransientSendError
from laporbot.channels.whatsapp import (
    OutsideWindow,
    WhatsAppAdapter,
    make_whatsapp_adapter,
    recipient_field,
)
from laporbot.channels.whatsapp.outbound import (
    BUTTON_TITLE_LIMIT,
    LIST_ROW_DESCRIPTION_LIMIT,
    LIST_ROW_TITLE_LIMIT,
)
from laporbot.errors import ConfigError
from laporbot.messages import Button, OutboundMessage
from laporbot.settings import Settings
from tests.support.graphapi import FakeClock, GraphApiFake

PHONE = "6281234567890"
BSUID = "ID.1410018717833190"


@pytest.fixture
async def graph() -> AsyncIterator[GraphApiFake]:
    async with GraphApiFake(clock=FakeClock()) as fake:
        yield fake


@pytest.fixture
async def adapter(graph: GraphApiFake) -> AsyncIterator[WhatsAppAdapter]:
    async with WhatsAppAdapter(
        access_token=graph.token,
        phone_number_id=graph.phone_number_id,
        api_url=graph.url,
        api_version=graph.version,
        template_language="id",
        list_button_label="Lihat pilihan",
    ) as made:
        yield made


def options(count: int, label: str = "Pilihan") -> tuple[Button, ...]:
    return tuple(Button(f"opt.{i}", f"{label} {i}") for i in range(1, count + 1))


def msg(text: str = "Halo", **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(
        channel="whatsapp", chat_id=kwargs.pop("chat_id", PHONE), text=text, **kwargs
    )


async def test_text_goes_to_the_phone_number(adapter: WhatsAppAdapter, graph: GraphApiFake) -> None:
    result = await adapter.send(msg("Laporan Anda kami terima."))
    [sent] = graph.sent
    assert result.platform_message_ids == (sent.wamid,)
    assert sent.wamid.startswith("wamid.")
    assert sent.payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PHONE,
        "type": "text",
        "text": {"body": "Laporan Anda kami terima."},
    }


async def test_a_user_without_phone_number_is_addressed_by_recipient(
    adapter: WhatsAppAdapter, graph: GraphApiFake
) -> None:
    await adapter.send(msg("Halo", chat_id=BSUID))
    [sent] = graph.sent
    assert sent.payload["recipient"] == BSUID
    assert "to" not in sent.payload
    assert sent.recipient == BSUID


async def test_long_text_is_split_within_4096(
    adapter: WhatsAppAdapter, graph: GraphApiFake
) -> None:
    paragraph = "Kalimat yang cukup panjang untuk mengisi pesan. " * 20
    text = "\n\n".join([paragraph.strip()] * 10)  # about 9,600 characters
    result = await adapter.send(msg(text))
    bodies = [s.payload["text"]["body"] for s in graph.sent]
    assert len(bodies) == 3
    assert all(len(b) <= 4096 for b in bodies)
    assert len(result.platform_message_ids) == 3
    assert " ".join(" ".join(bodies).split()) == " ".join(text.split())


async def test_two_options_become_reply_buttons(
    adapter: WhatsAppAdapter, graph: GraphApiFake
) -> None:
    await adapter.send(msg("Lanjutkan?", buttons=(Button("yes", "Ya"), Button("no", "Tidak"))))
    [sent] = graph.sent
    interactive = sent.payload["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"] == {"text": "Lanjutkan?"}
    assert interactive["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "yes", "title": "Ya"}},
        {"type": "reply", "reply": {"id": "no", "title": "Tidak"}},
    ]


async def test_seven_options_become_a_list(adapter: WhatsAppAdapter, graph: GraphApiFake) -> None:
    await adapter.send(msg("Pilih kategori", buttons=options(7)))
    [sent] = graph.sent
    interactive = sent.payload["interactive"]
    assert interactive["type"] == "list"
    assert interactive["action"]["button"] == "Lihat pilihan"
    [section] = interactive["action"]["sections"]
    assert [r["id"] for r in section["rows"]] == [f"opt.{i}" for i in range(1, 8)]
    assert all("description" not in r for r in section["rows"])


async def test_fifteen_options_become_two_lists(
    adapter: WhatsAppAdapter, graph: GraphApiFake
) -> None:
    result = await adapter.send(msg("Pilih kecamatan", buttons=options(15)))
    assert len(graph.sent) == 2 == len(result.platform_message_ids)
    rows = [
        [r["id"] for r in s.payload["interactive"]["action"]["sections"][0]["rows"]]
        for s in graph.sent
    ]
    # Balanced (8 + 7), so no list is left with so few options that it would plan differently.
    assert rows == [[f"opt.{i}" for i in range(1, 9)], [f"opt.{i}" for i in range(9, 16)]]
    bodies = [s.payload["interactive"]["body"]["text"] for s in graph.sent]
    assert bodies == ["Pilih kecamatan (1/2)", "Pilih kecamatan (2/2)"]


async def test_long_labels_are_shortened_within_limits(
    adapter: WhatsAppAdapter, graph: GraphApiFake
) -> None:
    long_labels = (
        Button("a", "Anak terlantar di jalan atau tempat umum lainnya"),
        Button("b", "Lanjut usia terlantar"),
        Button("c", "Pengaduan"),
    )
    # A label over 20 characters would be cut on a button: a list keeps it whole.
    await adapter.send(msg("Apa yang ingin Anda laporkan?", buttons=long_labels))
    [sent] = graph.sent
    interactive = sent.payload["interactive"]
    assert interactive["type"] == "list"
    rows = interactive["action"]["sections"][0]["rows"]
    assert all(len(r["title"]) <= LIST_ROW_TITLE_LIMIT for r in rows)
    assert rows[0]["title"] == "Anak terlantar di jalan…"
    assert rows[0]["description"] == "Anak terlantar di jalan atau tempat umum lainnya"
    assert rows[1] == {"id": "b", "title": "Lanjut usia terlantar"}
    very_long = Button("d", "Sangat panjang " * 10)
    await adapter.send(msg("Pilih", buttons=(*options(4), very_long)))
    row = graph.sent[-1].payload["interactive"]["action"]["sections"][0]["rows"][-1]
    assert len(row["title"]) <= LIST_ROW_TITLE_LIMIT
    assert len(row["description"]) <= LIST_ROW_DESCRIPTION_LIMIT
    assert row["description"].endswith("…")


async def test_button_titles_fit_20(adapter: WhatsAppAdapter, graph: GraphApiFake) -> None:
    exact = (Button("x", "Dua puluh huruf pas!"), Button("y", "OK"))
    assert len(exact[0].label) == BUTTON_TITLE_LIMIT
    await adapter.send(msg("Pilih", buttons=exact))
    assert graph.sent[0].payload["interactive"]["type"] == "button"


async def test_long_body_goes_first_as_text(adapter: WhatsAppAdapter, graph: GraphApiFake) -> None:
    text = ("Ringkasan laporan. " * 80).strip() + "\n\nApakah data ini sudah benar?"
    await adapter.send(msg(text, buttons=(Button("yes", "Ya"), Button("no", "Tidak"))))
    first, second = graph.sent
    assert first.payload["type"] == "text"
    assert first.payload["text"]["body"].startswith("Ringkasan laporan.")
    assert second.payload["interactive"]["body"]["text"] == "Apakah data ini sudah benar?"


async def test_location_request(adapter: WhatsAppAdapter, graph: GraphApiFake) -> None:
    await adapter.send(msg("Kirim lokasi kejadian", request_location=True))
    [sent] = graph.sent
    assert sent.payload["interactive"] == {
        "type": "location_request_message",
        "body": {"text": "Kirim lokasi kejadian"},
        "action": {"name": "send_location"},
    }


async def test_image_by_media_id(adapter: WhatsAppAdapter, graph: GraphApiFake) -> None:
    await adapter.send(msg("Foto laporan", photo="1479537139650973"))
    [sent] = graph.sent
    assert sent.payload["type"] == "image"
    assert sent.payload["image"] == {"id": "1479537139650973", "caption": "Foto laporan"}


async def test_template_with_parameters(adapter: WhatsAppAdapter, graph: GraphApiFake) -> None:
    await adapter.send(
        msg(
            "ignored text",
            buttons=options(2),
            template="laporbot_followup",
            template_params=("LMJ-2026-0042", "Petugas sudah\nmenuju lokasi."),
        )
    )
    [sent] = graph.sent
    assert sent.payload["type"] == "template"
    assert sent.payload["template"] == {
        "name": "laporbot_followup",
        "language": {"code": "id"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "LMJ-2026-0042"},
                    {"type": "text", "text": "Petugas sudah menuju lokasi."},
                ],
            }
        ],
    }


# --- error mapping --------------------------------------------------------------------------


async def test_throughput_limit_is_retry_after(
    graph: GraphApiFake, adapter: WhatsAppAdapter
) -> None:
    graph.messages_per_second = 3
    for _ in range(3):
        await adapter.send(msg("x"))
    with pytest.raises(RetryAfter) as caught:
        await adapter.send(msg("x"))
    assert "130429" in caught.value.reason
    assert caught.value.seconds > 0
    assert isinstance(graph.clock, FakeClock)
    graph.clock.advance(1.0)
    await adapter.send(msg("x"))  # the window moved on
    assert len(graph.sent) == 4


async def test_pair_rate_limit_is_retry_after(
    graph: GraphApiFake, adapter: WhatsAppAdapter
) -> None:
    graph.pair_limit = (2, 6.0)
    await adapter.send(msg("1"))
    await adapter.send(msg("2"))
    await adapter.send(msg("to someone else", chat_id=BSUID))  # another pair is not held
    with pytest.raises(RetryAfter) as caught:
        await adapter.send(msg("3"))
    assert caught.value.seconds == 6.0
    assert isinstance(graph.clock, FakeClock)
    graph.clock.advance(6.0)
    await adapter.send(msg("3"))
    assert [s.payload["text"]["body"] for s in graph.sent_to(PHONE)] == ["1", "2", "3"]


async def test_http_429_with_retry_after_header(
    graph: GraphApiFake, adapter: WhatsAppAdapter
) -> None:
    graph.fail_next(status=429, code=130429, message="(#130429) Rate limit hit", retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await adapter.send(msg("x"))
    assert caught.value.seconds == 3.0  # the header wins over the code's default
    graph.fail_next(status=429, code=80007, message="(#80007) Rate limit issues")
    with pytest.raises(RetryAfter) as caught:
        await adapter.send(msg("x"))
    assert caught.value.seconds == 60.0
    await adapter.send(msg("x"))
    assert len(graph.sent) == 1


@pytest.mark.parametrize(("code", "seconds"), [(131056, 6.0), (130429, 1.0)])
async def test_pair_and_number_limits(
    graph: GraphApiFake, adapter: WhatsAppAdapter, code: int, seconds: float
) -> None:
    graph.fail_next(status=400, code=code, message="rate limit")
    with pytest.raises(RetryAfter) as caught:
        await adapter.send(msg("x"))
    assert caught.value.seconds == seconds


async def test_500_is_transient(graph: GraphApiFake, adapter: WhatsAppAdapter) -> None:
    graph.fail_next(status=500, code=1, message="An unknown error occurred")
    with pytest.raises(TransientSendError):
        await adapter.send(msg("x"))
    await adapter.send(msg("x"))
    assert len(graph.sent) == 1


async def test_network_failure_is_transient(graph: GraphApiFake) -> None:
    url = graph.url
    await graph.close()  # nothing listens there any more
    async with WhatsAppAdapter(
        access_token="t",
        phone_number_id="1",
        api_url=url,
        api_version="v23.0",
        template_language="id",
        list_button_label="Pilih",
    ) as dead:
        with pytest.raises(TransientSendError):
            await dead.send(msg("x"))


async def test_undeliverable_is_permanent(graph: GraphApiFake, adapter: WhatsAppAdapter) -> None:
    graph.undeliverable.add(PHONE)
    with pytest.raises(PermanentSendError) as caught:
        await adapter.send(msg("x"))
    assert not isinstance(caught.value, OutsideWindow)
    assert "131026" in caught.value.reason


async def test_closed_window_is_outside_window(
    graph: GraphApiFake, adapter: WhatsAppAdapter
) -> None:
    graph.window_closed.add(BSUID)
    with pytest.raises(OutsideWindow) as caught:
        await adapter.send(msg("x", chat_id=BSUID))
    assert "131047" in caught.value.reason
    # The template is what gets through.
    await adapter.send(
        msg("x", chat_id=BSUID, template="laporbot_followup", template_params=("-", "x"))
    )
    assert graph.sent[0].payload["type"] == "template"


async def test_invalid_parameter_and_bad_token_are_permanent(graph: GraphApiFake) -> None:
    async with WhatsAppAdapter(
        access_token="expired",
        phone_number_id=graph.phone_number_id,
        api_url=graph.url,
        api_version=graph.version,
        template_language="id",
        list_button_label="Pilih",
    ) as wrong_token:
        with pytest.raises(PermanentSendError) as caught:
            await wrong_token.send(msg("x"))
    assert "190" in caught.value.reason
    graph.fail_next(status=400, code=100, message="(#100) Invalid parameter")
    async with WhatsAppAdapter(
        access_token=graph.token,
        phone_number_id=graph.phone_number_id,
        api_url=graph.url,
        api_version=graph.version,
        template_language="id",
        list_button_label="Pilih",
    ) as right_token:
        with pytest.raises(PermanentSendError) as invalid:
            await right_token.send(msg("x"))
    assert "100" in invalid.value.reason


async def test_an_option_id_too_long_is_permanent(
    adapter: WhatsAppAdapter, graph: GraphApiFake
) -> None:
    with pytest.raises(PermanentSendError):
        await adapter.send(msg("x", buttons=(Button("i" * 300, "Ya"),)))
    assert graph.requests == []


# --- media ----------------------------------------------------------------------------------


async def test_fetch_media_through_the_media_endpoint(
    adapter: WhatsAppAdapter, graph: GraphApiFake
) -> None:
    data = b"\xff\xd8\xff\xe0 fake jpeg bytes"
    media_id = graph.add_media(data)
    assert await adapter.fetch_media(media_id) == data


async def test_fetch_of_an_unknown_media_is_permanent(adapter: WhatsAppAdapter) -> None:
    with pytest.raises(PermanentSendError):
        await adapter.fetch_media("123456")


# --- construction from settings -------------------------------------------------------------


async def test_adapter_from_settings(graph: GraphApiFake, tmp_path: Any) -> None:
    settings = Settings(
        whatsapp_access_token=graph.token,
        whatsapp_phone_number_id=graph.phone_number_id,
        whatsapp_graph_api_url=graph.url + "/",
        whatsapp_graph_api_version=graph.version,
    )
    async with make_whatsapp_adapter(settings) as made:
        assert made.list_button_label == "Lihat pilihan"  # from locales/id/whatsapp.po
        await made.send(msg("Pilih", buttons=options(5)))
    assert graph.sent[0].payload["interactive"]["action"]["button"] == "Lihat pilihan"
    with pytest.raises(ConfigError):
        make_whatsapp_adapter(Settings())


def test_recipient_field_tells_phone_numbers_from_user_ids() -> None:
    assert recipient_field("6281234567890") == {"to": "6281234567890"}
    assert recipient_field("+6281234567890") == {"to": "6281234567890"}
    assert recipient_field("ID.1410018717833190") == {"recipient": "ID.1410018717833190"}


@pytest.mark.parametrize(
    "message",
    [
        msg("kata " * 2000),
        msg("Paragraf panjang. " * 80 + "\n\nPilih satu:", buttons=options(3)),
        msg("Pilih kecamatan", buttons=options(11)),
        msg("Pilih " * 300, buttons=options(25, "Kecamatan dengan nama yang panjang")),
        msg("Kirim lokasi " * 200, request_location=True),
        msg("Foto " * 400, photo="1234"),
        msg("Di luar jendela", template="laporbot_followup", template_params=("-", "x")),
    ],
)
def test_split_outbound_parts_each_take_one_post(
    adapter: WhatsAppAdapter, message: OutboundMessage
) -> None:
    pieces = adapter.split_outbound(message)
    assert [adapter.plan(piece) for piece in pieces] == [[body] for body in adapter.plan(message)]
