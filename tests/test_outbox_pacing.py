"""The dispatcher counts a send against the limits from the platform's answer, not its start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import RawUpdate, SendResult
from laporbot.clock import FixedClock
from laporbot.db import outbox as outbox_repo
from laporbot.messages import Channel, InboundMessage, OutboundMessage
from laporbot.outbox import ChannelSender, Dispatcher
from laporbot.ratelimit import telegram_pacer

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATENCY = 0.4


class SlowAdapter:
    """Answers every send LATENCY seconds (of the fixed clock) after it started."""

    channel: Channel = "telegram"

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.started: list[float] = []

    def split(self, body: dict[str, Any]) -> list[RawUpdate]:
        raise NotImplementedError

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        raise NotImplementedError

    async def send(self, message: OutboundMessage) -> SendResult:
        self.started.append((self.clock.now() - T0).total_seconds())
        self.clock.advance(timedelta(seconds=LATENCY))
        return SendResult(platform_message_ids=(str(len(self.started)),))


async def test_next_send_to_a_chat_waits_a_second_from_the_answer(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(T0)
    async with db_sessionmaker() as session, session.begin():
        for text in ("m1", "m2", "m3"):
            message = OutboundMessage(channel="telegram", chat_id="7", text=text)
            await outbox_repo.enqueue(session, message, clock.now())
    adapter = SlowAdapter(clock)

    async def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    dispatcher = Dispatcher(
        db_sessionmaker,
        clock,
        {"telegram": ChannelSender(adapter=adapter, pacer=telegram_pacer(clock))},
        max_attempts=3,
        sleep=sleep,
        worker="test",
    )
    for _ in range(3):
        await dispatcher.tick()
        await dispatcher.drain()

    # Counted from the start, the second send would leave at 1.0: 0.6 s after the platform
    # counted the first (its answer at 0.4), one too many for a strict 1-per-second chat.
    assert adapter.started == [0.0, 1.4, 2.8]
