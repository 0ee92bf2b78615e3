"""The outbox dispatcher with real adapters against the platform emulators: messages of several
platform calls are sent part by part (a retry never repeats a delivered part), and WhatsApp's
131047 (outside the 24-hour window) is answered once with the follow-up template."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import ChannelAdapter, RawUpdate, SendResult
from laporbot.channels.telegram import TelegramAdapter, make_telegram_adapter
from laporbot.channels.whatsapp import WhatsAppAdapter, make_window_fallback
from laporbot.clock import FixedClock
from laporbot.db import outbox as outbox_repo
from laporbot.db.models import OutboxMessage
from laporbot.messages import Button, Channel, InboundMessage, OutboundMessage
from laporbot.outbox import ChannelSender, Dispatcher
from laporbot.ratelimit import unlimited_pacer
from laporbot.settings import Settings
from tests.support.botapi import BotApiEmulator
from tests.support.botapi import FakeClock as BotClock
from tests.support.graphapi import FakeClock as GraphClock
from tests.support.graphapi import GraphApiFake

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PHONE = "6281234567890"
Sessions = async_sessionmaker[AsyncSession]


class FailSecondCall:
    """Wraps a real adapter: right after its first successful call, arms the emulator to fail
    the next one (failure injection on the second part of a message)."""

    def __init__(self, adapter: ChannelAdapter, arm: Callable[[], None]) -> None:
        self.inner = adapter
        self.channel: Channel = adapter.channel
        self._arm: Callable[[], None] | None = arm
        self.split_outbound = getattr(adapter, "split_outbound")  # noqa: B009

    def split(self, body: dict[str, object]) -> list[RawUpdate]:
        raise NotImplementedError

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        raise NotImplementedError

    async def send(self, message: OutboundMessage) -> SendResult:
        result = await self.inner.send(message)
        if self._arm is not None:
            self._arm()
            self._arm = None
        return result


async def queue(sessions: Sessions, message: OutboundMessage) -> None:
    async with sessions() as session, session.begin():
        await outbox_repo.enqueue(session, message, T0)


async def the_row(sessions: Sessions) -> OutboxMessage:
    async with sessions() as session:
        return (await session.scalars(select(OutboxMessage))).one()


async def dispatch_until_idle(sessions: Sessions, clock: FixedClock, sender: ChannelSender) -> int:
    """Tick and drain, moving the clock past each backoff; returns the number of claims."""
    dispatcher = Dispatcher(
        sessions,
        clock,
        {sender.adapter.channel: sender},
        max_attempts=5,
        rand=lambda: 0.0,
        worker="test",
    )
    claims = 0
    for _ in range(20):
        claims += await dispatcher.tick()
        await dispatcher.drain()
        if (await the_row(sessions)).status not in ("pending", "sending"):
            return claims
        clock.advance(timedelta(minutes=1))
    raise AssertionError("the outbox never went idle")


@pytest.fixture
async def graph() -> AsyncIterator[GraphApiFake]:
    async with GraphApiFake(clock=GraphClock()) as fake:
        yield fake


@pytest.fixture
async def whatsapp(graph: GraphApiFake) -> AsyncIterator[WhatsAppAdapter]:
    async with WhatsAppAdapter(
        access_token=graph.token,
        phone_number_id=graph.phone_number_id,
        api_url=graph.url,
        api_version=graph.version,
        template_language="id",
        list_button_label="Lihat pilihan",
    ) as made:
        yield made


@pytest.fixture
async def botapi() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(clock=BotClock(T0.timestamp())) as emulator:
        yield emulator


@pytest.fixture(params=["aiogram", "ptb"])
async def telegram(
    request: pytest.FixtureRequest, botapi: BotApiEmulator
) -> AsyncIterator[TelegramAdapter]:
    settings = Settings(
        telegram_token=botapi.token, telegram_backend=request.param, telegram_api_url=botapi.url
    )
    async with make_telegram_adapter(settings, clock=FixedClock(T0)) as started:
        yield started


def paragraphs(count: int) -> str:
    return "\n\n".join(f"Paragraf {i}: " + "kata " * 400 for i in range(count))


async def test_telegram_retry_after_a_failed_second_part_does_not_repeat_the_first(
    db_sessionmaker: Sessions, botapi: BotApiEmulator, telegram: TelegramAdapter
) -> None:
    chat = botapi.add_user(first_name="Sari")
    text = paragraphs(6)  # about 12 000 characters: three messages of at most 4096
    await queue(db_sessionmaker, OutboundMessage("telegram", str(chat), text))
    adapter = FailSecondCall(telegram, lambda: botapi.fail("sendMessage"))
    clock = FixedClock(T0)

    claims = await dispatch_until_idle(
        db_sessionmaker, clock, ChannelSender(adapter, unlimited_pacer(clock))
    )

    delivered = [m["text"] for m in botapi.sent(chat)]
    assert claims == 2  # the injected 500 was retried
    assert len(delivered) == len(telegram.split_outbound(OutboundMessage("telegram", "1", text)))
    assert len(delivered) == 3
    assert len(set(delivered)) == 3
    assert " ".join(" ".join(delivered).split()) == " ".join(text.split())
    row = await the_row(db_sessionmaker)
    assert row.status == "sent"
    assert row.platform_message_ids is not None
    assert len(row.platform_message_ids) == 3


async def test_whatsapp_retry_after_a_failed_second_list_does_not_repeat_the_first(
    db_sessionmaker: Sessions, graph: GraphApiFake, whatsapp: WhatsAppAdapter
) -> None:
    options = tuple(Button(f"kec.{i}", f"Kecamatan {i}") for i in range(1, 16))
    await queue(
        db_sessionmaker, OutboundMessage("whatsapp", PHONE, "Pilih kecamatan", buttons=options)
    )
    adapter = FailSecondCall(whatsapp, lambda: graph.fail_next(1))
    clock = FixedClock(T0)

    claims = await dispatch_until_idle(
        db_sessionmaker, clock, ChannelSender(adapter, unlimited_pacer(clock))
    )

    assert claims == 2
    bodies = [s.payload["interactive"]["body"]["text"] for s in graph.sent_to(PHONE)]
    assert bodies == ["Pilih kecamatan (1/2)", "Pilih kecamatan (2/2)"]
    rows = [
        r["id"]
        for s in graph.sent_to(PHONE)
        for r in s.payload["interactive"]["action"]["sections"][0]["rows"]
    ]
    assert rows == [b.id for b in options]  # every option offered exactly once
    row = await the_row(db_sessionmaker)
    assert row.status == "sent"
    assert row.platform_message_ids == [s.wamid for s in graph.sent_to(PHONE)]


async def test_whatsapp_long_text_resumes_at_the_failed_part(
    db_sessionmaker: Sessions, graph: GraphApiFake, whatsapp: WhatsAppAdapter
) -> None:
    text = paragraphs(6)
    await queue(db_sessionmaker, OutboundMessage("whatsapp", PHONE, text))
    adapter = FailSecondCall(whatsapp, lambda: graph.fail_next(1))
    clock = FixedClock(T0)

    await dispatch_until_idle(
        db_sessionmaker, clock, ChannelSender(adapter, unlimited_pacer(clock))
    )

    delivered = [s.payload["text"]["body"] for s in graph.sent_to(PHONE)]
    assert len(delivered) == 3
    assert len(set(delivered)) == 3
    assert " ".join(" ".join(delivered).split()) == " ".join(text.split())


async def test_whatsapp_outside_the_window_goes_once_as_the_followup_template(
    db_sessionmaker: Sessions, graph: GraphApiFake, whatsapp: WhatsAppAdapter
) -> None:
    graph.window_closed.add(PHONE)
    settings = Settings()
    text = "Laporan Anda\nsedang kami periksa."
    await queue(
        db_sessionmaker, OutboundMessage("whatsapp", PHONE, text, buttons=(Button("a", "Ya"),))
    )
    clock = FixedClock(T0)
    sender = ChannelSender(
        whatsapp, unlimited_pacer(clock), fallback=make_window_fallback(settings)
    )

    claims = await dispatch_until_idle(db_sessionmaker, clock, sender)

    assert claims == 1
    [sent] = graph.sent_to(PHONE)
    template = sent.payload["template"]
    assert template["name"] == settings.whatsapp_followup_template
    params = [p["text"] for p in template["components"][0]["parameters"]]
    assert params == ["-", "Laporan Anda sedang kami periksa."]
    assert [r["type"] for r in graph.requests] == ["interactive", "template"]  # re-sent once
    row = await the_row(db_sessionmaker)
    assert row.status == "sent"
    assert row.platform_message_ids == [sent.wamid]
    assert row.error is not None
    assert "sent as laporbot_followup" in row.error
    assert "131047" in row.error


async def test_whatsapp_a_refused_template_is_not_retried_as_a_template_again(
    db_sessionmaker: Sessions, graph: GraphApiFake, whatsapp: WhatsAppAdapter
) -> None:
    graph.undeliverable.add(PHONE)  # 131026: no fallback for that
    await queue(db_sessionmaker, OutboundMessage("whatsapp", PHONE, "Halo"))
    clock = FixedClock(T0)
    sender = ChannelSender(
        whatsapp, unlimited_pacer(clock), fallback=make_window_fallback(Settings())
    )

    await dispatch_until_idle(db_sessionmaker, clock, sender)

    assert [r["type"] for r in graph.requests] == ["text"]
    row = await the_row(db_sessionmaker)
    assert row.status == "failed"
    assert row.error is not None
    assert "131026" in row.error
