"""Terminal chat replies do not linger in the outbox, and a dispatcher never claims rows of a
channel it has no adapter for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.cli import main
from laporbot.clock import FixedClock
from laporbot.db import outbox as outbox_repo
from laporbot.db.engine import create_engine, make_sessionmaker
from laporbot.db.models import OutboxMessage
from laporbot.messages import OutboundMessage
from laporbot.outbox import ChannelSender, Dispatcher
from laporbot.ratelimit import unlimited_pacer
from laporbot.settings import Settings
from tests.test_outbox import FakeAdapter

NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)


async def _outbox(settings: Settings) -> list[OutboxMessage]:
    engine = create_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            return list((await session.scalars(select(OutboxMessage))).all())
    finally:
        await engine.dispose()


def test_terminal_chat_marks_the_replies_it_printed_sent(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    result = CliRunner().invoke(
        main,
        ["chat", "--user", "t1"],
        input="halo\n1\n",
        obj={"settings": settings, "clock": FixedClock(NOW)},
    )
    assert result.exit_code == 0, result.output
    rows = asyncio.run(_outbox(settings))
    assert rows  # the replies were queued as in every channel
    assert {(r.channel, r.chat_id, r.status) for r in rows} == {("terminal", "t1", "sent")}
    assert all(r.sent_at == NOW for r in rows)
    assert result.output.count("bot: ") >= len(rows)


async def test_dispatcher_leaves_rows_of_channels_it_cannot_send_untouched(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(NOW)
    async with db_sessionmaker() as session, session.begin():
        for channel in ("terminal", "telegram", "whatsapp"):
            await outbox_repo.enqueue(session, OutboundMessage(channel, "c1", "Halo"), NOW)  # type: ignore[arg-type]
    adapter = FakeAdapter(clock)
    dispatcher = Dispatcher(
        db_sessionmaker,
        clock,
        {"telegram": ChannelSender(adapter, unlimited_pacer(clock))},
        max_attempts=3,
        worker="test",
    )

    for _ in range(3):
        await dispatcher.tick()
        await dispatcher.drain()

    async with db_sessionmaker() as session:
        rows = {r.channel: r for r in (await session.scalars(select(OutboxMessage))).all()}
    assert rows["telegram"].status == "sent"
    for channel in ("terminal", "whatsapp"):
        assert rows[channel].status == "pending"
        assert rows[channel].attempts == 0
        assert rows[channel].error is None
        assert rows[channel].next_attempt_at == NOW  # due at once for a worker that can send
